"""Panel models: thresholds, quorum, trend, ETA, history and staleness — pure, no I/O, no clock.

A model is fed query results (or a failure) with the time they were taken, and is asked for
its ``PanelValue`` at a given "now". Staleness is the age of the last good sample: past two
refresh intervals the panel's state becomes ``stale`` (the last value and the last error are
kept, so the screen says what it last knew and why it stopped knowing), never a frozen
healthy value.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from console.config import (
    AlertsPanel,
    BacklogPanel,
    LagPanel,
    Panel,
    QuorumPanel,
    StatPanel,
    ThresholdPanel,
)
from console.journal.events import PanelValue
from console.telemetry import format as fmt
from console.telemetry.alerts import Alert

HISTORY = 240
"""Samples kept per series: 20 minutes at the default 5 s refresh."""

SPARK_POINTS = 60
"""Samples of the headline value carried in a ``PanelValue`` (for sparklines)."""


@dataclass(frozen=True)
class Series:
    """One series of an instant-query result."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Failed:
    """A query that got no result, and why (shown on the panel)."""

    message: str


Outcome = Sequence[Series] | Failed
"""What one query gave: its series, or the failure."""


class Ring:
    """A fixed-size history of ``(time, value)`` samples; the oldest drop off."""

    def __init__(self, size: int = HISTORY) -> None:
        self._items: deque[tuple[float, float]] = deque(maxlen=size)

    def add(self, at: float, value: float) -> None:
        """Record a sample."""
        self._items.append((at, value))

    def values(self, last: int | None = None) -> list[float]:
        """The values, oldest first (only the ``last`` ones if given)."""
        items = list(self._items)[-last:] if last else list(self._items)
        return [v for _, v in items]

    def since(self, start: float) -> list[tuple[float, float]]:
        """The samples taken at or after ``start``."""
        return [(t, v) for t, v in self._items if t >= start]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self._items)


def series_key(labels: Mapping[str, str], by: str | None = None) -> str:
    """A short name for a series: its ``by`` label, else ``{a="b",...}``, else ``value``."""
    if by and by in labels:
        return labels[by]
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not shown:
        return "value"
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


def level(value: float, warn: float | None, crit: float | None) -> str:
    """``ok``, ``warn`` or ``crit`` for a value where higher is worse."""
    if crit is not None and value >= crit:
        return "crit"
    if warn is not None and value >= warn:
        return "warn"
    return "ok"


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares change per second of ``points``; ``None`` with fewer than two times."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var_t = sum((t - mean_t) ** 2 for t, _ in points)
    if var_t == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var_t


def trend_of(points: Sequence[tuple[float, float]]) -> tuple[float | None, str]:
    """The rate and the trend (``growing``, ``draining``, ``flat``, ``unknown``) of samples.

    Flat means the fitted change over the samples' span is within 1 % of the largest value.
    """
    per_second = slope(points)
    if per_second is None:
        return None, "unknown"
    span = points[-1][0] - points[0][0]
    tolerance = 0.01 * max(abs(v) for _, v in points)
    if abs(per_second * span) <= tolerance:
        return per_second, "flat"
    return per_second, "growing" if per_second > 0 else "draining"


def _finite(outcome: Sequence[Series]) -> tuple[list[Series], int]:
    good = [s for s in outcome if math.isfinite(s.value)]
    return good, len(outcome) - len(good)


class PanelModel(ABC):
    """What every panel shares: last good sample time, last error, history, staleness."""

    kind = ""

    def __init__(self, title: str, refresh: float, unit: str = "") -> None:
        self.title = title
        self.unit = unit
        self.stale_after = 2 * refresh
        self.last_good: float | None = None
        self.error: str | None = None
        self.history = Ring()
        self.series_history: dict[str, Ring] = {}
        self.current: dict[str, float] = {}
        self.skipped = 0

    def fail(self, message: str) -> None:
        """Record that this poll got nothing; the last good values stay as they were."""
        self.error = message

    def _no_data(self) -> str:
        """The detail of a panel without a value: never polled, or an empty result."""
        return "no value yet" if self.last_good is None else "no data: the query returned no series"

    def _good(self, at: float) -> None:
        self.last_good = at
        self.error = None

    @abstractmethod
    def _view(self) -> dict[str, object]:
        """This panel's own fields of ``PanelValue`` (state, value, detail, ...)."""

    def value(self, now: float) -> PanelValue:
        """The panel as of ``now``: its state, or ``stale`` when the last good sample is old."""
        view = self._view()
        age = None if self.last_good is None else max(0.0, now - self.last_good)
        stale = age is not None and age > self.stale_after
        state = str(view.pop("state"))
        if self.last_good is None:
            state = "unknown"
        elif stale:
            state = "stale"
        detail = str(view.pop("detail", ""))
        if self.skipped:
            detail += f" ({self.skipped} series without a number left out)"
        return PanelValue.model_validate(
            {
                "title": self.title,
                "kind": self.kind,
                "state": state,
                "series": dict(self.current),
                "history": self.history.values(SPARK_POINTS),
                "stale": stale,
                "age_s": None if age is None else round(age, 3),
                "error": self.error,
                "detail": detail.strip(),
                "unit": self.unit,
                **view,
            }
        )


class QueryPanelModel(PanelModel):
    """A panel fed by PromQL queries."""

    @abstractmethod
    def queries(self) -> dict[str, str]:
        """The PromQL this panel needs, by name; ``value`` is the main query."""

    def update(self, results: Mapping[str, Outcome], at: float) -> None:
        """Take the results of this panel's queries, taken at ``at``."""
        main = results.get("value", Failed("no result"))
        if isinstance(main, Failed):
            self.fail(main.message)
            return
        good, skipped = _finite(main)
        problem = self._observe(good, results, at)
        if problem:
            self.fail(problem)
            return
        self.skipped = skipped
        self._good(at)

    @abstractmethod
    def _observe(self, series: list[Series], results: Mapping[str, Outcome], at: float) -> str:
        """Take good series; return a problem text to treat the poll as failed, else ""."""

    def _record(self, series: list[Series], at: float, by: str | None = None) -> None:
        """Keep the current values and their history; series gone from the result are dropped."""
        self.current = {series_key(s.labels, by): s.value for s in series}
        self.series_history = {key: self.series_history.get(key) or Ring() for key in self.current}
        for key, value in self.current.items():
            self.series_history[key].add(at, value)


class QuorumModel(QueryPanelModel):
    """Members up against ``need`` of ``of``: healthy, degraded or lost; and the leader."""

    kind = "quorum"

    def __init__(self, spec: QuorumPanel, refresh: float) -> None:
        super().__init__(spec.title or f"quorum: {spec.query}", refresh)
        self.spec = spec
        self.up: float | None = None
        self.leaders: list[str] | None = None
        self.leader_error: str | None = None
        self.empty = False

    def queries(self) -> dict[str, str]:
        out = {"value": self.spec.query}
        if self.spec.leader_query:
            out["leader"] = self.spec.leader_query
        return out

    def _observe(self, series: list[Series], results: Mapping[str, Outcome], at: float) -> str:
        self._record(series, at)
        self.empty = not series
        self.up = sum(s.value for s in series)
        self.history.add(at, self.up)
        leader = results.get("leader")
        self.leaders, self.leader_error = None, None
        if isinstance(leader, Failed):
            self.leader_error = leader.message
        elif leader is not None:
            label = self.spec.leader_label
            self.leaders = sorted(
                series_key(s.labels, label) for s in leader if math.isfinite(s.value) and s.value
            )
        return ""

    def _view(self) -> dict[str, object]:
        need, of = self.spec.need, self.spec.of
        if self.up is None:
            return {"state": "unknown", "detail": f"need {need} of {of}"}
        state = "healthy" if self.up >= of else "degraded" if self.up >= need else "lost"
        detail = f"{fmt.number(self.up)}/{of} up, need {need}"
        if self.empty:
            detail += " (the query returned no series: counted as 0 up)"
        leader = None
        if self.leaders is not None:
            if not self.leaders:
                detail += "; no leader"
            elif len(self.leaders) == 1:
                leader = self.leaders[0]
                detail += f"; leader {leader}"
            else:
                leader = ",".join(self.leaders)
                detail += f"; {len(self.leaders)} leaders: {leader}"
        elif self.leader_error:
            detail += f"; leader unknown ({self.leader_error})"
        return {"state": state, "value": self.up, "detail": detail, "leader": leader}


class _ThresholdModel(QueryPanelModel):
    """A panel with ``warn``/``crit`` thresholds on the value of one query."""

    spec: ThresholdPanel

    def __init__(self, spec: ThresholdPanel, refresh: float) -> None:
        super().__init__(spec.title or f"{self.kind}: {spec.query}", refresh, spec.unit)
        self.warn = spec.warn
        self.crit = spec.crit

    def queries(self) -> dict[str, str]:
        return {"value": self.spec.query}

    def _limits(self) -> str:
        parts = []
        if self.warn is not None:
            parts.append(f"warn {fmt.number(self.warn)}")
        if self.crit is not None:
            parts.append(f"crit {fmt.number(self.crit)}")
        return ", ".join(parts)


class LagModel(_ThresholdModel):
    """Per-label values (one per ``by`` label); the worst one sets the state."""

    kind = "lag"
    spec: LagPanel

    def __init__(self, spec: LagPanel, refresh: float) -> None:
        self.spec = spec
        super().__init__(spec, refresh)

    def _observe(self, series: list[Series], results: Mapping[str, Outcome], at: float) -> str:
        self._record(series, at, by=self.spec.by)
        if self.current:
            self.history.add(at, max(self.current.values()))
        return ""

    def _view(self) -> dict[str, object]:
        if not self.current:
            return {"state": "unknown", "detail": self._no_data()}
        worst_key = max(self.current, key=lambda k: self.current[k])
        worst = self.current[worst_key]
        limits = self._limits()
        detail = f"max {fmt.number(worst, self.unit)} on {worst_key}"
        return {
            "state": level(worst, self.warn, self.crit),
            "value": worst,
            "detail": detail + (f" ({limits})" if limits else ""),
        }


class BacklogModel(_ThresholdModel):
    """A queue depth (summed over the series): rate, trend, and ETA to empty or to crit."""

    kind = "backlog"
    spec: BacklogPanel

    def __init__(self, spec: BacklogPanel, refresh: float) -> None:
        self.spec = spec
        super().__init__(spec, refresh)
        self.total: float | None = None
        self.rate: float | None = None
        self.trend = "unknown"

    def _observe(self, series: list[Series], results: Mapping[str, Outcome], at: float) -> str:
        self._record(series, at)
        if not series:
            self.total, self.rate, self.trend = None, None, "unknown"
            return ""
        self.total = sum(s.value for s in series)
        self.history.add(at, self.total)
        self.rate, self.trend = trend_of(self.history.since(at - self.spec.window))
        return ""

    def eta(self) -> tuple[float | None, str | None]:
        """Seconds until the backlog is empty (draining) or reaches crit (growing)."""
        if self.total is None or self.rate is None or self.trend == "flat":
            return None, None
        if self.trend == "draining":
            return max(0.0, self.total / -self.rate), "empty"
        if self.trend == "growing" and self.crit is not None and self.total < self.crit:
            return (self.crit - self.total) / self.rate, "crit"
        return None, None

    def _view(self) -> dict[str, object]:
        if self.total is None:
            return {"state": "unknown", "detail": self._no_data()}
        eta_s, eta_to = self.eta()
        detail = fmt.number(self.total, self.unit)
        if self.rate is not None:
            detail += f", {fmt.rate(self.rate)} {self.trend}"
        else:
            detail += ", trend unknown (needs two samples)"
        if eta_to == "empty":
            detail += f", empty in {fmt.eta(eta_s)}"
        elif eta_to == "crit":
            detail += f", crit in {fmt.eta(eta_s)}"
        limits = self._limits()
        return {
            "state": level(self.total, self.warn, self.crit),
            "value": self.total,
            "detail": detail + (f" ({limits})" if limits else ""),
            "rate": self.rate,
            "trend": self.trend,
            "eta_s": None if eta_s is None else round(eta_s, 1),
            "eta_to": eta_to,
        }


class StatModel(_ThresholdModel):
    """A single value."""

    kind = "stat"
    spec: StatPanel

    def __init__(self, spec: StatPanel, refresh: float) -> None:
        self.spec = spec
        super().__init__(spec, refresh)
        self.stat: float | None = None

    def _observe(self, series: list[Series], results: Mapping[str, Outcome], at: float) -> str:
        if len(series) > 1:
            return (
                f"the query returned {len(series)} series; a stat panel shows one value: "
                "aggregate it (e.g. sum(...)) or filter it"
            )
        self._record(series, at)
        self.stat = series[0].value if series else None
        if self.stat is not None:
            self.history.add(at, self.stat)
        return ""

    def _view(self) -> dict[str, object]:
        if self.stat is None:
            return {"state": "unknown", "detail": self._no_data()}
        limits = self._limits()
        return {
            "state": level(self.stat, self.warn, self.crit),
            "value": self.stat,
            "detail": fmt.number(self.stat, self.unit) + (f" ({limits})" if limits else ""),
        }


class AlertsModel(PanelModel):
    """The firing alerts: ``crit`` when a critical one is not silenced, ``warn`` for others."""

    kind = "alerts"

    def __init__(self, spec: AlertsPanel, refresh: float) -> None:
        super().__init__(spec.title or "firing alerts", refresh)
        self.alerts: list[Alert] | None = None

    def update_alerts(self, alerts: Sequence[Alert], at: float) -> None:
        """Take the alerts fetched at ``at``."""
        self.alerts = list(alerts)
        loud = [a for a in self.alerts if not a.suppressed]
        counts: dict[str, float] = {}
        for alert in loud:
            counts[alert.alertname or "?"] = counts.get(alert.alertname or "?", 0) + 1
        self.current = counts
        self.history.add(at, len(loud))
        self._good(at)

    def _view(self) -> dict[str, object]:
        if self.alerts is None:
            return {"state": "unknown", "detail": ""}
        loud = [a for a in self.alerts if not a.suppressed]
        quiet = len(self.alerts) - len(loud)
        if any(a.severity in ("critical", "page") for a in loud):
            state = "crit"
        else:
            state = "warn" if loud else "ok"
        detail = f"{len(loud)} firing" + (f", {quiet} silenced or inhibited" if quiet else "")
        if loud:
            detail += ": " + ", ".join(sorted({a.alertname or "?" for a in loud}))
        return {"state": state, "value": float(len(loud)), "detail": detail}


def build_panel(spec: Panel, refresh: float) -> PanelModel:
    """The model for one configured panel."""
    if isinstance(spec, QuorumPanel):
        return QuorumModel(spec, refresh)
    if isinstance(spec, LagPanel):
        return LagModel(spec, refresh)
    if isinstance(spec, BacklogPanel):
        return BacklogModel(spec, refresh)
    if isinstance(spec, StatPanel):
        return StatModel(spec, refresh)
    return AlertsModel(spec, refresh)
