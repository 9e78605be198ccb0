"""A drill in the console: errors reach the log, a crash ends it, and ``R`` shows the TTR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot

from console.cli import cli
from console.config import Config, LoadedConfig
from console.drill.simulator import Simulator
from console.journal.reader import read_log
from console.tui.app import ConsoleApp
from console.workspace import drill_workspace
from tests.tui.conftest import Autopilot
from tests.tui.test_console import until


def messages(app: ConsoleApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_block_error_is_journalled_and_r_shows_the_ttr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Simulator, node: str, command: str) -> None:  # fault injection
        raise RuntimeError("the simulator fell over")

    monkeypatch.setattr(Simulator, "respond", broken)
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=30, journal=tmp_path)
    state = ws.incident.state
    app = ConsoleApp(ws)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: state.firing)
        await pilot.press("enter", "down", "r")  # endpoint-status, on the three members
        await until(
            pilot, lambda: any("could not run" in (n.title or "") for n in app._notifications)
        )
        errors = [e for e in ws.incident.sink.timeline if e.type == "error"]
        assert [(e.data.where, e.data.error) for e in errors] == [  # type: ignore[attr-defined]
            ("block endpoint-status", "RuntimeError: the simulator fell over (and 2 more)")
        ]
        # the block it broke is recorded as cancelled, not left running
        (run,) = [r for r in state.runs.values() if r.started.data.block == "endpoint-status"]
        assert run.status == "cancelled"
        await pilot.press("R")  # resolved: the console says the figure it completes
        await until(
            pilot, lambda: any(m.startswith("marked resolved: TTR ") for m in messages(app))
        )
        ttr = next(m for m in messages(app) if m.startswith("marked resolved"))
        assert "n/a" not in ttr  # measured from the page's start, as the export does
        await pilot.press("q")
    verified = CliRunner().invoke(cli, ["verify", str(ws.incident.path)])
    assert verified.exit_code == 0, verified.output


def test_a_console_crash_is_journalled_and_the_drill_log_closed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    drive_console: Callable[[Autopilot], None],
) -> None:
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)

    async def note(self: ConsoleApp) -> None:  # fault injection: a handler that dies
        raise RuntimeError("the note screen broke")

    monkeypatch.setattr(ConsoleApp, "action_note", note)

    async def work(pilot: Pilot[str]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await until(pilot, lambda: app.ws.session is not None)
        await pilot.press("n")

    drive_console(work)
    result = CliRunner().invoke(cli, ["drill", "--journal", str(tmp_path), "--speed", "30"])
    assert result.exit_code != 0
    (log,) = tmp_path.glob("*.jsonl")
    events = read_log(log).events
    error = next(e for e in events if e.type == "error")
    assert error.data.where == "the console"  # type: ignore[attr-defined]
    assert error.data.error == "RuntimeError: the note screen broke"  # type: ignore[attr-defined]
    assert events[-1].type == "incident.closed"
    verified = CliRunner().invoke(cli, ["verify", str(log)])
    assert verified.exit_code == 0, verified.output
