"""``promql`` blocks: one instant query, each series judged as a node.

A check only (PromQL only reads), run from the console. Values are escaped inside a string and
must be one token elsewhere (``template.render_promql``). Without ``expect`` the query must
return a sample; ``value`` compares each series' value.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.runbook.expect import Observation, show_number
from console.runbook.languages import BodyProblem
from console.runbook.model import Block, Expect
from console.runbook.template import render_promql


@dataclass(frozen=True)
class PromQLPlan:
    """A rendered ``promql`` block: the instant query sent to Prometheus."""

    query: str

    @property
    def command_text(self) -> str:
        """The query itself."""
        return self.query


@dataclass(frozen=True)
class PromQLFormat:
    """The ``promql`` language."""

    name: str = "promql"
    runs_on_nodes: bool = False
    series_as_nodes: bool = True
    action_refusal: str | None = "PromQL only reads"
    shell_quoted: bool = False
    expect_keys: frozenset[str] = frozenset({"value"})

    def body_problems(self, kind: str, body: str) -> list[BodyProblem]:
        """The query is checked by Prometheus when it runs."""
        return []

    def render(self, block: Block, values: dict[str, str]) -> PromQLPlan:
        """The query with values escaped for PromQL."""
        return PromQLPlan(render_promql(block.body, values))

    def judge(self, expect: Expect, obs: Observation) -> tuple[list[str], float | None]:
        """A sample must be there, and hold ``value`` when given."""
        if obs.value is None:
            return ["the query returned no samples"], None
        if expect.value is not None and not expect.value.holds(obs.value):
            why = f"value {show_number(obs.value)} does not hold {expect.value.text!r}"
            return [why], obs.value
        return [], obs.value

    def same_text(self, obs: Observation) -> str:
        """The series' value as written in messages."""
        return "" if obs.value is None else show_number(obs.value)


PROMQL = PromQLFormat()
