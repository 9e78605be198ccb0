"""Everything one console session works with, assembled once for the TUI and the CLI.

A ``Workspace`` holds the config in force, the runbook library and check catalog, the open
incident (journal and live state), the telemetry poller, the node targets and, in a drill, the
simulator. Live incidents and drills are assembled by ``live_workspace`` and
``drill_workspace``; from there on both run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from console.config import APP_NAME, Config, LoadedConfig
from console.drill.engine import DrillEngine
from console.drill.run import DrillRun
from console.drill.scenario import Scenario
from console.errors import Problem
from console.execute.session import ConfirmCallback, PromptCallback, RunbookSession
from console.execute.targets import LiveTargets, TargetProvider
from console.incident import Incident
from console.runbook.catalog import Catalog, load_catalog, runbook_catalog
from console.runbook.library import Library, load_library
from console.runbook.model import Runbook
from console.telemetry.poller import TelemetryPoller

DATA = Path(__file__).resolve().parent / "data"
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
    library: Library
    catalog: Catalog
    incident: Incident
    targets: TargetProvider
    poller: TelemetryPoller | None = None
    drill: DrillEngine | None = None
    scenario: Scenario | None = None
    runbook: Runbook | None = None
    session: RunbookSession | None = None
    catalog_problems: list[Problem] = field(default_factory=list)

    @property
    def config(self) -> Config:
        """The config in force (in a drill: the scenario's nodes and simulated sources)."""
        return self.loaded.config

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
        )
        return self.session

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
    library = load_library(list(config.runbooks))
    catalog, problems = runbook_catalog(runbook.file if runbook else None, config.checks)
    if resume is not None:
        incident = await Incident.resume(loaded, resume)
    else:
        incident = await Incident.open(
            loaded,
            title,
            runbook=runbook,
            journal=journal,
            accepted=accepted,
            accept_reason=accept_reason,
        )
    poller = TelemetryPoller(config, incident.sink)
    targets = LiveTargets(config, risk_accepted=bool(accepted))
    return Workspace(
        loaded, library, catalog, incident, targets, poller=poller, catalog_problems=list(problems)
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
    runbook_dirs = [*base.runbooks, BUNDLED_RUNBOOKS]
    library = load_library([p for p in runbook_dirs if p.exists()])
    catalog, problems = load_catalog([p for p in [*base.checks, BUNDLED_CHECKS] if p.exists()])
    runbook = library.by_id(scenario.runbook) if scenario.runbook else None
    journal_dir = journal or (base.journal.dir if loaded.path else drill_journal_dir())
    incident = await Incident.open(
        drill.loaded,
        f"drill: {scenario.title}",
        mode="drill",
        journal=journal_dir,
        runbook=runbook,
        scenario=scenario.file,
    )
    config = drill.loaded.config
    poller = TelemetryPoller(config, incident.sink, prometheus=drill.prometheus)
    engine = DrillEngine(drill.simulator, incident.sink)
    return Workspace(
        drill.loaded,
        library,
        catalog,
        incident,
        drill.targets,
        poller=poller,
        drill=engine,
        scenario=scenario,
        runbook=runbook,
        catalog_problems=list(problems),
    )
