"""What the poller needs of a metrics source: Prometheus, or the drill's simulated one."""

from __future__ import annotations

from typing import Protocol

from console.telemetry.alerts import Alert
from console.telemetry.panels import Series


class MetricSource(Protocol):
    """Instant PromQL queries and the firing alerts, from one named place."""

    name: str
    url: str

    async def query(self, promql: str) -> list[Series]:
        """Run an instant query; raise a ``TelemetryError`` when it cannot be answered."""
        ...

    async def alerts(self) -> list[Alert]:
        """The firing alerts (Prometheus' own alerts API)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
