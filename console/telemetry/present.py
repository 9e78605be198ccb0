"""What a telemetry panel shows, decided once for ``status`` and the TUI.

Both surfaces lay out the same ``PanelView``: a title, a state label, the state name they
colour by, the detail (value, unit, trend and ETA as the panel wrote them), a trend line and
the panel's error. A stale panel's label says ``STALE`` with its age and its last detail is
marked ``last:`` (or says ``no value``), so a frozen number is never mistaken for a live one.
Every text from a source passes through ``clean`` (by default: control characters as
pictures, on one line); a surface that redacts hands its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.journal.events import PanelValue
from console.sanitize import visible
from console.sparkline import sparkline
from console.telemetry import format as fmt

SPARK_WIDTH = 20
TRENDED_KINDS = ("backlog", "lag", "stat")


def field(text: str | None) -> str:
    """One field from a source, safe on one line of a terminal."""
    return visible(text or "", one_line=True)


def panel_sparkline(panel: PanelValue) -> str:
    """The trend line a panel shows (last ``SPARK_WIDTH`` points), for the kinds that have one."""
    if panel.kind not in TRENDED_KINDS:
        return ""
    return sparkline(panel.history, SPARK_WIDTH)


@dataclass(frozen=True)
class PanelView:
    """One panel as a surface shows it; see the module doc."""

    title: str
    label: str
    """The state, or ``STALE <age>``."""
    tone: str
    """The state name a surface colours by: the panel's state, or ``stale``."""
    detail: str
    trend: str
    """The sparkline ("" for kinds without one)."""
    error: str


def present_panel(panel: PanelValue, clean: Callable[[str | None], str] = field) -> PanelView:
    """Decide what ``panel`` shows; ``clean`` makes each source text safe to show."""
    detail = clean(panel.detail)
    if panel.stale:
        label = f"STALE {fmt.eta(panel.age_s)}"
        detail = f"last: {detail}" if detail else "no value"
    else:
        label = panel.state
    return PanelView(
        title=clean(panel.title),
        label=label,
        tone="stale" if panel.stale else panel.state,
        detail=detail,
        trend=panel_sparkline(panel),
        error=clean(panel.error) if panel.error else "",
    )
