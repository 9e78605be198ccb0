"""Everything one console session works with, assembled once for the TUI and the CLI.

A ``Workspace`` holds the config in force, the runbook library and check catalog, the open
incident (journal and live state), the telemetry poller, the node targets and, in a drill, the
simulator. It is assembled inside the event loop that runs it, by one of three entry points
that share one way of opening the incident (``_incident``: new log, or resumed) and its
telemetry (``_poller``): ``live_workspace`` (the console's ``open`` and ``resume``),
``drill_workspace`` (the console's ``drill`` and ``demo``) and ``run_workspace`` (a headless
``run``, after ``planning_session`` has asked for its variables and rendered its plan; worked by
``Workspace.run_headless``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from console import DATA
from console.config import APP_NAME, Config, LoadedConfig
from console.drill.engine import DrillEngine
from console.drill.run import DrillRun
from console.drill.scenario import Scenario
from console.errors import Problem
from console.execute.clock import REAL_CLOCK
from console.execute.promql import PromQLSource
from console.execute.session import (
    ConfirmCallback,
    PromptCallback,
    RunbookSession,
    SessionRun,
    StepRun,
)
from console.execute.targets import LiveTargets, TargetProvider
from console.incident import Incident
from console.journal.events import JournalFault, Mode
from console.journal.redact import Redactor
from console.journal.sink import EventSink, MemorySink
from console.runbook.catalog import Catalog, load_catalog, runbook_catalog
from console.runbook.library import Library, load_library
from console.runbook.model import Runbook, Step
from console.source_errors import TelemetryError
from console.telemetry.poller import TelemetryPoller

BUNDLED_SCENARIO = DATA / "scenarios" / "etcd-member-down.yaml"
BUNDLED_RUNBOOKS = DATA / "runbooks"
BUNDLED_CHECKS = DATA / "checks"


def drill_journal_dir() -> Path:
    """Where drills are journalled when no config says otherwise (the user data dir)."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "drills"


@dataclass
class Workspace:
    """The assembled session; see the module doc."""

    loaded: LoadedConfig
    """The config in force and where it came from (in a drill: the scenario's cluster)."""
    library: Library
    """The runbooks the console can open (empty for a headless run of one runbook)."""
    catalog: Catalog
    """The reusable checks that ``use:`` blocks name."""
    incident: Incident
    """The open incident: its journal and the state folded from it."""
    targets: TargetProvider
    """Where blocks run: SSH and local targets, or the drill's simulated nodes."""
    poller: TelemetryPoller | None = None
    """Prometheus and Alertmanager, polled into the panels (none when nothing is configured)."""
    drill_run: DrillRun | None = None
    """The simulated cluster of a drill or ``run --scenario`` (``run_headless`` starts it)."""
    drill: DrillEngine | None = None
    """The console drill's engine, which plays the scenario's injects on the drill clock."""
    runbook: Runbook | None = None
    """The runbook being worked, once one is open."""
    session: RunbookSession | None = None
    """The session working ``runbook``: its steps, variables and confirmations."""
    catalog_problems: list[Problem] = field(default_factory=list)
    """What was wrong in the check catalog (the console shows it; the checks still load)."""
    telemetry_problem: str | None = None
    """Why a headless run has no poller although telemetry is configured (for the caller to say)."""

    @property
    def config(self) -> Config:
        """The config in force (in a drill: the scenario's nodes and simulated sources)."""
        return self.loaded.config

    @property
    def scenario(self) -> Scenario | None:
        """The drill's scenario, if this is a drill."""
        return self.drill_run.scenario if self.drill_run else None

    async def open_runbook(
        self,
        runbook: Runbook,
        *,
        confirm: ConfirmCallback | None,
        prompt: PromptCallback | None,
        variables: dict[str, str] | None = None,
    ) -> RunbookSession:
        """Work ``runbook`` from now on; checks passed earlier in the incident still count."""
        loaded = self.incident.state.runbooks
        if not loaded or loaded[-1].data.sha256 != runbook.sha256:
            await self.incident.record_runbook(runbook)
        passed = [
            r.started.data.block for r in self.incident.state.runs.values() if r.status == "pass"
        ]
        previous = self.session
        self.runbook = runbook
        self.session = RunbookSession(
            runbook,
            self.config,
            self.incident.sink,
            targets=self.targets,
            catalog=self.catalog,
            variables={**(previous.values if previous else {}), **(variables or {})},
            confirm=confirm,
            prompt=prompt,
            incident=self.incident.incident_id,
            passed_checks=passed,
            promql=self.poller.prometheus if self.poller else None,
            clock=self.drill.clock if self.drill else REAL_CLOCK,
        )
        return self.session

    async def run_headless(
        self,
        steps: list[Step] | None,
        *,
        only_checks: bool = False,
        on_step: Callable[[StepRun], None] | None = None,
    ) -> SessionRun:
        """Work the session's ``steps`` start to end, as ``run`` does, and settle the log.

        The drill clock (if any) starts first; the alerts and every panel are recorded before
        and after, so the log holds what the cluster looked like around the run. Connections
        are released whatever happens; a log this run created is closed with a summary, one it
        appended to is suspended for the next run.
        """
        session = self.session
        if session is None:
            raise RuntimeError("run_headless needs the session run_workspace made")
        try:
            if self.drill_run is not None:
                await self.drill_run.start(self.incident)
            await self._snapshot("start")
            result = await session.run(steps, only_checks=only_checks, on_step=on_step)
            await self._snapshot("end")
        finally:
            await session.close()
            if self.poller is not None:
                await self.poller.aclose()
            if self.drill_run is not None:
                await self.drill_run.stop()
        await self._finish(result)
        return result

    async def _snapshot(self, reason: str) -> None:
        """Poll once (journalling alerts and source health) and record every panel's value."""
        if self.poller is not None:
            await self.poller.poll_once()
            await self.poller.record_snapshot(reason)

    async def _finish(self, result: SessionRun) -> None:
        """Close a log this run created; leave one it appended to open for the next run."""
        incident = self.incident
        if incident.path is None:
            return
        if incident.state.resumes:
            await incident.suspend("run finished")
            return
        runs = result.runs
        passed = sum(1 for r in runs if r.passed)
        summary = f"run finished: {passed}/{len(runs)} block(s) passed"
        if result.stopped:
            summary += f"; stopped: {result.stopped}"
        await incident.close(summary)

    async def aclose(self) -> None:
        """Release connections; the incident stays as it is (close or suspend it first)."""
        await self.targets.close()
        if self.poller is not None:
            await self.poller.aclose()


async def live_workspace(
    loaded: LoadedConfig,
    *,
    title: str,
    runbook: Runbook | None = None,
    journal: Path | None = None,
    accepted: list[Problem] | None = None,
    accept_reason: str | None = None,
    resume: Path | None = None,
) -> Workspace:
    """A live incident against the configured cluster (new, or resumed from its log)."""
    config = loaded.config
    catalog, problems = runbook_catalog(runbook.file if runbook else None, config.checks)
    incident = await _incident(
        loaded,
        _Opening(title, runbook=runbook, accepted=accepted, accept_reason=accept_reason),
        journal=journal,
        resume=resume,
    )
    return Workspace(
        loaded,
        load_library(list(config.runbooks)),
        catalog,
        incident,
        LiveTargets(config, risk_accepted=bool(accepted)),
        poller=TelemetryPoller(config, incident.sink),
        catalog_problems=list(problems),
    )


async def drill_workspace(
    loaded: LoadedConfig,
    scenario_path: Path | None = None,
    *,
    speed: float = 1.0,
    journal: Path | None = None,
) -> Workspace:
    """A drill on the scenario's simulated cluster; nothing leaves this machine."""
    drill = DrillRun.prepare(loaded, scenario_path or BUNDLED_SCENARIO, speed=speed, at=0.0)
    drill.simulator.clock.resume()
    scenario = drill.scenario
    base = loaded.config
    library = load_library([p for p in [*base.runbooks, BUNDLED_RUNBOOKS] if p.exists()])
    catalog, problems = load_catalog([p for p in [*base.checks, BUNDLED_CHECKS] if p.exists()])
    runbook = library.by_id(scenario.runbook) if scenario.runbook else None
    opening = _Opening(f"drill: {scenario.title}", runbook=runbook, drill=drill)
    journal_dir = journal or (base.journal.dir if loaded.path else drill_journal_dir())
    incident = await _incident(drill.loaded, opening, journal=journal_dir)
    poller, _ = _poller(drill.loaded.config, incident, drill)
    return Workspace(
        drill.loaded,
        library,
        catalog,
        incident,
        drill.targets,
        poller=poller,
        drill_run=drill,
        drill=DrillEngine(drill.simulator, incident.sink),
        runbook=runbook,
        catalog_problems=list(problems),
    )


@dataclass(frozen=True)
class _Opening:
    """How a workspace's incident starts: its title and what the opening records."""

    title: str
    runbook: Runbook | None = None
    drill: DrillRun | None = None
    accepted: list[Problem] | None = None
    accept_reason: str | None = None


async def _incident(
    loaded: LoadedConfig,
    opening: _Opening,
    *,
    journal: Path | None,
    resume: Path | None = None,
    in_memory: bool = False,
    redactor: Redactor | None = None,
    on_fault: Callable[[JournalFault], None] | None = None,
) -> Incident:
    """The workspace's incident: a new log (in folder ``journal``), or the log ``resume`` names.

    A drill appends only to a drill's log and a live incident only to a live one
    (``JournalError``); a resumed log records ``opening.runbook`` as loaded again.
    """
    drill = opening.drill
    mode: Mode = "drill" if drill else "live"
    if resume is not None:
        incident = await Incident.resume(
            loaded, resume, mode=mode, redactor=redactor, on_fault=on_fault
        )
        if opening.runbook is not None:
            await incident.record_runbook(opening.runbook)
        return incident
    return await Incident.open(
        loaded,
        opening.title,
        mode=mode,
        journal=journal,
        runbook=opening.runbook,
        scenario=drill.scenario.file if drill else None,
        accepted=opening.accepted,
        accept_reason=opening.accept_reason,
        in_memory=in_memory,
        redactor=redactor,
        on_fault=on_fault,
    )


@dataclass(frozen=True)
class HeadlessRun:
    """What a headless ``run`` asked for: one runbook, worked by a planning and a real session.

    ``loaded`` is the config in force (with ``drill``: the scenario's nodes and sources).
    """

    loaded: LoadedConfig
    runbook: Runbook
    catalog: Catalog
    confirm: ConfirmCallback | None = None
    prompt: PromptCallback | None = None
    node_filter: str | None = None
    risk_accepted: bool = False
    drill: DrillRun | None = None

    def session(
        self,
        sink: EventSink,
        variables: dict[str, str],
        *,
        incident: str,
        promql: PromQLSource | None,
    ) -> RunbookSession:
        """A session on ``sink``; raises ``VarError`` or ``ValueError`` for bad input."""
        return RunbookSession(
            self.runbook,
            self.loaded.config,
            sink,
            targets=self.drill.targets if self.drill else None,
            promql=promql,
            catalog=self.catalog,
            variables=variables,
            confirm=self.confirm,
            prompt=self.prompt,
            incident=incident,
            node_filter=self.node_filter,
            risk_accepted=self.risk_accepted,
            clock=self.drill.simulator.clock if self.drill else REAL_CLOCK,
        )


def planning_session(run: HeadlessRun, variables: dict[str, str]) -> RunbookSession:
    """A session that writes nowhere: it asks for variables and plans before any log exists.

    Nothing is recorded until the plan is sound, so a refused ``--var`` or a ``--dry-run``
    leaves no log behind. Raises ``VarError`` or ``ValueError`` for bad input.
    """
    promql = run.drill.prometheus if run.drill else None
    return run.session(MemorySink(), variables, incident="INC-plan", promql=promql)


async def run_workspace(
    run: HeadlessRun,
    variables: dict[str, str],
    *,
    journal: Path | None = None,
    in_memory: bool = False,
    accepted: list[Problem] | None = None,
    accept_reason: str | None = None,
    redactor: Redactor | None = None,
    on_fault: Callable[[JournalFault], None] | None = None,
) -> Workspace:
    """The workspace of a headless ``run``: its log, poller and a session with ``variables``.

    ``journal`` names a folder for a new log or an existing ``.jsonl`` to append to; a drill
    appends only to a drill's log and a live run only to a live log (``JournalError``).
    """
    loaded, runbook, drill = run.loaded, run.runbook, run.drill
    title = f"run {runbook.id}" + (f" (scenario {drill.scenario.title})" if drill else "")
    opening = _Opening(
        title, runbook=runbook, drill=drill, accepted=accepted, accept_reason=accept_reason
    )
    appending = journal is not None and journal.is_file()
    incident = await _incident(
        loaded,
        opening,
        journal=None if appending else journal,
        resume=journal if appending else None,
        in_memory=in_memory,
        redactor=redactor,
        on_fault=on_fault,
    )
    poller, problem = _poller(loaded.config, incident, drill)
    promql = poller.prometheus if poller else None
    session = run.session(incident.sink, variables, incident=incident.incident_id, promql=promql)
    return Workspace(
        loaded,
        Library(),
        run.catalog,
        incident,
        session.targets,
        poller=poller,
        runbook=runbook,
        session=session,
        drill_run=drill,
        telemetry_problem=problem,
    )


def _poller(
    config: Config, incident: Incident, drill: DrillRun | None
) -> tuple[TelemetryPoller | None, str | None]:
    """The incident's telemetry (a drill's: simulated), if any is configured; else why not."""
    if drill is not None:
        return TelemetryPoller(config, incident.sink, prometheus=drill.prometheus), None
    if config.prometheus is None and config.alertmanager is None:
        return None, None
    try:
        return TelemetryPoller(config, incident.sink), None
    except TelemetryError as exc:
        return None, str(exc)
