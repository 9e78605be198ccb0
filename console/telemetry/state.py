"""What the telemetry shows at one moment: panels, alerts, source health, and the verdict.

A ``TelemetryState`` is plain, immutable data: the TUI draws it, ``status`` prints it, and its
panels are what ``metric.snapshot`` journals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from console.journal.events import PanelValue
from console.telemetry.alerts import Alert

Verdict = Literal["healthy", "degraded", "unreachable"]

EXIT_CODES: dict[Verdict, int] = {"healthy": 0, "degraded": 1, "unreachable": 2}

HEALTHY_STATES = ("healthy", "ok")


@dataclass(frozen=True)
class SourceHealth:
    """Whether a source answered its last poll; ``since`` is when that state began."""

    name: str
    url: str
    up: bool | None  # None: not polled yet
    error: str | None = None
    since: float | None = None  # on the poller's clock


@dataclass(frozen=True)
class TelemetryState:
    """Panels, alerts and sources as of ``at`` (the poller's clock) / ``wall`` (UTC)."""

    at: float
    wall: datetime
    panels: tuple[PanelValue, ...]
    alerts: tuple[Alert, ...]
    alerts_error: str | None
    alert_source: str | None
    sources: tuple[SourceHealth, ...]
    polls: int

    @property
    def firing(self) -> list[Alert]:
        """The alerts that are neither silenced nor inhibited."""
        return [a for a in self.alerts if not a.suppressed]

    def verdict(self) -> Verdict:
        """``unreachable`` if a source is down, ``degraded`` if a panel is not healthy or an
        alert fires unsilenced, else ``healthy``."""
        if any(s.up is False for s in self.sources):
            return "unreachable"
        if self.firing or any(p.state not in HEALTHY_STATES for p in self.panels):
            return "degraded"
        return "healthy"

    def exit_code(self) -> int:
        """0 healthy, 1 degraded or alerts firing, 2 a source unreachable."""
        return EXIT_CODES[self.verdict()]
