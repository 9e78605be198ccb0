"""The drill's stand-ins for Prometheus and the node targets, over the simulator.

``SimulatedPrometheus`` answers the same calls as the telemetry's ``PrometheusSource`` (instant
queries and the alerts API), so panels, alerts and ``promql`` blocks work unchanged in a drill.
``SimulatedTargets`` hands out a ``SimulatedTarget`` per node, like ``LiveTargets`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.config import Config, Node
from console.drill.promql import PromQLError
from console.drill.simulator import Simulator
from console.drill.target import SimulatedTarget
from console.source_errors import RequestRejected
from console.telemetry.alerts import Alert
from console.telemetry.panels import Series


class SimulatedPrometheus:
    """Prometheus as the drill sees it."""

    name = "prometheus"
    url = "drill://simulator"

    def __init__(self, simulator: Simulator) -> None:
        self._sim = simulator
        self._starts: dict[str, datetime] = {}

    async def query(self, promql: str) -> list[Series]:
        """Evaluate ``promql`` over the simulated series."""
        try:
            samples = self._sim.query(promql)
        except PromQLError as exc:
            raise RequestRejected(self.name, self.url, f"drill simulator: {exc}") from None
        return [Series(labels, value) for labels, value in samples]

    async def alerts(self) -> list[Alert]:
        """The simulated firing alerts."""
        return [
            Alert(
                fingerprint=a.fingerprint,
                labels=a.all_labels,
                annotations=a.annotations,
                state="firing",
                starts_at=self._starts_at(a.fingerprint, a.fired_at),
                source="drill",
            )
            for a in self._sim.alerts.values()
        ]

    def _starts_at(self, fingerprint: str, fired_at: float) -> datetime:
        """The wall time the alert fired, fixed when it is first reported: now, less the drill
        time since it fired at today's speed (so ``startsAt`` is never after it is seen)."""
        if fingerprint not in self._starts:
            clock = self._sim.clock
            ago = max(self._sim.now() - fired_at, 0.0) / clock.speed
            self._starts[fingerprint] = datetime.now(UTC) - timedelta(seconds=ago)
        return self._starts[fingerprint]

    async def aclose(self) -> None:
        """Nothing to close."""


def scenario_nodes(simulator: Simulator) -> list[Node]:
    """The scenario's nodes as config nodes, so selectors and the runner see them as usual."""
    return [
        Node(
            name=n.name,
            host=n.host or f"{n.name}.drill.invalid",
            roles=list(n.roles),
            labels=dict(n.labels),
        )
        for n in simulator.nodes
    ]


def drill_config(base: Config, simulator: Simulator) -> Config:
    """The config in force during a drill: the scenario's nodes, panels and refresh, no real
    telemetry sources, and the journal group-committed (a drill is not an incident)."""
    scenario = simulator.scenario
    return base.model_copy(
        update={
            "nodes": scenario_nodes(simulator),
            "prometheus": None,
            "alertmanager": None,
            "panels": list(scenario.panels),
            "refresh": scenario.refresh,
            "journal": base.journal.model_copy(update={"fsync": "group"}),
        }
    )


class SimulatedTargets:
    """Every node of the scenario answers from the script; nothing leaves the machine."""

    def __init__(self, simulator: Simulator) -> None:
        self._sim = simulator

    def target(self, node: Node) -> SimulatedTarget:
        """The simulated node named like ``node``."""
        return SimulatedTarget(self._sim, node.name)

    async def close(self) -> None:
        """Nothing to close."""
