"""The writer: file creation, fsync policy, the single-writer lock, resume, torn tails, anchors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from pathlib import Path

import pytest

from console.journal.chain import GENESIS, canonical_json
from console.journal.events import (
    BlockOutput,
    IncidentClosed,
    IncidentResumed,
    MilestoneSet,
    Note,
)
from console.journal.log import JournalError, JournalLog, log_filename, make_incident_id
from console.journal.milestones import MilestoneError
from console.journal.reader import read_log
from console.journal.verify import verify_path
from tests.journal.conftest import new_log, run, write_events
from tests.journal.example import START, FakeClock


def verify(path: Path, key: bytes | None = None) -> list[str]:
    report = verify_path(path, key=key)
    return [f"{f.code}@{f.seq}" for f in report.findings]


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every fd fsynced, in order (the real fsync still runs)."""
    calls: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


def test_ids_and_file_names() -> None:
    assert make_incident_id("etcd member down!", START) == "INC-20261122T101201Z-etcd-member-down"
    assert make_incident_id("???", START) == "INC-20261122T101201Z-incident"
    assert log_filename("INC-x") == "INC-x.jsonl"


def test_create_makes_a_private_file_and_fsyncs_it_and_its_folder(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    log = JournalLog.create(tmp_path / "incidents", None, "etcd member down", actor="a@b")
    name = log.path.name
    assert re.fullmatch(r"INC-\d{8}T\d{6}Z-etcd-member-down\.jsonl", name)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert len(fsyncs) == 2
    run(log.close())
    first = json.loads(log.path.read_bytes().splitlines()[0])
    assert first["type"] == "incident.opened" and first["seq"] == 0 and first["prev"] == GENESIS
    assert first["incident"] == name.removesuffix(".jsonl")
    assert first["data"]["fsync"] == "always" and first["data"]["group_commit_ms"] == 200
    assert first["data"]["chain"] == "sha256"


def test_lines_are_canonical_json(tmp_path: Path) -> None:
    path = run(write_events(new_log(tmp_path), [Note(text='é ✓ "quoted"\n')]))
    for line in path.read_bytes().splitlines():
        assert canonical_json(json.loads(line)) == line


def test_an_existing_log_is_never_overwritten(tmp_path: Path) -> None:
    first = new_log(tmp_path)
    with pytest.raises(JournalError, match="already exists"):
        new_log(first.path)
    second = new_log(tmp_path)  # same title in the same second: a new name
    assert second.path.name == "INC-20261122T101201Z-test-2.jsonl"
    assert second.incident == "INC-20261122T101201Z-test-2"


async def test_decisions_are_fsynced_before_emit_returns(tmp_path: Path, fsyncs: list[int]) -> None:
    log = new_log(tmp_path, fsync="always", group_commit_ms=100)
    before = len(fsyncs)
    await log.emit(BlockOutput(run="r", block="b", node="n", stream="stdout", text="x"))
    assert len(fsyncs) == before, "output waits for the group commit"
    await log.emit(Note(text="decided"))
    assert len(fsyncs) == before + 1
    await log.close()


async def test_output_is_group_committed_within_the_window(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    log = new_log(tmp_path, fsync="always", group_commit_ms=50)
    before = len(fsyncs)
    for i in range(100):
        await log.emit(BlockOutput(run="r", block="b", node="n", stream="stdout", text=str(i)))
    assert len(fsyncs) == before
    await asyncio.sleep(0.2)
    assert len(fsyncs) == before + 1, "one fsync for the whole group"
    await log.close()


async def test_group_policy_does_not_wait_for_decisions(tmp_path: Path, fsyncs: list[int]) -> None:
    log = new_log(tmp_path, fsync="group", group_commit_ms=50)
    before = len(fsyncs)
    await log.emit(Note(text="decided"))
    assert len(fsyncs) == before
    await asyncio.sleep(0.2)
    assert len(fsyncs) == before + 1
    await log.close()


def test_group_commits_go_on_after_the_loop_that_started_them_is_gone(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    log = new_log(tmp_path, fsync="group", group_commit_ms=50)
    note = Note(text="written while a first loop ran")
    run(log.emit(note))  # its group commit is due on a loop that is then closed

    async def on_a_second_loop() -> int:
        await log.emit(Note(text="written on the loop that stays"))
        await asyncio.sleep(0.5)
        synced = len(fsyncs)
        await log.close()
        return synced

    before = len(fsyncs)
    assert run(on_a_second_loop()) > before, "the second loop's group commit fsynced the log"


async def test_never_policy_does_not_fsync_after_creation(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    log = new_log(tmp_path, fsync="never")
    before = len(fsyncs)
    await log.emit(Note(text="decided"))
    await log.close()
    assert len(fsyncs) == before


async def test_events_reach_the_file_before_emit_returns(tmp_path: Path) -> None:
    log = new_log(tmp_path, fsync="never")
    event = await log.emit(BlockOutput(run="r", block="b", node="n", stream="stdout", text="x"))
    assert read_log(log.path).events[-1] == event
    await log.close()


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    with pytest.raises(JournalError, match="already being written by another console"):
        JournalLog.open_for_append(log.path)
    run(log.suspend())
    JournalLog.open_for_append(log.path)


def test_close_anchors_the_head(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    note = run(log.emit(Note(text="x")))
    closed = run(log.close("fixed"))
    assert isinstance(closed.data, IncidentClosed)
    assert closed.data.final_seq == note.seq and closed.data.head_hash == note.hash
    assert closed.prev == note.hash and log.head == closed.hash
    with pytest.raises(JournalError, match="closed"):
        run(log.emit(Note(text="late")))
    with pytest.raises(JournalError, match="never appended to"):
        JournalLog.open_for_append(log.path)


def test_resume_after_a_clean_stop(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    run(log.emit(Note(text="before")))
    run(log.suspend("hand-over to bob"))
    again = JournalLog.open_for_append(log.path, actor="bob@laptop")
    run(again.emit(Note(text="after")))
    run(again.close())
    events = read_log(log.path).events
    resumed = next(e for e in events if e.type == "incident.resumed")
    assert isinstance(resumed.data, IncidentResumed)
    assert resumed.data.after_crash is False and resumed.data.fsync == "never"
    assert events[-2].actor == "bob@laptop"
    assert verify(log.path) == []


def test_resume_after_a_crash_moves_the_torn_tail_aside(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    run(log.emit(Note(text="kept")))
    os.close(log.fileno())  # the console dies: no suspend, no close
    size = log.path.stat().st_size
    torn = b'{"actor":"tester@host","data":{"text":"half a li'
    with open(log.path, "ab") as handle:
        handle.write(torn)
    assert "torn-tail@2" in verify(log.path)

    again = JournalLog.open_for_append(log.path)
    run(again.close())
    broken = log.path.with_name(log.path.name + ".broken")
    assert broken.read_bytes() == torn
    resumed = read_log(log.path).events[2].data
    assert isinstance(resumed, IncidentResumed)
    assert resumed.after_crash and resumed.torn_offset == size
    assert resumed.torn_bytes == len(torn) and resumed.broken_file == broken.name
    assert resumed.broken_offset == 0 and resumed.torn_sha256
    assert verify(log.path) == []


def test_damage_before_the_tail_refuses_appending(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    run(log.emit(Note(text="original")))
    run(log.suspend())
    data = log.path.read_bytes().replace(b"original", b"improved")
    log.path.write_bytes(data)
    with pytest.raises(JournalError) as err:
        JournalLog.open_for_append(log.path)
    message = str(err.value)
    assert "refused for appending" in message
    assert f"{log.path}:2: seq 1: error: hash does not match" in message


def test_a_keyed_log_needs_its_key_to_be_resumed(tmp_path: Path) -> None:
    log = new_log(tmp_path, key=b"k1")
    run(log.suspend())
    with pytest.raises(JournalError, match="no key was given"):
        JournalLog.open_for_append(log.path)
    with pytest.raises(JournalError, match="wrong"):
        JournalLog.open_for_append(log.path, key=b"k2")
    again = JournalLog.open_for_append(log.path, key=b"k1")
    run(again.close())
    assert verify(log.path, key=b"k1") == []


def test_an_empty_file_is_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "INC-empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(JournalError, match="not an incident log"):
        JournalLog.open_for_append(path)


async def test_milestones_out_of_order_are_refused_and_not_written(tmp_path: Path) -> None:
    clock = FakeClock()
    log = new_log(tmp_path, clock=clock)
    impact = await log.emit(MilestoneSet(name="impact_started", at=START))
    before = log.next_seq
    with pytest.raises(MilestoneError, match=r"'detected' .* is before 'impact started'"):
        await log.emit(MilestoneSet(name="detected", at=START.replace(minute=0)))
    with pytest.raises(MilestoneError, match="already set"):
        await log.emit(MilestoneSet(name="impact_started"))
    with pytest.raises(MilestoneError, match="is not a 'mitigated' milestone"):
        await log.emit(MilestoneSet(name="mitigated", corrects=impact.seq))
    clock.advance(3600)
    with pytest.raises(MilestoneError, match="in the future"):
        await log.emit(MilestoneSet(name="resolved", at=clock.now.replace(hour=23)))
    assert log.next_seq == before
    fix = await log.emit(
        MilestoneSet(name="impact_started", at=START.replace(minute=0), corrects=impact.seq)
    )
    await log.emit(
        MilestoneSet(name="impact_started", at=START.replace(minute=5), corrects=fix.seq)
    )
    await log.emit(MilestoneSet(name="detected", at=START.replace(minute=8)))
    await log.close()
    assert verify(log.path) == []
