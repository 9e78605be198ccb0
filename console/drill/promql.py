"""PromQL in drills: the simulator's series as a Prometheus scraping them would hold them.

The grammar and the evaluator are ``console.promql`` (Prometheus's semantics, compared with a
real Prometheus by ``tests/drill/test_promql_differential.py``); this module hands them the
series' samples (``Series.samples``: one every ``SCRAPE_INTERVAL`` and one at each change).
Drill time is the evaluation time, in seconds since the drill started, so ``time()`` is too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from console.drill.series import SeriesStore
from console.promql import MAX_DEPTH, PromQLError, evaluate_instant

Sample = tuple[dict[str, str], float]

__all__ = ["MAX_DEPTH", "PromQLError", "Sample", "StoreSource", "evaluate"]


class StoreSource:
    """The store's series as samples (ms, value) up to drill time ``until``."""

    def __init__(self, store: SeriesStore, until: float, origin: float = 0.0) -> None:
        self._store = store
        self._until = until
        self._origin = origin

    def series(
        self, name: str | None
    ) -> Iterator[tuple[Mapping[str, str], Sequence[tuple[int, float]]]]:
        """Each series with metric name ``name`` (every series for ``None``)."""
        for series in self._store.select(name) if name is not None else self._store.all():
            samples = [
                (round((self._origin + t) * 1000), float(v)) for t, v in series.samples(self._until)
            ]
            yield {**series.labels, "__name__": series.name}, samples


def evaluate(
    query: str,
    store: SeriesStore,
    t: float,
    *,
    horizon: float | None = None,
    origin: float = 0.0,
) -> list[Sample]:
    """Evaluate ``query`` at drill time ``t`` over samples up to ``horizon`` (by default ``t``:
    no later sample exists yet); a scalar comes back as one sample without labels.

    ``origin`` is the Unix time of drill time 0 (0: ``time()`` counts drill seconds).
    """
    until = t if horizon is None else horizon
    source = StoreSource(store, until, origin)
    result = evaluate_instant(query, source, round((origin + t) * 1000))
    if isinstance(result, str):
        raise PromQLError("the query returns a string, not a number or series")
    if isinstance(result, float):
        return [({}, result)]
    return [(point.labels, point.value) for point in result]
