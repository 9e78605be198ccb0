"""The crash loop: a writer killed with SIGKILL at random moments never loses a durable event
and never leaves a log that fails verification (a torn last line is all a crash may leave)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.journal.events import BlockFinished, BlockStarted
from console.journal.log import JournalLog
from console.journal.reader import read_batches, read_log
from console.journal.verify import verify_path
from tests.journal.conftest import run

WRITER = Path(__file__).with_name("crash_writer.py")
TRIALS = 30


def kill_at_random(path: Path, seed: int, rng: random.Random) -> list[tuple[int, str]]:
    """Start the writer, SIGKILL it after a random while; the decisions it said were durable."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(seed)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    durable = [proc.stdout.readline()]
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(rng.uniform(0.0, 0.3))
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    lines = b"".join(durable).decode() + rest.decode()
    complete = lines.splitlines(keepends=True)
    return [
        (int(seq), digest)
        for seq, digest in (line.split() for line in complete if line.endswith("\n"))
    ]


def power_cut(path: Path, durable_seq: int, rng: random.Random) -> None:
    """Lose what was not fsynced: cut the file anywhere after the last durable event."""
    lines = [line for batch in read_batches(path) for line in batch.lines]
    safe = sum(len(line) + 1 for line in lines[: durable_seq + 1])
    os.truncate(path, rng.randint(safe, path.stat().st_size))


@pytest.mark.slow
def test_killed_writers_leave_verifiable_logs_with_every_durable_event(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    torn = 0
    for trial in range(TRIALS):
        path = tmp_path / f"trial{trial}" / "INC-crash.jsonl"
        durable = kill_at_random(path, trial, rng)
        if trial % 2:
            power_cut(path, durable[-1][0], rng)

        report = verify_path(path)
        integrity = [f.code for f in report.findings if f.category == "integrity"]
        assert set(integrity) <= {"torn-tail"}, (trial, report.findings[:5])
        torn += bool(integrity)
        events = {e.seq: e.hash for e in read_log(path).events}
        missing = [(seq, h) for seq, h in durable if events.get(seq) != h]
        assert missing == [], f"trial {trial}: durable events lost: {missing[:5]}"

        log = JournalLog.open_for_append(path)
        after = [
            BlockStarted(
                run="recheck",
                block="health",
                kind="check",
                lang="sh",
                command="health",
                nodes=["m1"],
            ),
            BlockFinished(run="recheck", block="health", verdict="pass"),
        ]
        for payload in after:
            run(log.emit(payload))
        run(log.close("recovered"))
        final = verify_path(path)
        assert final.findings == [], (trial, final.findings[:5])
    assert torn, "no trial cut a line in half: the power cuts should have"
