"""`open` with `journal.fsync: group`: what the console writes while it runs reaches the disk.

The workspace must be built on the loop the console runs on: a group-commit timer left on a
loop that is gone never fires, and then nothing written after start-up is fsynced.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot

from console.cli import cli
from console.tui.app import ConsoleApp
from tests.tui.conftest import Autopilot
from tests.tui.test_console import until

GROUP_WINDOW_S = 0.2  # the log's group_commit_ms (the default)
SLACK_S = 1.5  # the fsync itself, on a busy machine

RUNBOOK = """---
id: chatty
title: Chatty check
nodes: local
---
# Chatty check

## 1. Look

```sh check
#| id: look
#| expect: {exit: 0}
seq 1 400
```
"""


@pytest.fixture
def synced_sizes(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Per inode, the largest file size an fsync covered (fault injection: a spy on fsync)."""
    sizes: dict[int, int] = {}
    real = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)  # what was written before the call is what this fsync covers
        real(fd)
        sizes[info.st_ino] = max(sizes.get(info.st_ino, 0), info.st_size)

    monkeypatch.setattr(os, "fsync", spy)
    return sizes


def test_output_written_while_the_console_runs_is_fsynced(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    synced_sizes: dict[int, int],
    drive_console: Callable[[Autopilot], None],
) -> None:
    monkeypatch.delenv("INCIDENT_LOG_KEY", raising=False)
    (tmp_path / "runbooks").mkdir()
    book = tmp_path / "runbooks" / "chatty.md"
    book.write_text(RUNBOOK)
    cfg = tmp_path / "console.yaml"
    cfg.write_text(
        f"runbooks: [{tmp_path / 'runbooks'}]\nchecks: []\n"
        f"journal: {{dir: {tmp_path / 'inc'}, fsync: group}}\n"
    )
    seen: dict[str, int] = {}

    async def work(pilot: Pilot[str]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await until(pilot, lambda: app.ws.session is not None)
        session, log = app.ws.session, app.ws.incident.path
        assert session is not None and log is not None
        block = session.runbook.block("look")
        assert block is not None
        await session.run_block(block)  # output written while the console runs
        written = log.stat().st_size
        inode = log.stat().st_ino
        deadline = asyncio.get_running_loop().time() + GROUP_WINDOW_S + SLACK_S
        while synced_sizes.get(inode, 0) < written:
            if asyncio.get_running_loop().time() > deadline:
                break
            await pilot.pause(0.05)
        seen.update(written=written, synced=synced_sizes.get(inode, 0))
        await app.action_quit_console()

    drive_console(work)
    result = CliRunner().invoke(cli, ["open", str(book), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert seen["written"] > 2000, "the block's output is in the log"
    assert seen["synced"] == seen["written"], (
        f"{seen['written']} bytes written, only {seen['synced']} fsynced within the group window"
    )
