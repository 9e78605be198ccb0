"""The tamper matrix: every edit, deletion, swap, insertion, truncation and forged chain is found,
and the first integrity finding points at the seq that was tampered with."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from console.journal.chain import canonical_json, event_hash
from console.journal.events import (
    ActionConfirmed,
    AlertFiring,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    MetricSnapshot,
    NodeResult,
    Note,
    PanelValue,
    Payload,
)
from console.journal.verify import VerifyReport, verify_path
from tests.journal.conftest import new_log, run, write_events

KEY = b"incident-channel-secret"


def payloads() -> list[Payload]:
    """About 160 events of a plausible incident."""
    out: list[Payload] = [
        AlertFiring(fingerprint="f1", alertname="EtcdMemberDown", labels={"instance": "m2"})
    ]
    for i in range(13):
        kind = "action" if i % 3 == 2 else "check"
        run_id = f"r{i}"
        if kind == "action":
            out.append(ActionConfirmed(run=run_id, block=f"b{i}", nodes=["m1", "m2"], how="typed"))
        out.append(
            BlockStarted(
                run=run_id,
                block=f"b{i}",
                kind=kind,
                lang="sh",
                command=f"echo {i} 'ünïcode' \"q\"",
                nodes=["m1", "m2"],
            )
        )
        for node in ("m1", "m2"):
            for j in range(4):
                text = f"line {j} of {node}: value={i * 1.5}\n"
                out.append(
                    BlockOutput(run=run_id, block=f"b{i}", node=node, stream="stdout", text=text)
                )
            out.append(
                NodeResult(
                    run=run_id, block=f"b{i}", node=node, verdict="pass", exit=0, duration_s=0.25
                )
            )
        out.append(BlockFinished(run=run_id, block=f"b{i}", verdict="pass", counts={"pass": 2}))
        if i % 4 == 0:
            out.append(
                MetricSnapshot(
                    panels=[PanelValue(title="q", kind="quorum", state="ok", value=3, history=[3])]
                )
            )
    out.append(Note(text="done"))
    return out


@pytest.fixture(scope="module")
def plain_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return run(write_events(new_log(tmp_path_factory.mktemp("plain")), payloads())).read_bytes()


@pytest.fixture(scope="module")
def keyed_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    log = new_log(tmp_path_factory.mktemp("keyed"), key=KEY)
    return run(write_events(log, payloads())).read_bytes()


def verify_bytes(
    tmp_path: Path, data: bytes, *, key: bytes | None = None, head: str | None = None
) -> VerifyReport:
    path = tmp_path / "log.jsonl"
    path.write_bytes(data)
    return verify_path(path, key=key, head=head)


def first_integrity_seq(report: VerifyReport) -> int | None:
    seqs = [f.seq for f in report.findings if f.category == "integrity" and f.seq is not None]
    return min(seqs) if seqs else None


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def test_untouched_logs_verify_clean(tmp_path: Path, plain_log: bytes, keyed_log: bytes) -> None:
    assert verify_bytes(tmp_path, plain_log).findings == []
    assert verify_bytes(tmp_path, keyed_log, key=KEY).findings == []


@pytest.mark.parametrize("seed", range(4))
def test_every_byte_flip_is_found_at_its_seq(tmp_path: Path, plain_log: bytes, seed: int) -> None:
    rng = random.Random(seed)
    starts = []
    offset = 0
    for line in lines_of(plain_log):
        starts.append(offset)
        offset += len(line)
    positions = rng.sample(range(len(plain_log)), 60)
    for position in positions:
        flipped = bytearray(plain_log)
        flipped[position] ^= rng.randrange(1, 256)
        report = verify_bytes(tmp_path, bytes(flipped))
        seq = max(i for i, start in enumerate(starts) if start <= position)
        assert report.failed, f"flip at byte {position} (seq {seq}) not found"
        assert first_integrity_seq(report) == seq, (position, report.findings[:3])


def test_every_newline_flip_is_found(tmp_path: Path, plain_log: bytes) -> None:
    newlines = [i for i, b in enumerate(plain_log) if b == 0x0A]
    for seq, position in enumerate(newlines[::7]):
        flipped = bytearray(plain_log)
        flipped[position] = ord("x")
        report = verify_bytes(tmp_path, bytes(flipped))
        assert first_integrity_seq(report) == newlines.index(position), seq


def test_a_deleted_line_is_found(tmp_path: Path, plain_log: bytes) -> None:
    lines = lines_of(plain_log)
    for seq in (0, 1, 17, 80, len(lines) - 2):
        report = verify_bytes(tmp_path, b"".join(lines[:seq] + lines[seq + 1 :]))
        assert first_integrity_seq(report) == seq, seq


def test_swapped_lines_are_found(tmp_path: Path, plain_log: bytes) -> None:
    lines = lines_of(plain_log)
    for seq in (0, 5, 60, len(lines) - 2):
        swapped = [*lines]
        swapped[seq], swapped[seq + 1] = swapped[seq + 1], swapped[seq]
        report = verify_bytes(tmp_path, b"".join(swapped))
        assert first_integrity_seq(report) == seq, seq


def test_an_inserted_line_is_found(tmp_path: Path, plain_log: bytes) -> None:
    lines = lines_of(plain_log)
    for seq in (3, 40, len(lines) - 2):
        # The strongest forger: a well-formed event that takes seq+1 and chains to seq.
        before = json.loads(lines[seq])
        forged = {**json.loads(lines[seq + 1]), "prev": before["hash"], "seq": seq + 1}
        forged["data"] = {"text": "nothing to see here", "at": None, "corrects": None}
        forged["type"] = "note"
        forged["hash"] = event_hash(forged)
        inserted = [*lines[: seq + 1], canonical_json(forged) + b"\n", *lines[seq + 1 :]]
        report = verify_bytes(tmp_path, b"".join(inserted))
        assert first_integrity_seq(report) == seq + 1, seq
        # A copy of an earlier line dropped in is found where it lands.
        copied = [*lines[: seq + 1], lines[1], *lines[seq + 1 :]]
        assert verify_bytes(tmp_path, b"".join(copied)).failed


def test_truncation_after_close_is_found_with_the_head(tmp_path: Path, plain_log: bytes) -> None:
    lines = lines_of(plain_log)
    head = json.loads(lines[-1])["hash"]
    assert json.loads(lines[-1])["type"] == "incident.closed"
    assert verify_bytes(tmp_path, plain_log, head=head[:12]).findings == []
    for keep in (len(lines) - 1, len(lines) - 5, 50):
        report = verify_bytes(tmp_path, b"".join(lines[:keep]), head=head[:12])
        codes = [f.code for f in report.findings if f.category == "integrity"]
        assert codes == ["head-not-reached"], keep
        assert first_integrity_seq(report) == keep
    # Cut and re-closed by a forger who recomputes the plain chain: only the head catches it.
    keep = next(k for k in range(60, len(lines)) if _ends_a_check(lines[k - 1]))
    closing = json.loads(lines[-1])
    prev = json.loads(lines[keep - 1])
    closing.update(seq=keep, prev=prev["hash"])
    closing["data"].update(final_seq=keep - 1, head_hash=prev["hash"])
    closing["hash"] = event_hash(closing)
    forged = b"".join(lines[:keep]) + canonical_json(closing) + b"\n"
    assert verify_bytes(tmp_path, forged).findings == []
    report = verify_bytes(tmp_path, forged, head=head[:12])
    assert [f.code for f in report.findings] == ["head-not-reached"]


def _ends_a_check(line: bytes) -> bool:
    record = json.loads(line)
    return record["type"] == "block.finished" and int(record["data"]["block"][1:]) % 3 != 2


def test_a_chain_recomputed_without_the_key_is_found(tmp_path: Path, keyed_log: bytes) -> None:
    lines = lines_of(keyed_log)
    for seq in (1, 30, len(lines) - 3):
        records = [json.loads(line) for line in lines]
        records[seq]["actor"] = "mallory@elsewhere"
        for i in range(seq, len(records)):  # the attacker recomputes plain SHA-256 from there
            if i > seq:
                records[i]["prev"] = records[i - 1]["hash"]
            records[i]["hash"] = event_hash(records[i])
        forged = b"".join(canonical_json(r) + b"\n" for r in records)
        report = verify_bytes(tmp_path, forged, key=KEY)
        integrity = [f for f in report.findings if f.category == "integrity"]
        assert (integrity[0].seq, integrity[0].code) == (seq, "hash-mismatch")


def test_a_downgraded_chain_is_found(tmp_path: Path, keyed_log: bytes) -> None:
    records = [json.loads(line) for line in lines_of(keyed_log)]
    records[0]["data"]["chain"] = "sha256"
    for i, record in enumerate(records):
        if i:
            record["prev"] = records[i - 1]["hash"]
        record["hash"] = event_hash(record)
    forged = b"".join(canonical_json(r) + b"\n" for r in records)
    report = verify_bytes(tmp_path, forged, key=KEY)
    assert (report.findings[0].code, report.findings[0].seq) == ("chain-downgrade", 0)


def test_a_keyed_log_without_its_key_says_it_was_not_checked(
    tmp_path: Path, keyed_log: bytes
) -> None:
    report = verify_bytes(tmp_path, keyed_log)
    assert [(f.code, f.seq) for f in report.findings] == [("key-missing", 0)]
