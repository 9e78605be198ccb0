"""``promql`` blocks: one instant query, judged series by series.

Any object with ``async query(promql) -> [series with .labels and .value]`` can answer: the
telemetry's ``PrometheusSource`` (the one client of the configured Prometheus, with its
explicit timeout and single retry) or the drill's simulated Prometheus. Execution never builds
a source: whoever assembles the session (the workspace, ``run``) hands it the one the telemetry
poller uses. Each series of the result is judged as its own "node", named by its labels
(``prometheus`` for a scalar or a label-less series).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from console.config import display_url
from console.source_errors import SourceUnavailable

PROMETHEUS_NODE = "prometheus"


class SeriesLike(Protocol):
    """One series of an instant query's result, as any PromQL source returns it."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def value(self) -> float: ...


class PromQLSource(Protocol):
    """Something that answers instant queries."""

    async def query(self, promql: str) -> Sequence[SeriesLike]:
        """The series ``promql`` evaluates to now."""
        ...


class UnbuiltSource:
    """Stands in for a configured Prometheus whose client could not be built (bad credentials
    or TLS files, already reported): each query fails, so the block is an error, not a crash."""

    def __init__(self, url: str) -> None:
        self.url = display_url(url)

    async def query(self, promql: str) -> Sequence[SeriesLike]:
        """Fail: there is no client to ask."""
        raise SourceUnavailable(
            "prometheus", self.url, "no client: the telemetry source could not be set up"
        )


def series_name(labels: Mapping[str, str]) -> str:
    """A series' name as people write it: ``{instance="m1:2379",job="etcd"}``."""
    if not labels:
        return PROMETHEUS_NODE
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else name
