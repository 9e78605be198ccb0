"""The telemetry engine: poll the sources every ``refresh``, update the panels, journal changes.

One poll runs every panel query (each distinct PromQL once) and the alert fetch concurrently,
each bounded by its source's timeout (a Prometheus query may first wait, within a separate
limit, for a free query slot: see ``console.telemetry.prometheus``), then:

- feeds each panel model its results (or the failure text),
- marks each source up or down — down when none of its requests got a usable answer — and
  emits ``source.down`` / ``source.up`` on transitions only,
- diffs the alerts against the previous successful fetch and emits ``alert.firing`` /
  ``alert.resolved`` (never while the alert source is down: an unreachable Alertmanager does
  not resolve anything),
- hands the new ``TelemetryState`` to subscribers (the TUI).

``record_snapshot`` journals every panel's value (``metric.snapshot``) on demand: on step
entry and after each action.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

from console.config import Config
from console.journal.events import MetricSnapshot, Payload, SourceDown, SourceUp
from console.journal.sink import EventSink
from console.source_errors import SourceUnavailable, TelemetryError
from console.telemetry.alerts import Alert
from console.telemetry.panels import (
    AlertsModel,
    Failed,
    Outcome,
    PanelModel,
    QueryPanelModel,
    Series,
    build_panel,
)
from console.telemetry.source import MetricSource
from console.telemetry.state import SourceHealth, TelemetryState

if TYPE_CHECKING:  # the HTTP sources import httpx: only when a real source is built
    from console.telemetry.alertmanager import AlertmanagerSource
    from console.telemetry.silences import Silences

MIN_REFRESH = 0.1
PROBE_QUERY = "time()"
"""Asked of Prometheus when neither a panel nor the alerts need it, so its health is known."""

NO_PROMETHEUS = "no prometheus configured: add prometheus: {url: ...} to console.yaml"
NO_ALERT_SOURCE = "no alert source configured: add alertmanager: or prometheus: to console.yaml"

Listener = Callable[[TelemetryState], None]


def _failure(exc: Exception, source: MetricSource | AlertmanagerSource) -> TelemetryError:
    """Any exception from a source call, as a telemetry error (unexpected ones count as down)."""
    if isinstance(exc, TelemetryError):
        return exc
    message = f"unexpected error: {type(exc).__name__}: {exc}"
    return SourceUnavailable(source.name, source.url, message)


class TelemetryPoller:
    """Polls Prometheus and Alertmanager for the configured panels; see the module doc."""

    def __init__(
        self,
        config: Config,
        sink: EventSink | None = None,
        *,
        prometheus: MetricSource | None = None,
        alertmanager: AlertmanagerSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Build the sources from ``config`` (unless given); raises ``SourceConfigError`` when
        a source's credentials or TLS files cannot be used."""
        self.refresh = max(config.refresh, MIN_REFRESH)
        self.sink = sink
        if prometheus is None and config.prometheus is not None:
            from console.telemetry.prometheus import PrometheusSource

            prometheus = PrometheusSource(config.prometheus)
        if alertmanager is None and config.alertmanager is not None:
            from console.telemetry.alertmanager import AlertmanagerSource

            alertmanager = AlertmanagerSource(config.alertmanager)
        self.prometheus = prometheus
        self.alertmanager = alertmanager
        self.silences: Silences | None = None
        if alertmanager is not None:
            from console.telemetry.silences import Silences

            self.silences = Silences(alertmanager, sink)
        """Silence operations; ``None`` without an Alertmanager (Prometheus cannot silence)."""
        self.panels: list[PanelModel] = [build_panel(p, self.refresh) for p in config.panels]
        self._clock = clock
        self._wall = wall_clock
        self._health: dict[str, SourceHealth] = {}
        for source in (prometheus, alertmanager):
            if source is not None:
                self._health[source.name] = SourceHealth(source.name, source.url, None)
        self._alerts: dict[str, Alert] | None = None
        self._alerts_error: str | None = None
        self._polls = 0
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []

    @property
    def alert_source(self) -> AlertmanagerSource | MetricSource | None:
        """Where alerts come from: Alertmanager, else Prometheus' own alerts API."""
        return self.alertmanager or self.prometheus

    async def __aenter__(self) -> TelemetryPoller:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the sources' connections."""
        for source in (self.prometheus, self.alertmanager):
            if source is not None:
                await source.aclose()

    # -- polling -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll every ``refresh`` until cancelled."""
        while True:
            started = time.monotonic()
            await self.poll_once()
            await asyncio.sleep(max(0.0, self.refresh - (time.monotonic() - started)))

    async def poll_once(self) -> TelemetryState:
        """Poll every source once, update the panels, emit events; return the new state."""
        async with self._lock:
            at = self._clock()
            (outcomes, prom_errors, prom_answers), alerts = await asyncio.gather(
                self._query_all(), self._fetch_alerts()
            )
            events: list[Payload] = []
            self._update_panels(outcomes, alerts, at)
            if isinstance(alerts, list):
                events.extend(self._diff_alerts(alerts))
            if self.prometheus is not None:
                if self.alert_source is self.prometheus:
                    prom_answers += isinstance(alerts, list)
                    if isinstance(alerts, TelemetryError):
                        prom_errors.append(alerts)
                events.extend(self._set_health(self.prometheus, prom_answers, prom_errors, at))
            if self.alertmanager is not None:
                am_errors = [alerts] if isinstance(alerts, TelemetryError) else []
                answers = 0 if am_errors else 1
                events.extend(self._set_health(self.alertmanager, answers, am_errors, at))
            self._polls += 1
            for payload in sorted(events, key=lambda p: not p.TYPE.startswith("source.")):
                if self.sink is not None:
                    await self.sink.emit(payload)
            state = self.snapshot()
        for listener in list(self._listeners):
            listener(state)
        return state

    async def _query_all(self) -> tuple[dict[str, Outcome], list[TelemetryError], int]:
        """Run each distinct panel query once; return outcomes, source failures, answers."""
        promqls = sorted(
            {q for p in self.panels if isinstance(p, QueryPanelModel) for q in p.queries().values()}
        )
        if self.prometheus is None:
            return {q: Failed(NO_PROMETHEUS) for q in promqls}, [], 0
        prometheus = self.prometheus

        async def one(promql: str) -> list[Series] | TelemetryError:
            try:
                return await prometheus.query(promql)
            except Exception as exc:  # a source failure must never stop the poller
                return _failure(exc, prometheus)

        probe = [] if self.alert_source is prometheus else [PROBE_QUERY]
        asked = promqls or probe
        results = await asyncio.gather(*(one(q) for q in asked))
        outcomes: dict[str, Outcome] = {}
        errors: list[TelemetryError] = []
        answers = 0
        for promql, result in zip(asked, results, strict=True):
            if isinstance(result, SourceUnavailable):
                errors.append(result)
            else:
                answers += 1
            outcomes[promql] = Failed(str(result)) if isinstance(result, TelemetryError) else result
        return outcomes, errors, answers

    async def _fetch_alerts(self) -> list[Alert] | TelemetryError | None:
        """The active alerts, the failure, or ``None`` without an alert source."""
        source = self.alert_source
        if source is None:
            return None
        try:
            return await source.alerts()
        except Exception as exc:  # a source failure must never stop the poller
            return _failure(exc, source)

    def _update_panels(
        self, outcomes: dict[str, Outcome], alerts: list[Alert] | TelemetryError | None, at: float
    ) -> None:
        for panel in self.panels:
            if isinstance(panel, QueryPanelModel):
                results = {name: outcomes[q] for name, q in panel.queries().items()}
                panel.update(results, at)
            elif isinstance(panel, AlertsModel):
                if isinstance(alerts, list):
                    panel.update_alerts(alerts, at)
                else:
                    panel.fail(str(alerts) if alerts is not None else NO_ALERT_SOURCE)
        if isinstance(alerts, list):
            self._alerts_error = None
        else:
            self._alerts_error = str(alerts) if alerts is not None else NO_ALERT_SOURCE

    def _diff_alerts(self, alerts: list[Alert]) -> list[Payload]:
        current = {a.fingerprint: a for a in alerts}
        previous = self._alerts or {}
        self._alerts = current
        events: list[Payload] = [
            a.firing_event() for fp, a in current.items() if fp not in previous
        ]
        ended = self._wall()
        events.extend(a.resolved_event(ended) for fp, a in previous.items() if fp not in current)
        return events

    def _set_health(
        self,
        source: MetricSource | AlertmanagerSource,
        answers: int,
        errors: list[TelemetryError],
        at: float,
    ) -> list[Payload]:
        """Mark ``source`` up (it answered something) or down; return the transition events."""
        old = self._health[source.name]
        up = answers > 0 or not errors
        error = None if up else errors[0].message
        since = old.since if old.up is up and old.since is not None else at
        self._health[source.name] = SourceHealth(source.name, source.url, up, error, since)
        if up and old.up is False:
            down_for = round(at - old.since, 3) if old.since is not None else None
            return [SourceUp(source=source.name, url=source.url, down_for_s=down_for)]
        if not up and old.up is not False:
            return [SourceDown(source=source.name, url=source.url, error=error or "")]
        return []

    # -- state for the screen and the journal ------------------------------------------------

    def snapshot(self) -> TelemetryState:
        """The current state, with panel ages as of now (a stopped poller goes stale)."""
        now = self._clock()
        return TelemetryState(
            at=now,
            wall=self._wall(),
            panels=tuple(p.value(now) for p in self.panels),
            alerts=tuple((self._alerts or {}).values()),
            alerts_error=self._alerts_error,
            alert_source=self.alert_source.name if self.alert_source else None,
            sources=tuple(self._health.values()),
            polls=self._polls,
        )

    async def record_snapshot(
        self, reason: str = "manual", *, refresh: bool = False
    ) -> MetricSnapshot:
        """Journal every panel's value (``metric.snapshot``), polling first if ``refresh``.

        Call it on step entry (``reason="step"``) and after each action (``"action"``).
        """
        state = await self.poll_once() if refresh else self.snapshot()
        payload = MetricSnapshot(reason=reason, panels=list(state.panels))
        if self.sink is not None:
            await self.sink.emit(payload)
        return payload

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each new state after a poll; return the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def updates(self) -> AsyncIterator[TelemetryState]:
        """Each new state after a poll; a slow reader skips to the newest state."""
        queue: asyncio.Queue[TelemetryState] = asyncio.Queue(maxsize=1)

        def put(state: TelemetryState) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(state)

        unsubscribe = self.subscribe(put)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()
