"""The workspace a headless ``run`` is assembled into: plan first, then one log, one loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from console.config import Config, LoadedConfig
from console.execute.session import ConfirmAnswer, ConfirmRequest
from console.runbook.catalog import Catalog
from console.runbook.model import VarSpec
from console.workspace import HeadlessRun, planning_session, run_workspace
from tests.execute.conftest import fence, write_runbook


def test_a_run_asks_builds_and_runs_on_one_loop_and_closes_its_log(tmp_path: Path) -> None:
    runbook = write_runbook(
        tmp_path,
        fence("greet", "echo hi {{who}}", on_="local", expect={"stdout": "hi there"})
        + fence("act", "true", kind="action", on_="local"),
        front="vars:\n  who: {}\n",
    )
    loops: list[asyncio.AbstractEventLoop] = []

    async def prompt(name: str, spec: VarSpec, problem: str | None) -> str:
        loops.append(asyncio.get_running_loop())
        return "there"

    async def confirm(request: ConfirmRequest) -> ConfirmAnswer:
        loops.append(asyncio.get_running_loop())
        return ConfirmAnswer(True, "flag")

    loaded = LoadedConfig(config=Config(), path=None, sha256=None)
    run = HeadlessRun(loaded, runbook, Catalog(), confirm=confirm, prompt=prompt)
    planner = planning_session(run, {})
    with asyncio.Runner() as loop:
        loop.run(planner.ask_vars(planner.blocks(None)))
        workspace = loop.run(run_workspace(run, dict(planner.values), journal=tmp_path / "logs"))
        result = loop.run(workspace.run_headless(None))
        assert loops == [loop.get_loop(), loop.get_loop()]
    assert result.passed
    state = workspace.incident.state
    assert state.closed is not None
    assert state.closed.data.summary == "run finished: 2/2 block(s) passed"
    assert workspace.incident.path is not None and workspace.incident.path.parent.exists()


def test_a_run_appended_to_a_log_suspends_it_for_the_next(tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path, fence("ok", "true", on_="local"))
    loaded = LoadedConfig(config=Config(), path=None, sha256=None)
    run = HeadlessRun(loaded, runbook, Catalog())
    with asyncio.Runner() as loop:
        first = loop.run(run_workspace(run, {}, journal=tmp_path / "logs"))
        loop.run(first.incident.suspend("hand-over"))  # left open, as the console leaves it
        loop.run(first.aclose())
        assert first.incident.path is not None
        second = loop.run(run_workspace(run, {}, journal=first.incident.path))
        result = loop.run(second.run_headless(None))
    assert result.passed
    state = second.incident.state
    assert [s.data.reason for s in state.suspends] == ["hand-over", "run finished"]
    assert len(state.runbooks) == 2  # the runbook is recorded again for the appended run
