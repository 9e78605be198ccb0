"""Simulated time series: piecewise-linear values that injects and responses change."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Labels = frozenset[tuple[str, str]]

SCRAPE_INTERVAL = 5.0
"""Seconds between the samples a simulated Prometheus holds of each series."""


@dataclass
class Series:
    """One series: segments of (start drill-second, value at start, slope per second)."""

    name: str
    labels: dict[str, str]
    segments: list[tuple[float, float, float]] = field(default_factory=list)

    def value_at(self, t: float) -> float | None:
        """The value at drill time ``t`` (``None`` before the series existed)."""
        current = None
        for start, value, slope in self.segments:
            if start > t:
                break
            current = value + slope * (t - start)
        return current

    def samples(self, until: float, interval: float = SCRAPE_INTERVAL) -> list[tuple[float, float]]:
        """The samples a Prometheus scraping every ``interval`` drill seconds holds up to
        ``until``: one on each multiple of ``interval``, and one at each change (the moment an
        inject or a reply set the series), so queries see a change at once."""
        out: list[tuple[float, float]] = []
        for index, (start, value, slope) in enumerate(self.segments):
            if start > until:
                break
            end = self.segments[index + 1][0] if index + 1 < len(self.segments) else math.inf
            end = min(end, until + interval / 2)
            out.append((start, value))
            k = math.floor(start / interval) + 1
            while k * interval < end and k * interval <= until:
                out.append((k * interval, value + slope * (k * interval - start)))
                k += 1
        return out

    def slope_at(self, t: float) -> float:
        """The slope in force at ``t``."""
        slope = 0.0
        for start, _value, seg_slope in self.segments:
            if start > t:
                break
            slope = seg_slope
        return slope


class SeriesStore:
    """All simulated series, by name and label set."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, Labels], Series] = {}

    def set(
        self,
        name: str,
        labels: dict[str, str],
        t: float,
        *,
        value: float | None = None,
        slope: float | None = None,
    ) -> None:
        """From drill time ``t`` on, the series has ``value`` and/or ``slope``."""
        key = (name, frozenset(labels.items()))
        series = self._series.setdefault(key, Series(name, dict(labels)))
        current = series.value_at(t)
        new_value = value if value is not None else (current if current is not None else 0.0)
        new_slope = slope if slope is not None else series.slope_at(t)
        series.segments = [s for s in series.segments if s[0] < t]
        series.segments.append((t, new_value, new_slope))

    def select(self, name: str) -> list[Series]:
        """Every series with metric name ``name``."""
        return [s for (n, _), s in self._series.items() if n == name]

    def all(self) -> list[Series]:
        """Every series."""
        return list(self._series.values())

    def names(self) -> list[str]:
        """Every metric name."""
        return sorted({n for n, _ in self._series})
