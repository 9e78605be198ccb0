"""The console, driven as a person would (Textual's pilot), on the bundled drill."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from textual.pilot import Pilot

from console.cli import cli
from console.config import Config, LoadedConfig
from console.journal.fold import IncidentState
from console.journal.reader import read_log
from console.tui.app import ConsoleApp
from console.tui.screens import ConfirmScreen, PromptScreen
from console.tui.widgets import block_status, last_run
from console.workspace import drill_workspace


async def until(pilot: Pilot[str], check: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, (
            f"timed out waiting; screen {pilot.app.screen!r}, notifications: "
            f"{[n.message for n in pilot.app._notifications]}"
        )
        await pilot.pause(0.05)


def status(state: IncidentState, block: str) -> str | None:
    found, _ = block_status(state, block)
    return None if found == "not run" else found


async def test_work_the_bundled_drill(tmp_path: Path) -> None:
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=30, journal=tmp_path)
    state = ws.incident.state
    app = ConsoleApp(ws)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: state.firing)  # the page arrives at drill T+5s
        await pilot.press("enter")  # enter step 1
        await pilot.press("r")  # quorum
        await until(pilot, lambda: status(state, "quorum") == "pass")
        await pilot.press("down", "r")  # endpoint-status: m2 is down
        await until(pilot, lambda: status(state, "endpoint-status") not in (None, "running"))
        run = last_run(state, "endpoint-status")
        assert run is not None and run.status == "fail"
        verdicts = {n: r.result.data.verdict for n, r in run.nodes.items() if r.result}
        assert verdicts["m2"] == "fail" and verdicts["m1"] == "pass"

        await pilot.press("escape")  # back to the steps
        await pilot.press("down", "down", "enter")  # step 3: restart the member
        await pilot.press("r")  # refused before anything is asked: disk-free has not passed
        await until(pilot, lambda: status(state, "restart") == "refused")
        assert not isinstance(app.screen, PromptScreen)
        await pilot.press("escape", "up", "enter")  # step 2: why is it down
        await pilot.press("down", "r")  # disk-free on m2
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("ctrl+u", "m", "2", "enter")  # over the alert's instance label
        await until(pilot, lambda: status(state, "disk-free") == "pass")
        await pilot.press("escape", "down", "enter", "r")  # step 3 again
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y", "enter")  # typed confirmation: "y" is not the block id
        assert isinstance(app.screen, ConfirmScreen)
        assert not [e for e in state.runs.values() if e.started.data.block == "restart"]
        for key in "restart":
            await pilot.press(key)
        await pilot.press("enter")
        await until(pilot, lambda: status(state, "restart") not in ("refused", "running"))
        assert status(state, "restart") == "pass"
        await until(pilot, lambda: not state.firing)  # the restart resolved the page
        await pilot.press("escape", "down", "enter", "r")  # step 4: the member rejoined
        await until(pilot, lambda: status(state, "member-healthy") == "pass")

        await pilot.press("a")  # acknowledged
        await pilot.press("q")
    log = ws.incident.path
    assert log is not None
    verified = CliRunner().invoke(cli, ["verify", str(log)])
    assert verified.exit_code == 0, verified.output
    types = [e.type for e in read_log(log).events]
    assert types.index("action.confirmed") < types.index(
        "block.started", types.index("action.confirmed")
    )
    assert "milestone" in types and types[-1] == "incident.suspended"
