"""What the engineer sees, pinned as snapshots at 80x24, 120x40 and 200x50.

The main screen mid-incident (the bundled drill, T+30s, after the quorum check ran), the
confirmation dialog and help. Everything that moves is held still so a snapshot is the same on
every run: wall-clock time is fixed, every monotonic reading the console takes is fixed, the
drill clock stands at T+30s, the poller samples once and run ids count up. The log names the
bundled runbook by its absolute path, which reaches the head hash in the status bar, so the
bundled files are copied to one fixed folder first: a checkout anywhere gives the same
snapshots. The console itself, the drill, the
journal and the session are the real ones. Regenerate with ``--snapshot-update`` after a
change to the screen, and look at the SVGs before committing them.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

import console.execute.session
import console.workspace
from console.config import Config, LoadedConfig
from console.execute.session import ConfirmRequest
from console.journal.fold import IncidentState
from console.tui.app import ConsoleApp, Opening
from console.tui.screens import ConfirmScreen
from console.tui.widgets import ResultsTable, block_status
from console.workspace import Workspace, drill_workspace

SIZES = [(80, 24), (120, 40), (200, 50)]
SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]
FROZEN = datetime(2026, 1, 15, 3, 12, 0, tzinfo=UTC)
FIXED_DATA = Path(tempfile.gettempdir()) / "incident-console-snapshots" / "data"
"""Where the bundled files are copied so that their paths, and the head hash, never vary."""


class FrozenDatetime(datetime):
    """``datetime`` whose ``now`` is always ``FROZEN``."""

    @classmethod
    def now(cls, tz: Any = None) -> FrozenDatetime:  # type: ignore[override]
        moment = FROZEN.astimezone(tz) if tz is not None else FROZEN.replace(tzinfo=None)
        return cls.combine(moment.date(), moment.timetz())


def _frozen_monotonic() -> float:
    return 1000.0


FROZEN_TIME = types.SimpleNamespace(
    **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
)
FROZEN_TIME.monotonic = _frozen_monotonic
FROZEN_TIME.time = lambda: FROZEN.timestamp()


@pytest.fixture
def frozen_clocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Hold every clock the console reads; the event loop keeps its real one."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no saved theme
    monkeypatch.delenv("INCIDENT_LOG_KEY", raising=False)
    for name, module in list(sys.modules.items()):
        if not (name.startswith("console.") or name == "textual.widgets._header"):
            continue
        if getattr(module, "datetime", None) is datetime:
            monkeypatch.setattr(module, "datetime", FrozenDatetime)
        if getattr(module, "time", None) is time:
            monkeypatch.setattr(module, "time", FROZEN_TIME)
        for _, obj in inspect.getmembers(module):
            for func in _functions(obj):  # clocks given as default arguments
                defaults, keywords = func.__defaults__ or (), func.__kwdefaults__ or {}
                if time.monotonic in (*defaults, *keywords.values()):
                    monkeypatch.setattr(func, "__defaults__", tuple(map(_frozen, defaults)))
                    frozen = {k: _frozen(v) for k, v in keywords.items()}
                    monkeypatch.setattr(func, "__kwdefaults__", frozen or None)
    # Run ids are random, and the log names the bundled files by path: both reach the head hash.
    runs = iter(range(1, 1000))
    fixed_uuid = types.SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(runs)))
    monkeypatch.setattr(console.execute.session, "uuid", fixed_uuid)
    fixed = FIXED_DATA.resolve()
    for name in ("BUNDLED_SCENARIO", "BUNDLED_RUNBOOKS", "BUNDLED_CHECKS"):
        bundled = getattr(console.workspace, name)
        copy = fixed / bundled.relative_to(console.workspace.DATA)
        if bundled.is_dir():
            shutil.copytree(bundled, copy, dirs_exist_ok=True)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundled, copy)
        monkeypatch.setattr(console.workspace, name, copy)
    yield


def _frozen(value: object) -> object:
    return _frozen_monotonic if value is time.monotonic else value


def _functions(obj: object) -> list[types.FunctionType]:
    if isinstance(obj, types.FunctionType):
        return [obj]
    if isinstance(obj, type) and obj.__module__.startswith("console."):
        members = [getattr(m, "__func__", m) for m in list(vars(obj).values())]
        return [f for f in members if isinstance(f, types.FunctionType)]
    return []


def drill_at_30s(journal: Path) -> Workspace:
    """The bundled drill standing still at T+30s (the page fired at T+5s)."""

    async def build() -> Workspace:
        config = Config(runbooks=[], checks=[], actor="oncall@console")
        loaded = LoadedConfig(config=config, path=None, sha256=None)
        ws = await drill_workspace(loaded, None, journal=journal)
        assert ws.drill is not None and ws.poller is not None
        ws.drill.clock.advance(30)  # monotonic time is frozen: the clock stays there
        ws.poller.refresh = 3600.0  # one poll, at T+30s
        return ws

    return asyncio.run(build())


async def until(pilot: Pilot[Any], check: Callable[[], object], timeout: float = 15.0) -> None:
    """Let the app run until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await pilot.pause(0.05)


async def mid_incident(pilot: Pilot[Any]) -> None:
    """The page is firing and the engineer ran step 1's quorum check."""
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    state: IncidentState = app.ws.incident.state
    await until(pilot, lambda: state.firing and app.telemetry is not None and app.ws.session)
    await pilot.press("enter", "r")
    await until(pilot, lambda: block_status(state, "quorum")[0] == "pass")
    app.clear_notifications()  # toasts come and go on a timer
    await settled(pilot)
    # The results table scrolls to its cursor when a row arrives, sooner or later on a busy
    # machine: start every picture from its left edge.
    app.query_one(ResultsTable).scroll_to(x=0, y=0, animate=False)
    await settled(pilot)


async def settled(pilot: Pilot[Any]) -> None:
    """Let every pending write and repaint land (the output pane writes after layout)."""
    for _ in range(3):
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_main_screen(snap_compare, frozen_clocks, tmp_path: Path, size) -> None:  # type: ignore[no-untyped-def]
    app = ConsoleApp(drill_at_30s(tmp_path / "journal"))
    assert snap_compare(app, terminal_size=size, run_before=mid_incident)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_confirmation_dialog(snap_compare, frozen_clocks, tmp_path: Path, size) -> None:  # type: ignore[no-untyped-def]
    app = ConsoleApp(drill_at_30s(tmp_path / "journal"))

    async def confirm_restart(pilot: Pilot[Any]) -> None:
        await mid_incident(pilot)
        runbook = app.ws.runbook
        block = runbook.block("restart") if runbook else None
        assert block is not None
        request = ConfirmRequest(
            block,
            "r1",
            ["m2"],
            "all",
            True,
            "systemctl restart etcd",  # type: ignore[arg-type]
        )
        app.push_screen(ConfirmScreen(request, app.redactor))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=confirm_restart, press=["r", "e"])


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_help(snap_compare, frozen_clocks, tmp_path: Path, size) -> None:  # type: ignore[no-untyped-def]
    app = ConsoleApp(drill_at_30s(tmp_path / "journal"))

    async def help_open(pilot: Pilot[Any]) -> None:
        await mid_incident(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=help_open)


def test_opening(snap_compare, frozen_clocks, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The first frame, before the workspace is built (the build never finishes here)."""

    async def never() -> Workspace:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    app = ConsoleApp(Opening("the drill", loaded, never))
    assert snap_compare(app, terminal_size=(80, 24))
