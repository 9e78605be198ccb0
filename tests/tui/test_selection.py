"""What is highlighted is what runs: selection, step marks, live attempts, refusals and quitting,
driven as a person would (Textual's pilot) on the bundled drill."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from click.testing import CliRunner
from textual.pilot import Pilot
from textual.widgets import RichLog

from console.cli import cli
from console.config import Config, LoadedConfig
from console.journal.events import BlockCancelled, BlockStarted
from console.journal.reader import read_log
from console.tui.app import ConsoleApp
from console.tui.screens import PromptScreen, TextScreen
from console.tui.widgets import BlocksList, ResultsTable, StepsList, block_status
from console.workspace import Workspace, drill_workspace
from tests.tui.conftest import Autopilot
from tests.tui.test_console import status, until
from tests.tui.test_resume import RUNBOOK


@asynccontextmanager
async def drill_console(
    tmp_path: Path, speed: float = 30
) -> AsyncIterator[tuple[ConsoleApp, Pilot[str]]]:
    """The bundled drill, its runbook on screen and the page already firing (at T+5s)."""
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=speed, journal=tmp_path)
    app = ConsoleApp(ws)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.block is not None and ws.incident.state.firing)
        yield app, pilot


def started(ws: Workspace) -> list[str]:
    """The blocks of each ``block.started`` the journal holds, in order."""
    return [r.started.data.block for r in ws.incident.state.runs.values()]


def block_lines(app: ConsoleApp) -> list[str]:
    return [str(label.content) for label in app.query_one(BlocksList).labels]


def step_lines(app: ConsoleApp) -> list[str]:
    return [str(label.content) for label in app.query_one(StepsList).labels]


def output(app: ConsoleApp) -> str:
    return "\n".join(line.text for line in app.query_one("#output", RichLog).lines)


async def test_the_highlighted_block_is_the_one_that_runs(tmp_path: Path) -> None:
    async with drill_console(tmp_path) as (app, pilot):
        ws = app.ws
        await pilot.press("down", "enter")  # enter step 2: its first block is selected
        assert app.block is not None and app.block.id == "member-log"
        await pilot.press("down")  # highlight the 2nd block
        assert app.block is not None and app.block.id == "disk-free"
        lines = block_lines(app)
        assert lines[1].startswith("▶") and not lines[0].startswith("▶")
        await pilot.press("escape", "down", "up")  # step 3, then back to step 2
        await until(pilot, lambda: app.step is not None and app.step.number == 2)
        lines = block_lines(app)
        assert [line[0] for line in lines] == ["▶", " "]  # one marker, on the first block
        assert app.block is not None and app.block.id == "member-log"
        await pilot.press("enter", "down")  # to the block list, then its second block
        assert app.query_one(BlocksList).has_focus
        assert block_lines(app)[1].startswith("▶")
        focused, other = (app.query_one(pane).styles.border_top for pane in ("#center", "#right"))
        assert focused[1] != other[1]  # the pane with the keyboard has its own border colour
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("m", "2", "enter")
        await until(pilot, lambda: status(ws.incident.state, "disk-free") == "pass")
        assert started(ws) == ["disk-free"]
        await pilot.press("up", "r")  # the first block now: it is what runs
        await until(pilot, lambda: status(ws.incident.state, "member-log") == "pass")
        assert started(ws) == ["disk-free", "member-log"]
        await pilot.press("q")
    log = ws.incident.path
    assert log is not None
    named = [e.data.block for e in read_log(log).events if isinstance(e.data, BlockStarted)]
    assert named == ["disk-free", "member-log"]


async def test_a_refusal_shows_before_any_prompt_with_what_to_run_first(tmp_path: Path) -> None:
    async with drill_console(tmp_path) as (app, pilot):
        state = app.ws.incident.state
        await pilot.press("down", "down", "enter", "r")  # step 3: restart, nothing checked yet
        await until(pilot, lambda: status(state, "restart") == "refused")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, PromptScreen)  # {{member}} was never asked for
        assert "member" not in (app.ws.session.values if app.ws.session else {})
        shown = output(app)
        assert "refused: requires checks that have not passed" in shown
        assert "run first: quorum (step 1. Confirm quorum still holds)" in shown
        assert "run first: disk-free (step 2. Find out why the member is down)" in shown
        assert "press j" in shown and "not run yet" not in shown
        await pilot.press("j")  # jump to the first check it needs
        await until(pilot, lambda: app.step is not None and app.step.number == 1)
        assert app.block is not None and app.block.id == "quorum"
        assert app.query_one(BlocksList).has_focus
        assert app.query_one(StepsList).index == 0
        await pilot.press("r")
        await until(pilot, lambda: status(state, "quorum") == "pass")
        await pilot.press("q")


async def test_step_marks_mean_one_thing_each(tmp_path: Path) -> None:
    async with drill_console(tmp_path) as (app, pilot):
        state = app.ws.incident.state

        def marks() -> list[str]:
            return [line[:2] for line in step_lines(app)]

        assert marks() == ["  "] * 5
        await pilot.press("enter", "r")  # step 1: quorum passes, endpoint-status not run yet
        await until(pilot, lambda: status(state, "quorum") == "pass")
        assert marks()[0] == "▸ "  # current, but not done: one of its checks has not run
        await pilot.press("down", "r")  # endpoint-status fails on m2
        await until(pilot, lambda: status(state, "endpoint-status") == "fail")
        assert marks()[0] == "▸✘"
        await pilot.press("escape", "down", "enter", "r")  # step 2: both checks pass
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("m", "2", "enter")
        await until(pilot, lambda: status(state, "member-log") == "pass")
        assert marks()[1] == "▸ "  # disk-free has not run yet
        await pilot.press("down", "r")
        await until(pilot, lambda: status(state, "disk-free") == "pass")
        assert marks()[:2] == [" ✘", "▸✔"]  # one current step only
        await pilot.press("escape", "down", "down", "down", "s")  # skip step 5
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await pilot.press(*"no time", "enter")
        await until(pilot, lambda: marks()[4] == " ↷")
        assert marks() == [" ✘", "▸✔", "  ", "  ", " ↷"]
        assert sum(m.startswith("▸") for m in marks()) == 1
        await pilot.press("q")


async def test_retries_are_shown_and_cancelled_between_attempts(tmp_path: Path) -> None:
    # at 1x, so the 5s between attempts is 5s of real time however the drill clock drives it
    async with drill_console(tmp_path, speed=1) as (app, pilot):
        ws = app.ws
        assert ws.session is not None
        retrying = ws.session.retrying
        # step 4 before the restart: member-healthy fails on m2 and is retried every 5s
        await pilot.press("down", "down", "down", "enter", "r")
        await until(pilot, lambda: "member-healthy" in retrying)
        await pilot.pause(1.2)  # one tick of the screen's clock
        line = block_lines(app)[0]
        assert "member-healthy" in line and "attempt 1 · next in " in line
        assert "gives up at " in line
        table = app.query_one(ResultsTable)
        attempts = {str(table.get_row(name)[2]) for name in ("m1", "m2", "m3")}
        assert len(attempts) == 1 and attempts.pop().startswith("attempt 1 · next in ")
        await pilot.press("ctrl+x")
        await until(pilot, lambda: not retrying)
        await until(pilot, lambda: status(ws.incident.state, "member-healthy") == "cancelled")
        _, why = block_status(ws.incident.state, "member-healthy")
        assert "between attempts" in why
        await pilot.pause(0.2)
        assert "next in" not in block_lines(app)[0]
        await pilot.press("q")
    log = ws.incident.path
    assert log is not None
    events = read_log(log).events
    (cancelled,) = [e.data for e in events if isinstance(e.data, BlockCancelled)]
    assert cancelled.block == "member-healthy" and cancelled.nodes_pending == ["m1", "m2", "m3"]
    assert "attempt 2" in cancelled.reason
    assert [e.data.attempt for e in events if isinstance(e.data, BlockStarted)] == [1]
    verified = CliRunner().invoke(cli, ["verify", str(log)])
    assert verified.exit_code == 0, verified.output


async def test_the_drill_clock_ticks_between_events(tmp_path: Path) -> None:
    async with drill_console(tmp_path) as (app, pilot):
        state = app.ws.incident.state
        bar = app.query_one("#status")
        for _ in range(10):
            await pilot.pause(0.05)  # what was already recorded reaches the screen first
            events, before = state.events, bar.render().plain
            await pilot.pause(1.2)
            if state.events == events:  # nothing was recorded: only the clock can move it
                assert bar.render().plain != before
                assert "T+" in before
                break
        else:
            raise AssertionError("events every second: the tick could not be told apart")


def quit_by(keys: tuple[str, ...]) -> Autopilot:
    """Wait for the runbook, then press ``keys`` (which must quit)."""

    async def work(pilot: Pilot[str]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await until(pilot, lambda: app.block is not None)
        await pilot.press(*keys)

    return work


def test_quitting_a_live_incident_says_how_to_resume(
    tmp_path: Path, drive_console: Callable[[Autopilot], None]
) -> None:
    (tmp_path / "local.md").write_text(RUNBOOK)
    cfg = tmp_path / "console.yaml"
    cfg.write_text(f"journal: {{dir: {tmp_path / 'inc'}}}\n")
    for keys in (("q",), ("ctrl+q",), ("ctrl+p", *"quit", "enter")):
        drive_console(quit_by(keys))
        result = CliRunner().invoke(
            cli, ["open", str(tmp_path / "local.md"), "--config", str(cfg), "--title", "t"]
        )
        assert result.exit_code == 0, (keys, result.output)
        assert "console stopped; the incident stays open" in result.output, keys
        logs = sorted((tmp_path / "inc").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        assert f"Resume with: incident-console resume {logs[-1]}" in result.output
        assert read_log(logs[-1]).events[-1].type == "incident.suspended"


def test_quitting_a_drill_says_what_to_do_with_its_log(
    tmp_path: Path, drive_console: Callable[[Autopilot], None]
) -> None:
    cfg = tmp_path / "console.yaml"
    cfg.write_text("runbooks: []\n")
    for keys in (("q",), ("ctrl+p", *"quit", "enter")):
        drive_console(quit_by(keys))
        journal = tmp_path / "drill" / str(len(keys))
        result = CliRunner().invoke(
            cli, ["drill", "--speed", "30", "--journal", str(journal), "--config", str(cfg)]
        )
        assert result.exit_code == 0, (keys, result.output)
        (log,) = journal.glob("*.jsonl")
        assert "console stopped; the drill's log is kept" in result.output, keys
        assert f"incident-console review {log}" in result.output
        assert f"incident-console export {log} --format md" in result.output
        assert "resume" not in result.output.lower()
        assert read_log(log).events[-1].type == "incident.suspended"
