"""``promql`` blocks: one instant query, judged series by series.

Any object with ``async query(promql) -> [series with .labels and .value]`` can answer: the
telemetry's ``PrometheusSource`` (the one client of the configured Prometheus, with its
explicit timeout and single retry) or the drill's simulated Prometheus. Execution never builds
a source: whoever assembles the session (the workspace, ``run``) hands it the one the telemetry
poller uses. Each series of the result is judged as its own "node", named by its labels
(``prometheus`` for a scalar or a label-less series).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from console.config import display_url
from console.errors import Problem, SourceError
from console.execute.languages import OutputSink, Produced, RunContext
from console.runbook.blocklangs.promql import PromQLPlan
from console.runbook.expect import Observation
from console.runbook.model import Block
from console.source_errors import SourceTimedOut, SourceUnavailable

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


class PromQLRun:
    """The execute half of ``promql``: one instant query; each series becomes a node."""

    name = "promql"

    def timeout(self, block: Block, context: RunContext) -> float:
        """The block's timeout, else the Prometheus one; a config without Prometheus is refused."""
        prometheus = context.config.prometheus
        if context.promql is None and prometheus is None:
            raise SourceError(
                [
                    Problem(
                        block.file,
                        block.line,
                        f"block {block.id} is a promql block, but the config has no "
                        "prometheus: url",
                        code="config",
                    )
                ]
            )
        default = prometheus.timeout if prometheus else context.config.execution.timeout
        return block.options.timeout or default

    def node(self, block: Block, plan: PromQLPlan) -> str:
        """Results are reported as ``prometheus`` until the series are known."""
        return PROMETHEUS_NODE

    async def run(
        self,
        block: Block,
        plan: PromQLPlan,
        timeout: float,
        context: RunContext,
        output: OutputSink,
    ) -> list[Produced]:
        """Ask the session's source (an unbuilt stand-in when it could not be set up)."""
        source = context.promql
        if source is None:
            assert context.config.prometheus is not None
            source = UnbuiltSource(context.config.prometheus.url)
        limit = timeout * 2 + 1
        try:
            async with asyncio.timeout(limit):
                samples = await source.query(plan.query)
        except (SourceTimedOut, TimeoutError) as exc:
            why = str(exc) or f"no answer within {limit:g}s"
            return [Produced(PROMETHEUS_NODE, "timeout", why)]
        found = [(series_name(s.labels), float(s.value)) for s in samples]
        return [
            Produced(name, observation=Observation(name, "promql", value=value))
            for name, value in found
        ] or [Produced(PROMETHEUS_NODE, observation=Observation(PROMETHEUS_NODE, "promql"))]


PROMQL_RUN = PromQLRun()
