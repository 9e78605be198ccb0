"""The one text sparkline: ``status``, the TUI's panels and the Markdown postmortem draw with it.

Values that are not finite (NaN, ±Infinity: Prometheus can return them, and a log can hold
them) are skipped, so they neither crash the drawing nor flatten every other point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

SPARKS = "▁▂▃▄▅▆▇█"


def finite(values: Iterable[float]) -> list[float]:
    """``values`` without NaN and ±Infinity, in order."""
    return [v for v in values if math.isfinite(v)]


def sparkline(values: Iterable[float], width: int | None = None) -> str:
    """``▁▃▇█``: one block a value, scaled from the lowest to the highest, for the last
    ``width`` finite values (all when ``width`` is None); empty for fewer than two."""
    points = finite(values)
    if width is not None:
        points = points[-width:]
    if len(points) < 2:
        return ""
    low, high = min(points), max(points)
    if high == low:
        return SPARKS[0] * len(points)
    scale = (len(SPARKS) - 1) / (high - low)
    return "".join(SPARKS[round((v - low) * scale)] for v in points)
