"""Drill time drives ``within``/``every``, timeouts and scripted delays, not the wall clock."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.drill.clock import DrillClock
from console.execute.clock import clock_timeout
from console.journal.reader import read_log

RUNBOOK = """\
---
id: slow-member
title: slow member
nodes: name=a
---
# Slow member

## 1. Wait for it

```sh check
#| id: stuck
#| timeout: 20s
etcdctl endpoint health
```

```sh check
#| id: rejoined
#| within: 60s
#| every: 5s
etcdctl member list
```
"""

SCENARIO = """\
title: a member that never comes back
nodes: [{name: a}]
responses:
  - {match: endpoint health, hang: true}
  - {match: member list, exit: 1, stderr: "a: not a member\\n"}
expected:
  - {block: stuck, verdict: indeterminate}
  - {block: rejoined, verdict: fail}
"""


def test_at_x10_within_60s_gives_up_after_6_real_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)
    (tmp_path / "rb.md").write_text(RUNBOOK)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    began = time.monotonic()
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(tmp_path / "rb.md"), "--scenario", str(tmp_path / "s.yaml")),
            *("--speed", "10", "--json", "--journal", str(tmp_path)),
        ],
    )
    real = time.monotonic() - began
    assert result.exit_code == 0, result.output  # both blocks ended as the path expects
    events = read_log(Path(json.loads(result.output)["journal"])).events
    # the hung command was killed at its 20s timeout, counted in drill seconds
    stuck = next(e.data for e in events if e.type == "node.result" and e.data.block == "stuck")  # type: ignore[attr-defined]
    assert stuck.verdict == "indeterminate" and stuck.reason.startswith("timed out after 20s")  # type: ignore[attr-defined]
    assert 20 <= stuck.duration_s < 22  # type: ignore[attr-defined]
    # within 60s, every 5s: attempts at drill 0, 5, ... 55, then it gave up
    attempts = [
        e.data.attempt  # type: ignore[attr-defined]
        for e in events
        if e.type == "block.started" and e.data.block == "rejoined"  # type: ignore[attr-defined]
    ]
    assert attempts == list(range(1, 13))
    # 20 + 60 drill seconds at x10 is 8 real seconds; far from 80
    assert 7 <= real < 20


async def test_drill_sleep_follows_pause_and_skip() -> None:
    now = [0.0]
    clock = DrillClock(speed=10, now=lambda: now[0])
    sleeper = asyncio.create_task(clock.sleep(30))  # 3 real seconds at x10
    clock.pause()
    now[0] = 100.0  # real time passes while paused: drill time does not
    await asyncio.sleep(0.3)
    assert not sleeper.done()
    clock.advance(30)  # the facilitator skips ahead
    await asyncio.wait_for(sleeper, 2)


async def test_a_timeout_on_the_drill_clock() -> None:
    now = [0.0]
    clock = DrillClock(now=lambda: now[0])
    with pytest.raises(TimeoutError):
        async with clock_timeout(clock, 5):
            now[0] = 6.0
            await asyncio.sleep(5)  # would be 5 real seconds; the drill's 5s are over already
