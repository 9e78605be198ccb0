"""A failing disk: faults are reported at once, retried, recorded when they clear, never silent.

The log's descriptor is pointed at /dev/full (every write fails with ENOSPC, every fsync with
EINVAL) and back, so the real write and fsync paths run.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from console.journal.events import (
    ActionConfirmed,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    JournalFault,
    Note,
)
from console.journal.fold import fold
from console.journal.log import JournalLog, JournalWriteError, RetryPolicy
from console.journal.reader import read_log
from console.journal.verify import verify_path
from tests.journal.conftest import new_log

FAST_RETRY = RetryPolicy(attempts=3, first_delay_s=0.001, max_delay_s=0.005)


@contextmanager
def disk_full(log: JournalLog) -> Iterator[None]:
    """Make the log's fd refuse every write and fsync until the block ends."""
    saved = os.dup(log.fileno())
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, log.fileno())
    os.close(full)
    try:
        yield
    finally:
        os.dup2(saved, log.fileno())
        os.close(saved)


def faulty_log(tmp_path: Path, seen: list[JournalFault], fsync: str = "always") -> JournalLog:
    return new_log(tmp_path, fsync=fsync, on_fault=seen.append, retry=FAST_RETRY)


async def test_a_decision_that_cannot_be_written_raises_and_is_reported(tmp_path: Path) -> None:
    seen: list[JournalFault] = []
    log = faulty_log(tmp_path, seen)
    with disk_full(log):
        with pytest.raises(JournalWriteError, match="No space left on device") as err:
            await log.emit(Note(text="decided while the disk was full"))
        assert "do not act on it" in str(err.value)
        assert log.fault is not None and log.fault.operation == "write"
        assert [f.attempts for f in seen] == [1, 2, 3]
        assert all(not f.recovered and "ENOSPC" in f.error for f in seen)
    await log.emit(Note(text="disk freed"))
    assert log.fault is None and seen[-1].recovered
    await log.close()

    events = read_log(log.path).events
    texts = [e.data.text for e in events if isinstance(e.data, Note)]
    assert texts == ["decided while the disk was full", "disk freed"]
    fault = next(e for e in events if isinstance(e.data, JournalFault))
    assert isinstance(fault.data, JournalFault)
    assert fault.data.recovered and fault.data.attempts == 3 and fault.data.failed_seqs == [1]
    assert verify_path(log.path).findings == []


async def test_output_is_retried_in_the_background_until_the_disk_recovers(
    tmp_path: Path,
) -> None:
    seen: list[JournalFault] = []
    log = faulty_log(tmp_path, seen)
    with disk_full(log):
        for i in range(5):
            await log.emit(BlockOutput(run="r", block="b", node="n", stream="stdout", text=f"{i}"))
        assert seen and seen[0].operation == "write"
        await asyncio.sleep(0.05)
        assert len(seen) > 3, "the background retry keeps trying (and saying so)"
    await asyncio.sleep(0.05)
    assert log.fault is None and seen[-1].recovered
    await log.close()
    outputs = [e for e in read_log(log.path).events if isinstance(e.data, BlockOutput)]
    assert [e.data.text for e in outputs] == ["0", "1", "2", "3", "4"]  # type: ignore[union-attr]


async def test_a_failing_fsync_is_reported_retried_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[JournalFault] = []
    log = faulty_log(tmp_path, seen)
    real = os.fsync

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(JournalWriteError, match="cannot fsync"):
        await log.emit(Note(text="written, not durable"))
    assert [(f.operation, f.attempts) for f in seen] == [("fsync", 1), ("fsync", 2), ("fsync", 3)]
    monkeypatch.setattr(os, "fsync", real)
    await log.emit(Note(text="durable again"))
    assert log.fault is None and seen[-1].recovered and seen[-1].operation == "fsync"
    await log.close()
    fault = next(e.data for e in read_log(log.path).events if isinstance(e.data, JournalFault))
    assert isinstance(fault, JournalFault) and fault.failed_seqs == [1] and "EIO" in fault.error


async def test_an_action_whose_start_failed_to_record_counts_as_not_run(tmp_path: Path) -> None:
    seen: list[JournalFault] = []
    log = faulty_log(tmp_path, seen)
    await log.emit(ActionConfirmed(run="a1", block="restart", nodes=["m1"]))
    with disk_full(log), pytest.raises(JournalWriteError):
        await log.emit(
            BlockStarted(
                run="a1", block="restart", kind="action", lang="sh", command="x", nodes=["m1"]
            )
        )
    await log.emit(
        BlockStarted(run="c1", block="check", kind="check", lang="sh", command="y", nodes=["m1"])
    )
    await log.emit(BlockFinished(run="c1", block="check", verdict="pass"))
    await log.close()
    state = fold(read_log(log.path).events)
    assert state.runs["a1"].status == "not-run"
    assert verify_path(log.path).findings == []
