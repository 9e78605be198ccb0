"""The console paints its first frame before it builds its workspace, and says what it opens.

Starting is mostly importing the engines, the journal and the widgets; the console does that
after its first frame (``Opening``). Until the workspace is built only quitting works, a quit
asked meanwhile takes the usual path once it is open, and an error in the user's files is said
after the screen is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from console.cli import COMMAND_MODULES, cli
from console.config import Config, LoadedConfig
from console.incident import Incident
from console.journal.reader import read_log
from console.tui.app import ConsoleApp, Opening, run_app
from console.tui.bars import ConsoleFooter, StatusBar
from console.workspace import Workspace, drill_workspace
from tests.tui.conftest import Autopilot
from tests.tui.test_console import until

LOADED = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)


@contextlib.contextmanager
def headless(work: Autopilot | None) -> Iterator[None]:
    """Consoles run by ``run_app`` run headless, with ``work`` at the keyboard."""
    real_run_async = ConsoleApp.run_async

    async def run_async(self: ConsoleApp) -> str | None:
        return await real_run_async(self, headless=True, size=(120, 40), auto_pilot=work)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ConsoleApp, "run_async", run_async)
        yield


def footer_keys(app: ConsoleApp) -> list[str]:
    """What the footer offers."""
    return [key.description for key in app.query_one(ConsoleFooter).query(FooterKey)]


def held_drill(journal: Path) -> tuple[Opening, asyncio.Event]:
    """An opening of the bundled drill whose build waits until the event is set."""
    release = asyncio.Event()

    async def build() -> Workspace:
        await release.wait()
        return await drill_workspace(LOADED, None, speed=30, journal=journal)

    return Opening("the drill", LOADED, build), release


async def test_the_first_frame_says_what_opens_and_claims_nothing_yet(tmp_path: Path) -> None:
    opening, release = held_drill(tmp_path)
    app = ConsoleApp(opening)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert not app.is_open
        assert "Opening the drill" in str(app.query_one("#opening", Static).render())
        assert app.sub_title == "opening the drill"
        status = str(app.query_one(StatusBar).render())
        assert "events" not in status and "head" not in status  # no log yet: none claimed
        assert footer_keys(app) == ["Quit"]
        await pilot.press("n", "r", "o", "question_mark")  # nothing to note, run or pick yet
        assert len(app.screen_stack) == 1
        assert not list(tmp_path.glob("*.jsonl"))  # the log is made by the build, not before

        release.set()
        await until(pilot, lambda: app.is_open and app.step is not None)
        assert not app.query("#opening")
        assert "events" in str(app.query_one(StatusBar).render())
        assert app.ws.runbook is not None and app.step is app.ws.runbook.steps[0]
        await pilot.pause(0.1)
        assert {"Run", "Note", "Quit"} <= set(footer_keys(app))
        await pilot.press("n")  # keys work once it is open
        await until(pilot, lambda: len(app.screen_stack) == 2)
        await pilot.press("escape", "q")


async def test_a_quit_while_opening_quits_the_usual_way_once_open(tmp_path: Path) -> None:
    opening, release = held_drill(tmp_path)

    async def quit_early(pilot: Pilot[str]) -> None:
        await pilot.pause(0.2)
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
        assert pilot.app.query("#opening")  # nothing is lost: it waits for the log to exist
        assert not list(tmp_path.glob("*.jsonl"))
        release.set()

    with headless(quit_early):
        ended = await run_app(opening)
    assert ended.workspace is not None and ended.farewell is not None
    assert "console stopped; the drill's log is kept" in ended.farewell
    (log,) = tmp_path.glob("*.jsonl")
    assert ended.workspace.incident.path == log
    events = read_log(log).events
    assert events[-1].type == "incident.suspended"


async def test_a_quit_while_the_screen_fills_in_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building the workspace holds the event loop; a key pressed then is handled while the
    screen is recomposed. Fault injection: the quit arrives at that moment."""
    real_recompose = ConsoleApp.recompose

    async def quit_meanwhile(self: ConsoleApp) -> None:
        await self.run_action("quit")
        await real_recompose(self)

    monkeypatch.setattr(ConsoleApp, "recompose", quit_meanwhile)

    async def build() -> Workspace:
        return await drill_workspace(LOADED, None, speed=30, journal=tmp_path)

    with headless(None):
        ended = await run_app(Opening("the drill", LOADED, build))
    assert ended.workspace is not None and ended.farewell is not None  # no crash on the way
    (log,) = tmp_path.glob("*.jsonl")
    assert read_log(log).events[-1].type == "incident.suspended"


async def test_outside_names_on_the_first_frame_are_text(tmp_path: Path) -> None:
    """A file name is said as it is: no markup, no control characters, no secret."""
    name = 'the drill x[b="]y[@click=app.quit]z\x1b[2J-AKIAIOSFODNN7EXAMPLE.yaml'
    opening, release = held_drill(tmp_path)
    app = ConsoleApp(Opening(name, LOADED, opening.build))
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.2)
        shown = str(app.query_one("#opening", Static).render())
        assert 'x[b="]y[@click=app.quit]z␛[2J-[REDACTED].yaml' in shown
        assert "AKIA" not in shown and "AKIA" not in app.sub_title
        await pilot.press("ctrl+q")  # its notice names it too, as text
        await until(pilot, lambda: app._notifications)
        (notice,) = app._notifications
        assert 'x[b="]y[@click=app.quit]z' in notice.message and not notice.markup
        assert "AKIA" not in notice.message
        release.set()
        await until(pilot, lambda: not app.is_running)


async def test_keys_while_a_held_quit_runs_do_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quit asked while opening runs once the log exists, on the opening frame: keys
    pressed while it suspends the log must not reach panes that were never drawn."""
    real_suspend = Incident.suspend

    async def slow_suspend(self: Incident, reason: str = "") -> None:  # fault: a slow disk
        await asyncio.sleep(0.5)
        await real_suspend(self, reason)

    monkeypatch.setattr(Incident, "suspend", slow_suspend)
    opening, release = held_drill(tmp_path)

    async def keys_meanwhile(pilot: Pilot[str]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await pilot.pause(0.2)
        await pilot.press("ctrl+q")
        release.set()
        await until(pilot, lambda: app._quitting)
        await pilot.press("escape", "r", "n", "a", "j", "ctrl+p")

    with headless(keys_meanwhile):
        ended = await run_app(opening)  # raises if a key reached a missing pane
    assert ended.farewell is not None and "console stopped" in ended.farewell
    (log,) = tmp_path.glob("*.jsonl")
    types = [e.type for e in read_log(log).events]
    assert types[-1] == "incident.suspended"
    assert "note" not in types and "milestone.set" not in types


async def test_theme_problems_are_said_on_the_first_frame(tmp_path: Path) -> None:
    """Known before anything is built, so said at once (a quit while opening skips the rest)."""
    config = Config(runbooks=[], checks=[], theme="no-such-theme")
    loaded = LoadedConfig(config=config, path=None, sha256=None)
    opening, release = held_drill(tmp_path)
    app = ConsoleApp(Opening("the drill", loaded, opening.build))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert not app.is_open
        said = [str(n.message) for n in app._notifications if n.title == "Theme"]
        assert said and "no-such-theme" in said[0]
        release.set()
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running)


async def test_a_crash_the_log_cannot_record_is_raised_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's error goes in the log; if the log has ended already, the error is still
    the one raised, with a note saying it could not be recorded."""

    async def note(self: ConsoleApp) -> None:  # fault: a handler that ends the log, then dies
        await self.ws.incident.suspend("gone")
        await self.ws.incident.close("gone")
        raise RuntimeError("the note screen broke")

    monkeypatch.setattr(ConsoleApp, "action_note", note)

    async def press_n(pilot: Pilot[str]) -> None:
        await pilot.pause(0.3)
        await pilot.press("n")

    async def build() -> Workspace:
        return await drill_workspace(LOADED, None, speed=30, journal=tmp_path)

    with headless(press_n), pytest.raises(RuntimeError, match="the note screen broke") as caught:
        await run_app(Opening("the drill", LOADED, build))
    assert any("could not record it" in note for note in caught.value.__notes__)


async def test_what_the_opening_built_is_frozen_like_what_came_before(tmp_path: Path) -> None:
    """Full collections skip what start-up built (tui/collector.py): with the workspace built
    after the first frame, that is frozen once the console is open, and released after."""
    opening, release = held_drill(tmp_path)
    collected: dict[str, bool] = {}

    def walked(obj: object) -> bool:
        """Whether the collector walks ``obj`` (a frozen object is in no generation)."""
        return any(o is obj for o in gc.get_objects())

    async def watch(pilot: Pilot[str]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await pilot.pause(0.2)
        release.set()
        await until(pilot, lambda: app.is_open)
        collected["workspace"] = walked(app.ws)
        collected["its incident"] = walked(app.ws.incident)
        await pilot.press("q")

    with headless(watch):
        ended = await run_app(opening)
    assert collected == {"workspace": False, "its incident": False}
    assert walked(ended.workspace)  # unfrozen once the screen is gone


async def test_a_fault_while_building_is_raised_as_itself(tmp_path: Path) -> None:
    async def build() -> Workspace:
        raise RuntimeError("the build broke")

    with headless(None), pytest.raises(RuntimeError, match="the build broke"):
        await run_app(Opening("the drill", LOADED, build))


async def test_a_workspace_that_cannot_be_built_ends_the_console_with_its_error(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("title: broken\nnodes: 3\n")

    async def build() -> Workspace:
        return await drill_workspace(LOADED, scenario, journal=tmp_path)

    with headless(None):
        ended = await run_app(Opening("the drill", LOADED, build))
    assert ended.workspace is None and ended.farewell is None
    assert ended.opening_error is not None
    assert str(scenario) in str(ended.opening_error)


def test_a_broken_scenario_is_said_after_the_screen_and_nothing_starts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    drive_console: Callable[[Autopilot], None],
) -> None:
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("title: broken\nnodes: 3\n")
    drive_console(lambda pilot: pilot.pause())
    result = CliRunner().invoke(cli, ["drill", str(scenario), "--journal", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{scenario}:" in result.output  # each problem at its file and line
    assert "nothing was started" in result.output
    assert not list(tmp_path.glob("*.jsonl"))


def in_a_new_python(code: str) -> Any:
    """What ``code`` prints as JSON, run in a Python of its own (nothing imported yet)."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_the_first_frame_needs_none_of_the_engines() -> None:
    """What ``demo`` has imported when its first frame is painted: no engine, journal, runbook
    or widget module (a top-level import of one would put it back on the start-up path)."""
    probe = (
        "import asyncio, json, sys\n"
        "from console.cli import cli\n"
        "from click import Context\n"
        "cli.get_command(Context(cli), 'demo')\n"
        "from console.config import bare_config\n"
        "from console.tui.app import ConsoleApp, Opening\n"
        "async def never():\n"
        "    await asyncio.Event().wait()\n"
        "async def main():\n"
        "    app = ConsoleApp(Opening('the drill', bare_config(), never))\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await pilot.pause(0.2)\n"
        "        assert app.query('#opening')\n"
        "        print(json.dumps(sorted(sys.modules)))\n"
        "        app.exit()\n"
        "asyncio.run(main())\n"
    )
    loaded = set(in_a_new_python(probe))
    heavy = {
        "console.workspace",
        "console.drill.engine",
        "console.execute.session",
        "console.journal.events",
        "console.journal.log",
        "console.runbook.parse",
        "console.report.export",
        "console.tui.widgets",
        "console.tui.screens",
        "console.tui.palette",
        "textual.widgets._markdown",
        "textual.widgets._rich_log",
    }
    assert not heavy & loaded, sorted(heavy & loaded)
    other_commands = {f"console.cli.{m}" for m in COMMAND_MODULES.values()} - {
        "console.cli.console_cmds"
    }
    assert not other_commands & loaded, sorted(other_commands & loaded)


def test_every_command_is_found_where_the_group_looks_for_it() -> None:
    """``COMMAND_MODULES`` names each command's module; a command missing from it, or filed
    under the wrong module, would not run."""
    probe = (
        "import importlib, json\n"
        "from console.cli import COMMAND_MODULES, cli\n"
        "where = {}\n"
        "for module in sorted(set(COMMAND_MODULES.values())):\n"
        "    before = set(cli.commands)\n"
        "    importlib.import_module(f'console.cli.{module}')\n"
        "    where.update({name: module for name in set(cli.commands) - before})\n"
        "print(json.dumps(where))\n"
    )
    assert in_a_new_python(probe) == COMMAND_MODULES
    for name in COMMAND_MODULES:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
    typo = CliRunner().invoke(cli, ["dmeo"])
    assert typo.exit_code == 2 and "Did you mean 'demo'?" in typo.output
