"""Numbers, rates and ETAs written for people at a glance (shared by panels and the status view)."""

from __future__ import annotations

import math

from console.durations import format_duration


def number(value: float | None, unit: str = "") -> str:
    """``12,345``, ``0.25``, ``1.5e+09`` — whole numbers without decimals, others to 3 digits."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        text = str(value)
    elif value == int(value) and abs(value) < 1e15:
        text = f"{int(value):,}"
    elif abs(value) >= 1e6 or abs(value) < 1e-3:
        text = f"{value:.3g}"
    else:
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".rstrip() if unit else text


def rate(per_second: float | None, unit: str = "") -> str:
    """A signed rate per second, or per minute when it is slow: ``+40/s``, ``-3/min``."""
    if per_second is None:
        return "-"
    sign = "+" if per_second >= 0 else "-"
    magnitude = abs(per_second)
    suffix = f" {unit}" if unit else ""
    if magnitude and magnitude < 0.1:
        return f"{sign}{number(round(magnitude * 60, 2))}{suffix}/min"
    return f"{sign}{number(round(magnitude, 2))}{suffix}/s"


def eta(seconds: float | None) -> str:
    """An ETA: ``45s``, ``3m``, ``2h5m``, or ``>1d`` past a day."""
    if seconds is None:
        return "-"
    if seconds > 86400:
        return ">1d"
    return format_duration(round(seconds) if seconds >= 60 else round(seconds, 1))
