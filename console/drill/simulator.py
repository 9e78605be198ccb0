"""The simulated cluster of a drill: series, alerts, injects on a clock, scripted replies.

Pure state plus a clock: ``tick()`` applies every inject that is due and returns what happened,
so the drill engine (or a test) decides when to call it. Node replies come from the scenario's
``responses``; their effects change the cluster like injects do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from console.drill.clock import DrillClock
from console.drill.promql import PromQLError, Sample, evaluate
from console.drill.scenario import AlertSpec, Effects, Inject, Reply, Response, Scenario, SimNode
from console.drill.series import SeriesStore
from console.execute.local import LOCAL_NODE
from console.selector import parse_selector


@dataclass
class SimAlert:
    """An alert firing in the simulation."""

    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    fired_at: float

    @property
    def fingerprint(self) -> str:
        """Stable id from the alert's labels, as Alertmanager's fingerprint is."""
        text = ",".join(f"{k}={v}" for k, v in sorted(self.all_labels.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def all_labels(self) -> dict[str, str]:
        """The labels including ``alertname``."""
        return {"alertname": self.alertname, **self.labels}


@dataclass
class Happening:
    """Something the facilitator or trainee should see: an inject applied or a reply's effect."""

    at: float
    say: str
    fired: list[SimAlert] = field(default_factory=list)
    resolved: list[SimAlert] = field(default_factory=list)
    inject: Inject | None = None


class Simulator:
    """The simulated cluster of one scenario."""

    def __init__(self, scenario: Scenario, clock: DrillClock | None = None) -> None:
        self.scenario = scenario
        self.clock = clock or DrillClock()
        self.series = SeriesStore()
        self.alerts: dict[str, SimAlert] = {}
        self._pending = sorted(scenario.timeline, key=lambda i: i.at)
        for spec in scenario.series:
            self.series.set(spec.name, spec.labels, 0.0, value=spec.value, slope=spec.slope)
        for alert in scenario.alerts:
            self._fire(alert, 0.0)

    @property
    def nodes(self) -> list[SimNode]:
        """The scenario's nodes."""
        return list(self.scenario.nodes)

    def now(self) -> float:
        """Drill seconds since the start."""
        return self.clock.elapsed()

    def next_inject_at(self) -> float | None:
        """Drill time of the next inject, if any is left."""
        return self._pending[0].at if self._pending else None

    def upcoming(self) -> list[Inject]:
        """The timeline's injects not applied yet, soonest first (the facilitator's view)."""
        return list(self._pending)

    def tick(self) -> list[Happening]:
        """Apply every inject that is due; return them in order."""
        now = self.now()
        out: list[Happening] = []
        while self._pending and self._pending[0].at <= now:
            inject = self._pending.pop(0)
            happening = self._apply(inject, inject.at)
            happening.say = inject.say
            happening.inject = inject
            out.append(happening)
        return out

    def inject(self, effects: Effects, say: str = "") -> Happening:
        """Apply effects now (the facilitator's hand inject)."""
        happening = self._apply(effects, self.now())
        happening.say = say
        return happening

    def query(self, promql: str) -> list[Sample]:
        """Evaluate PromQL over the simulated series, now."""
        return evaluate(promql, self.series, self.now())

    def respond(self, node: str, command: str) -> tuple[Reply, Happening | None]:
        """The scripted reply of ``node`` to ``command``, and the effects it had.

        ``local`` (the console's own machine) is answered by the responses whose ``on`` is
        ``local``; a node the scenario lacks by those that name it. A command nothing matches
        gets the scenario's ``default_response``, never an error.
        """
        now = self.now()
        for index, response in enumerate(self.scenario.responses):
            if response.after > now or not self._addressed(response, node):
                continue
            if not re.search(response.match, command):
                continue
            if response.when is not None:
                try:
                    holds = bool(self.query(response.when))
                except PromQLError as exc:  # Prometheus would refuse it too (many-to-many, ...)
                    why = f"drill: responses[{index}].when cannot be evaluated: {exc}\n"
                    return Reply(exit=2, stderr=why), None
                if not holds:
                    continue
            return response, self._effects_of(response, now)
        default = self.scenario.default_response
        return default, self._effects_of(default, now)

    def _addressed(self, response: Response, node: str) -> bool:
        """Whether ``response``'s ``on`` selects ``node`` (``local`` only by ``on: local``)."""
        selector = parse_selector(response.on)
        if node == LOCAL_NODE:
            return selector.is_local
        unknown = SimNode.model_construct(name=node)  # no roles, no labels: only name= picks it
        sim_node = next((n for n in self.scenario.nodes if n.name == node), unknown)
        return bool(selector.select([sim_node]))

    def _effects_of(self, response: Reply, now: float) -> Happening | None:
        effects = response.effects
        if effects.set or effects.fire or effects.resolve:
            return self._apply(effects, now)
        return None

    def _apply(self, effects: Effects, at: float) -> Happening:
        happening = Happening(at=at, say="")
        for change in effects.set:
            self.series.set(change.name, change.labels, at, value=change.value, slope=change.slope)
        for spec in effects.fire:
            alert = self._fire(spec, at)
            if alert is not None:
                happening.fired.append(alert)
        for name in effects.resolve:
            for fingerprint, alert in list(self.alerts.items()):
                if alert.alertname == name:
                    del self.alerts[fingerprint]
                    happening.resolved.append(alert)
        return happening

    def _fire(self, spec: AlertSpec, at: float) -> SimAlert | None:
        labels = dict(spec.labels)
        if spec.severity:
            labels.setdefault("severity", spec.severity)
        alert = SimAlert(spec.alertname, labels, dict(spec.annotations), at)
        if alert.fingerprint in self.alerts:
            return None
        self.alerts[alert.fingerprint] = alert
        return alert
