"""Drill scenarios: a simulated cluster, a timeline of injects, scripted replies.

A scenario is YAML::

    title: etcd member m2 lost
    runbook: etcd-member-down            # the runbook the trainee should reach
    nodes:
      - {name: m1, roles: [etcd]}
    series:                              # simulated metrics (PromQL over them works)
      - {name: etcd_server_has_leader, labels: {instance: m1}, value: 1}
      - {name: dlq_depth, labels: {queue: orders}, value: 120, slope: 2}   # +2 per second
    alerts: []                           # alerts firing at the start
    timeline:
      - at: 30s
        say: "PagerDuty: EtcdMemberDown fired for m2"
        set: [{name: etcd_server_has_leader, labels: {instance: m2}, value: 0}]
        fire: [{alertname: EtcdMemberDown, labels: {instance: m2}}]
    responses:
      - on: name=m2
        match: 'systemctl restart etcd'
        exit: 0
        delay: 2s
        effects:
          set: [{name: etcd_server_has_leader, labels: {instance: m2}, value: 1}]
          resolve: [EtcdMemberDown]
    expected: [quorum, endpoint-status, restart, member-healthy]

Every error names the file, line and key, like the config and runbooks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from console.config import Panel
from console.durations import Duration
from console.errors import ProblemList, SourceError
from console.patterns import Regex
from console.promql import PromQLError, parse_query, unsupported_constructs
from console.selector import SelectorText
from console.yamlsrc import (
    LineMap,
    Path_,
    dotted,
    load_yaml,
    read_source_or_raise,
    validation_problems,
)

_METRIC = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")


class Strict(BaseModel):
    """Base: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SimNode(Strict):
    """A node of the simulated cluster."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    host: str = ""
    roles: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class SeriesSet(Strict):
    """Set a series' value and/or its slope (change per drill second)."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    value: float | None = None
    slope: float | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _METRIC.match(value):
            raise ValueError(f"bad metric name {value!r}")
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class AlertSpec(Strict):
    """An alert the simulator fires."""

    alertname: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    severity: str | None = None


class Effects(Strict):
    """What happens to the simulated cluster: series change, alerts fire or resolve."""

    set: list[SeriesSet] = Field(default_factory=list)
    fire: list[AlertSpec] = Field(default_factory=list)
    resolve: list[str] = Field(default_factory=list)


class Inject(Effects):
    """A timeline entry: at a drill time, say something and/or change the cluster."""

    at: Duration
    say: str = ""


class Response(Strict):
    """A scripted reply of a node to a command matching ``match`` (a regex search)."""

    on: SelectorText = "all"
    match: Regex
    after: Duration = 0.0
    when: str | None = None  # PromQL over the simulated series; the reply applies if non-empty
    stdout: str = ""
    stderr: str = ""
    exit: int = 0
    delay: Duration = 0.0
    hang: bool = False
    effects: Effects = Field(default_factory=Effects)


class Scenario(Strict):
    """A whole drill scenario."""

    title: str
    description: str = ""
    runbook: str | None = None
    nodes: list[SimNode] = Field(min_length=1)
    panels: list[Panel] = Field(default_factory=list)
    refresh: Duration = 2.0
    series: list[SeriesSet] = Field(default_factory=list)
    alerts: list[AlertSpec] = Field(default_factory=list)
    timeline: list[Inject] = Field(default_factory=list)
    responses: list[Response] = Field(default_factory=list)
    default_response: Response = Field(
        default_factory=lambda: Response(
            match=".*", exit=127, stderr="drill: no scripted response for this command\n"
        )
    )
    expected: list[str] = Field(default_factory=list)
    file: str = ""


def parse_scenario(text: str, file: str | Path) -> Scenario:
    """Validate scenario ``text``; raise ``SourceError`` naming every problem's line and key."""
    problems = ProblemList()
    doc = load_yaml(text, file, problems=problems)
    if doc is None:
        raise SourceError(problems)
    data = doc.data
    if not isinstance(data, dict):
        problems.add(file, 1, "a scenario is a YAML mapping (title, nodes, series, timeline, ...)")
        raise SourceError(problems)
    if "file" in data:
        problems.add(file, doc.lines.line_for(("file",)), "unknown key", key="file")
        raise SourceError(problems)
    try:
        scenario = Scenario.model_validate({**data, "file": str(file)})
    except ValidationError as exc:
        problems.extend(validation_problems(exc, file, doc.lines, data=data))
        raise SourceError(problems) from None
    _check_when(scenario, file, doc.lines, problems)
    names = [n.name for n in scenario.nodes]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.add(
                file,
                doc.lines.line_for(("nodes", index)),
                f"duplicate node name {name!r}",
                key=f"nodes[{index}].name",
            )
    if problems:
        raise SourceError(problems)
    return scenario


def _check_when(
    scenario: Scenario, file: str | Path, lines: LineMap, problems: ProblemList
) -> None:
    """Parse every response's ``when:`` and every panel's query now, so a bad one (or one the
    simulator cannot evaluate) is a problem at load, not mid-drill."""
    located: list[tuple[Path_, str | None]] = [
        (("responses", index, "when"), response.when)
        for index, response in enumerate(scenario.responses)
    ]
    located.append((("default_response", "when"), scenario.default_response.when))
    for index, panel in enumerate(scenario.panels):
        for key in ("query", "leader_query"):
            located.append((("panels", index, key), getattr(panel, key, None)))
    for loc, query in located:
        if query is None:
            continue
        what = "when" if loc[-1] == "when" else "query"
        try:
            missing = unsupported_constructs(parse_query(query))
        except PromQLError as exc:
            problems.add(file, lines.line_for(loc), f"bad {what}: {exc}", key=dotted(loc))
            continue
        if missing:
            why = f"bad {what}: the drill simulator cannot evaluate {missing[0]}"
            problems.add(file, lines.line_for(loc), why, key=dotted(loc))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    return parse_scenario(read_source_or_raise(path, "scenario"), path)
