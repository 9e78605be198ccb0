"""The journal against hostile logs: lines no reader may crash on, impossible events in a valid
chain, drill and live results mixed in one log, exposed logs, silent journal faults.

Hostile logs are valid hash chains built with the chain's own helpers, so only the new checks
can catch them.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.config import load_config
from console.incident import Incident
from console.journal.chain import GENESIS, body_hash, canonical_json, join_line
from console.journal.events import MilestoneSet
from console.journal.log import JournalError, JournalLog, RetryPolicy
from console.journal.reader import read_log
from console.journal.verify import verify_path
from tests.journal.conftest import new_log, write_events

INCIDENT = "INC-20261122T101201Z-hostile"
OPENING_TS = "2026-11-22T10:12:01.000000Z"
MAX_LINE_BYTES = 16 << 20  # the reader's limit


def event(seq: int, type_: str, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    """A record as the writer makes it; ``envelope`` overrides ts, mono, mode, incident."""
    return {
        "v": 1,
        "seq": seq,
        "ts": f"2026-11-22T10:{12 + seq:02d}:01.000000Z",
        "mono": 1000.0 + 60 * seq,
        "type": type_,
        "incident": INCIDENT,
        "actor": "tester@host",
        "mode": "live",
        "data": data,
        **envelope,
    }


OPENED = {"title": "hostile", "fsync": "never"}
STARTED = {
    "run": "r1",
    "block": "quorum",
    "kind": "check",
    "lang": "sh",
    "command": "true",
    "nodes": ["m1"],
}


def chained(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write ``records`` (seq 0 first) as a valid hash chain, as canonical lines."""
    prev, lines = GENESIS, []
    for record in records:
        body = canonical_json({**record, "prev": prev})
        prev = body_hash(body)
        lines.append(join_line(body, prev) + b"\n")
    path.write_bytes(b"".join(lines))
    return path


def hostile_log(tmp_path: Path, *records: dict[str, Any], name: str = "") -> Path:
    """An opened incident followed by ``records`` (their seqs from 1)."""
    opening = event(0, "incident.opened", OPENED, ts=OPENING_TS)
    return chained(tmp_path / (name or f"{INCIDENT}.jsonl"), [opening, *records])


def codes(path: Path) -> list[tuple[str, int | None]]:
    return [(f.code, f.seq) for f in verify_path(path).findings]


def cli_run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def every_reader(log: Path) -> dict[str, tuple[int, str]]:
    """What verify, timeline and each export say about ``log``."""
    out = {name: cli_run(name, str(log)) for name in ("verify", "timeline")}
    for fmt in ("md", "html", "json"):
        out[fmt] = cli_run("export", str(log), "--format", fmt)
    return out


# -- item 9: every reader survives any line ---------------------------------------------------


def test_a_line_nested_thousands_deep_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    log = hostile_log(tmp_path)
    with log.open("ab") as f:
        f.write(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}\n")
    results = every_reader(log)
    assert results["verify"][0] == 1
    assert f"{log}:2:" in results["verify"][1] and "nested" in results["verify"][1]
    assert f"{log}:2" in results["timeline"][1]
    assert all(code in (0, 1) for code, _ in results.values())
    assert_resume_refuses(tmp_path, log, f"{log}:2:")


def assert_resume_refuses(tmp_path: Path, log: Path, where: str) -> None:
    cfg = tmp_path / "console.yaml"
    cfg.write_text(f"journal: {{dir: {tmp_path / 'inc'}}}\n")
    code, out = cli_run("resume", str(log), "--config", str(cfg))
    assert code == 2 and where in out


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("ts", "yesterday", "not a UTC time"),
        ("ts", "2026-13-45T99:00:00.000000Z", "not a UTC time"),
        ("mono", float("nan"), "finite"),
        ("mono", -5.0, "greater than or equal to 0"),
    ],
)
def test_impossible_clocks_in_a_valid_chain_are_refused(
    tmp_path: Path, field: str, value: Any, why: str
) -> None:
    log = hostile_log(tmp_path, event(1, "note", {"text": "x"}, **{field: value}))
    report = verify_path(log)
    assert [(f.code, f.line) for f in report.findings] == [("schema", 2)]
    assert why in report.findings[0].message
    assert read_log(log).problems[0].line == 2  # export, timeline, resume never see it
    for code, _ in every_reader(log).values():
        assert code in (0, 1)
    assert_resume_refuses(tmp_path, log, f"{log}:2:")


@pytest.mark.parametrize("duration", [float("inf"), float("nan"), -3.0])
def test_impossible_durations_are_refused(tmp_path: Path, duration: float) -> None:
    result = {"run": "r1", "block": "quorum", "node": "m1", "verdict": "pass", "exit": 0}
    log = hostile_log(
        tmp_path,
        event(1, "block.started", STARTED),
        event(2, "node.result", {**result, "duration_s": duration}),
        event(3, "block.finished", {"run": "r1", "block": "quorum", "verdict": "pass"}),
    )
    assert ("schema", 2) in codes(log)
    results = every_reader(log)
    assert results["verify"][0] == 1 and f"{log}:3:" in results["verify"][1]


@pytest.mark.parametrize(
    "records",
    [
        [event(1, "milestone", {"name": "detected", "at": "0001-01-01T00:00:00+14:00"})],
        [event(1, "milestone", {"name": "resolved"}, ts="9999-12-31T23:59:59.999999Z")],
    ],
    ids=["before-year-1-in-utc", "the-last-microsecond"],
)
def test_moments_at_the_edge_of_the_calendar_crash_no_reader(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    results = every_reader(hostile_log(tmp_path, *records))
    assert results["verify"][0] == 1
    assert all(code in (0, 1) for code, _ in results.values())


def test_an_integer_of_a_thousand_digits_is_refused(tmp_path: Path) -> None:
    log = hostile_log(tmp_path, event(1, "note", {"text": "x", "corrects": 10**1000}))
    report = verify_path(log)
    assert [(f.code, f.line) for f in report.findings] == [("unreadable-line", 2)]
    assert "digits" in report.findings[0].message
    assert cli_run("timeline", str(log))[0] == 0


def test_a_nul_in_a_logged_runbook_path_is_no_crash(tmp_path: Path) -> None:
    loaded = {"path": "runbooks/a\x00b.md", "sha256": "0" * 64, "id": "a", "title": "a"}
    log = hostile_log(tmp_path, event(1, "runbook.loaded", loaded))
    for code, _ in every_reader(log).values():
        assert code in (0, 1)


def test_a_line_over_the_limit_is_refused_and_offsets_stay_right(tmp_path: Path) -> None:
    output = {"run": "r1", "block": "quorum", "node": "m1", "stream": "stdout"}
    big = event(2, "block.output", {**output, "text": "x" * (MAX_LINE_BYTES + 10)})
    log = hostile_log(tmp_path, event(1, "block.started", STARTED), big)
    with log.open("ab") as f:
        f.write(b'{"torn')
    report = verify_path(log)
    assert ("unreadable-line", 3) in [(f.code, f.line) for f in report.findings]
    assert report.torn_tail is not None
    assert report.torn_tail.offset == log.stat().st_size - len(b'{"torn')


# -- item 10: impossible events in a valid chain ----------------------------------------------


def test_a_second_opening_is_found(tmp_path: Path) -> None:
    log = hostile_log(
        tmp_path, event(1, "note", {"text": "x"}), event(2, "incident.opened", OPENED)
    )
    assert codes(log) == [("reopened", 2)]


def test_a_result_from_a_node_never_started_is_found(tmp_path: Path) -> None:
    result = {"run": "r1", "block": "quorum", "verdict": "pass", "exit": 0}
    log = hostile_log(
        tmp_path,
        event(1, "block.started", STARTED),
        event(2, "node.result", {**result, "node": "m1"}),
        event(3, "node.result", {**result, "node": "m9"}),
        event(4, "block.finished", {"run": "r1", "block": "quorum", "verdict": "pass"}),
    )
    assert codes(log) == [("node-not-started", 3)]


@pytest.mark.parametrize(
    ("ts", "code"),
    [
        ("9999-12-31T23:59:59.000000Z", "time-future"),
        ("2020-01-01T00:00:00.000000Z", "time-before-opening"),
        ("2026-11-22T10:13:00.000000Z", "time-backwards"),  # 20 minutes back
    ],
)
@pytest.mark.parametrize("type_", ["note", "block.output"])  # block.output: the fast path
def test_timestamps_that_jump_are_found(tmp_path: Path, ts: str, code: str, type_: str) -> None:
    data = (
        {"text": "x"}
        if type_ == "note"
        else {"run": "r1", "block": "quorum", "node": "m1", "stream": "stdout", "text": "x"}
    )
    log = hostile_log(
        tmp_path,
        event(1, "block.started", STARTED),
        event(2, type_, data, ts="2026-11-22T10:33:00.000000Z"),
        event(3, type_, data, ts=ts),
        event(4, "block.finished", {"run": "r1", "block": "quorum", "verdict": "pass"}),
    )
    assert (code, 3) in codes(log)


@pytest.mark.parametrize("type_", ["note", "block.output"])
def test_mono_going_back_within_a_session_is_found(tmp_path: Path, type_: str) -> None:
    data = (
        {"text": "x"}
        if type_ == "note"
        else {"run": "r1", "block": "quorum", "node": "m1", "stream": "stdout", "text": "x"}
    )
    log = hostile_log(
        tmp_path,
        event(1, "block.started", STARTED),
        event(2, type_, data),
        event(3, type_, data, mono=5.0),
        event(4, "block.finished", {"run": "r1", "block": "quorum", "verdict": "pass"}),
    )
    assert codes(log) == [("mono-backwards", 3)]


def test_a_log_under_another_incidents_name_is_found(tmp_path: Path) -> None:
    log = hostile_log(tmp_path, name="INC-20261122T101201Z-other.jsonl")
    assert codes(log) == [("incident-mismatch", 0)]


def test_drill_events_in_a_live_log_are_found(tmp_path: Path) -> None:
    log = hostile_log(
        tmp_path,
        event(1, "note", {"text": "x"}, mode="drill"),
        event(2, "drill.inject", {"at_s": 1.0}, mode="drill"),
    )
    assert codes(log) == [("mode-mixed", 1)]
    injected = hostile_log(tmp_path, event(1, "drill.inject", {"at_s": 1.0}), name="b.jsonl")
    assert codes(injected) == [("mode-mixed", 1)]


def test_a_milestone_backdated_to_1970_is_found(tmp_path: Path) -> None:
    at = {"name": "impact_started", "at": "1970-01-01T00:00:00Z"}
    log = hostile_log(tmp_path, event(1, "milestone", at))
    assert ("time-backdated", 1) in codes(log)


def test_legitimate_clocks_are_not_flagged(tmp_path: Path) -> None:
    """Backdating by days, an NTP step of seconds, and mono restarting on resume are fine."""
    log = hostile_log(
        tmp_path,
        event(1, "milestone", {"name": "impact_started", "at": "2026-11-12T08:00:00Z"}),
        event(2, "note", {"text": "x"}, ts="2026-11-22T10:14:01.000000Z"),
        event(3, "note", {"text": "NTP"}, ts="2026-11-22T10:13:58.000000Z", mono=1121.0),
        event(4, "incident.suspended", {"reason": "hand-over"}),
        event(5, "incident.resumed", {}, mono=12.5),
        event(6, "note", {"text": "after"}, mono=13.0),
    )
    assert codes(log) == []


async def test_a_resumed_log_written_by_the_console_is_clean(tmp_path: Path) -> None:
    """Two real sessions, the second on a monotonic clock that restarted lower."""
    from tests.journal.example import FakeClock

    clock = FakeClock()
    log = new_log(tmp_path, clock=clock)
    await write_events(log, [MilestoneSet(name="detected")], close=False)
    await log.suspend("hand-over")
    clock.advance(30)
    clock.mono = 3.0
    again = JournalLog.open_for_append(log.path, clock=clock.wall, monotonic=clock.monotonic)
    await again.close()
    assert codes(log.path) == []


# -- item 7: drill and live results never mix -------------------------------------------------

LOCAL_RUNBOOK = """---
id: local-check
title: Local check
nodes: local
---
# Local check

## 1. Look

```sh check
#| id: look
#| expect: {stdout: hello}
echo hello
```
"""


def local_setup(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "runbooks").mkdir()
    book = tmp_path / "runbooks" / "local.md"
    book.write_text(LOCAL_RUNBOOK)
    cfg = tmp_path / "console.yaml"
    cfg.write_text(f"runbooks: [{tmp_path / 'runbooks'}]\njournal: {{dir: {tmp_path / 'inc'}}}\n")
    return book, cfg


async def suspended_log(tmp_path: Path, mode: str) -> Path:
    log = new_log(tmp_path / mode, mode=mode)  # type: ignore[arg-type]
    await log.suspend("hand-over")
    return log.path


def test_run_refuses_to_append_live_results_to_a_drill_log(tmp_path: Path) -> None:
    book, cfg = local_setup(tmp_path)
    drill_log = asyncio.run(suspended_log(tmp_path, "drill"))
    before = drill_log.read_bytes()
    code, out = cli_run("run", str(book), "--config", str(cfg), "--journal", str(drill_log))
    assert code == 2
    assert str(drill_log) in out and "drill log" in out and "live run" in out
    assert drill_log.read_bytes() == before  # nothing ran, nothing was written


def test_run_refuses_to_append_a_drill_to_a_live_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)  # the bundled runbook uses ./checks
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)
    live_log = asyncio.run(suspended_log(tmp_path, "live"))
    before = live_log.read_bytes()
    code, out = cli_run(
        "run",
        str(root / "runbooks" / "etcd-member-down.md"),
        "--scenario",
        str(root / "console" / "data" / "scenarios" / "etcd-member-down.yaml"),
        "--var",
        "member=m2",
        "--yes",
        "--journal",
        str(live_log),
    )
    assert code == 2
    assert str(live_log) in out and "live log" in out and "drill run" in out
    assert live_log.read_bytes() == before


async def test_resume_refuses_a_log_of_the_other_mode(tmp_path: Path) -> None:
    _, cfg = local_setup(tmp_path)
    drill_log = await suspended_log(tmp_path, "drill")
    with pytest.raises(JournalError, match="drill log"):
        await Incident.resume(load_config(cfg), drill_log)  # the TUI's resume: live
    incident = await Incident.resume(load_config(cfg), drill_log, mode="drill")
    await incident.suspend()


# -- item 11: exposed logs and silent faults --------------------------------------------------


async def test_a_log_others_can_read_gives_a_warning(tmp_path: Path) -> None:
    path = await suspended_log(tmp_path, "live")
    path.chmod(0o644)
    log = JournalLog.open_for_append(path)
    await log.suspend()
    assert any(str(path) in w and "read by others" in w for w in log.warnings)


async def test_prod_refuses_a_log_or_folder_others_can_write(tmp_path: Path) -> None:
    path = await suspended_log(tmp_path, "live")
    path.chmod(0o666)
    with pytest.raises(JournalError, match="written by others"):
        JournalLog.open_for_append(path, profile="prod")
    path.chmod(0o600)
    path.parent.chmod(0o777)
    with pytest.raises(JournalError, match="journal folder"):
        JournalLog.open_for_append(path, profile="prod")
    log = JournalLog.open_for_append(path)  # dev: a warning naming the folder
    await log.suspend()
    assert any(str(path.parent) in w for w in log.warnings)
    path.parent.chmod(0o1777)  # sticky, like /tmp: others cannot replace the file
    log = JournalLog.open_for_append(path, profile="prod")
    await log.suspend()
    assert log.warnings == []


async def test_run_says_when_a_journal_fault_starts_and_when_it_clears(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.cli.run_cmd import _fault_printer
    from console.journal import log as log_module
    from console.journal.events import Note

    log = new_log(tmp_path, on_fault=_fault_printer(), retry=RetryPolicy(5, 0.001, 0.005))
    real_write, failures = os.write, [3]

    def full_disk(fd: int, data: bytes) -> int:  # fault injection: ENOSPC three times
        if fd == log.fileno() and failures[0]:
            failures[0] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(log_module.os, "write", full_disk)
    await log.emit(Note(text="while the disk is full"))
    await log.close()
    err = capsys.readouterr().err
    assert err.count("cannot write the incident log") == 1  # not once per retry
    assert "No space left on device" in err and "fault cleared" in err


def test_prod_refuses_to_create_a_log_in_a_folder_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(JournalError, match=f"journal folder {shared}"):
        JournalLog.create(shared, None, "x", profile="prod", fsync="never")
    assert list(shared.iterdir()) == []  # nothing left behind
    log = JournalLog.create(shared, None, "x", fsync="never")  # dev: a warning
    assert any(str(shared) in w for w in log.warnings)
    asyncio.run(log.close())
