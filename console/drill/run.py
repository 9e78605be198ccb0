"""A headless run against a drill scenario (``run RUNBOOK --scenario S``).

The simulated cluster stands in for the real one: the config's nodes become the scenario's,
shell blocks are answered by the script and promql blocks by the simulated series. The drill
clock starts at ``at`` (by default the moment the first alert fires, when the on-call engineer
would open the runbook), with the injects up to then applied and journalled.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from console.config import LoadedConfig
from console.drill.clock import DrillClock
from console.drill.engine import DrillEngine
from console.drill.scenario import Scenario, load_scenario
from console.drill.simulator import Simulator
from console.drill.sources import SimulatedPrometheus, SimulatedTargets, drill_config
from console.incident import Incident


@dataclass
class DrillRun:
    """The simulated cluster a headless run works against."""

    scenario: Scenario
    simulator: Simulator
    loaded: LoadedConfig
    targets: SimulatedTargets
    prometheus: SimulatedPrometheus
    at: float
    _engine: asyncio.Task[None] | None = None

    @classmethod
    def prepare(
        cls, loaded: LoadedConfig, path: Path, *, speed: float = 10.0, at: float | None = None
    ) -> DrillRun:
        """Load the scenario (raises ``SourceError``) and the config it implies."""
        scenario = load_scenario(path)
        clock = DrillClock(speed=speed)
        clock.pause()
        simulator = Simulator(scenario, clock)
        config = drill_config(loaded.config, simulator)
        start = at if at is not None else first_page(scenario)
        return cls(
            scenario,
            simulator,
            loaded.model_copy(update={"config": config}),
            SimulatedTargets(simulator),
            SimulatedPrometheus(simulator),
            start,
        )

    async def start(self, incident: Incident) -> None:
        """Jump to ``at``, journal the injects up to it, and let drill time run from there."""
        engine = DrillEngine(self.simulator, incident.sink)
        self.simulator.clock.advance(self.at)
        await engine.tick()
        self.simulator.clock.resume()
        self._engine = asyncio.get_running_loop().create_task(engine.run())

    async def stop(self) -> None:
        """Stop the drill clock's injects."""
        if self._engine is not None:
            self._engine.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._engine


def first_page(scenario: Scenario) -> float:
    """Drill time of the first inject that fires an alert (0 if none does)."""
    if scenario.alerts:
        return 0.0
    fired = [i.at for i in scenario.timeline if i.fire]
    return min(fired) if fired else 0.0
