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
        say: "PagerDuty: etcdMembersDown fired for m2"
        set: [{name: etcd_server_has_leader, labels: {instance: m2}, value: 0}]
        fire: [{alertname: etcdMembersDown, labels: {instance: m2}}]
    hand_injects:                        # fired by the facilitator, by name
      - name: m3-disk
        say: "m3 is now showing disk latency warnings"
        fire: [{alertname: EtcdHighFsyncDurations, labels: {instance: m3}}]
    responses:
      - on: name=m2
        match: 'systemctl restart etcd'
        exit: 0
        delay: 2s
        effects:
          set: [{name: etcd_server_has_leader, labels: {instance: m2}, value: 1}]
          resolve: [etcdMembersDown]
    vars: {member: m2}                   # the runbook's variables on this scenario's path
    expected:                            # the path, in order; a mapping gives more than the id
      - quorum
      - {block: endpoint-status, verdict: fail}   # fails by design: m2 is down
      - {block: restart, nodes: [m2]}
      - member-healthy

Every error names the file, line and key, like the config and runbooks.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from console.config import Panel
from console.durations import Duration
from console.errors import Problem, ProblemList, SourceError
from console.patterns import Regex
from console.promql import PromQLError, parse_query, unsupported_constructs
from console.runbook.library import Library
from console.runbook.model import Runbook
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

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


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
        return _text_map(value)


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


class HandInject(Effects):
    """An inject the facilitator fires by hand, by ``name``, when the room needs it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    say: str = ""


class Reply(Strict):
    """What a simulated node answers: output, exit status, how long it takes, its effects."""

    stdout: str = ""
    stderr: str = ""
    exit: int = 0
    delay: Duration = 0.0
    hang: bool = False
    effects: Effects = Field(default_factory=Effects)


class Response(Reply):
    """A scripted reply of a node to a command matching ``match`` (a regex search)."""

    on: SelectorText = "all"
    match: Regex
    after: Duration = 0.0
    when: str | None = None  # PromQL over the simulated series; the reply applies if non-empty


class ExpectedBlock(Strict):
    """A block on the scenario's expected path: its final verdict and, for an action, the nodes
    it should run on (``run --scenario`` exits 0 only when the run matches)."""

    block: str
    verdict: Literal["pass", "fail", "error", "indeterminate"] = "pass"
    nodes: list[str] | None = None

    @classmethod
    def of(cls, value: Any) -> Any:
        """A bare block id means ``{block: id}`` (expected to pass)."""
        return {"block": value} if isinstance(value, str) else value


class Scenario(Strict):
    """A whole drill scenario."""

    title: str
    description: str = ""
    truth: str = ""  # what really happened: the facilitator's screen only
    runbook: str | None = None
    nodes: list[SimNode] = Field(min_length=1)
    panels: list[Panel] = Field(default_factory=list)
    refresh: Duration = 2.0
    series: list[SeriesSet] = Field(default_factory=list)
    alerts: list[AlertSpec] = Field(default_factory=list)
    timeline: list[Inject] = Field(default_factory=list)
    hand_injects: list[HandInject] = Field(default_factory=list)
    responses: list[Response] = Field(default_factory=list)
    default_response: Reply = Field(
        default_factory=lambda: Reply(
            exit=127, stderr="drill: no scripted response for this command\n"
        )
    )
    vars: dict[str, str] = Field(default_factory=dict)
    expected: list[ExpectedBlock] = Field(default_factory=list)
    file: str = ""

    @field_validator("expected", mode="before")
    @classmethod
    def _expected(cls, value: Any) -> Any:
        return [ExpectedBlock.of(v) for v in value] if isinstance(value, list) else value

    @field_validator("vars", mode="before")
    @classmethod
    def _vars(cls, value: Any) -> Any:
        return _text_map(value)

    def is_for(self, runbook: Runbook) -> bool:
        """Whether ``vars:`` and ``expected:`` are ``runbook``'s: the scenario names it (by id
        or file stem, as the console finds it), or names no runbook at all."""
        return self.runbook is None or Library([runbook]).by_id(self.runbook) is not None

    @property
    def expected_ids(self) -> list[str]:
        """The expected path's block ids, in order."""
        return [e.block for e in self.expected]


def _text_map(value: Any) -> Any:
    """A YAML mapping of scalars as text (labels, ``vars:``): ``{zone: 2}`` -> ``{"zone": "2"}``.

    A value that is not a scalar is left for validation to refuse with its line.
    """
    if isinstance(value, dict):
        return {str(k): _scalar_text(v) for k, v in value.items()}
    return value


def _scalar_text(value: Any) -> Any:
    """A YAML scalar as the text a ``--var`` would give (``2`` -> ``"2"``); others unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


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
    names = {"nodes": [n.name for n in scenario.nodes]}
    names["hand_injects"] = [h.name for h in scenario.hand_injects]
    for section, listed in names.items():
        _check_unique(section, listed, file, doc.lines, problems)
    ids = scenario.expected_ids
    for index, block in enumerate(ids):
        if block in ids[:index]:
            problems.add(
                file,
                doc.lines.line_for(("expected", index)),
                f"block {block!r} is on the expected path twice",
                key=f"expected[{index}]",
            )
    if problems:
        raise SourceError(problems)
    return scenario


def _check_unique(
    section: str, names: list[str], file: str | Path, lines: LineMap, problems: ProblemList
) -> None:
    """Each name in ``section`` (nodes, hand injects) is used once: a second one is a problem."""
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.add(
                file,
                lines.line_for((section, index)),
                f"duplicate {section.rstrip('s').replace('_', ' ')} name {name!r}",
                key=f"{section}[{index}].name",
            )


def _check_when(
    scenario: Scenario, file: str | Path, lines: LineMap, problems: ProblemList
) -> None:
    """Parse every response's ``when:`` and every panel's query now, so a bad one (or one the
    simulator cannot evaluate) is a problem at load, not mid-drill."""
    located: list[tuple[Path_, str | None]] = [
        (("responses", index, "when"), response.when)
        for index, response in enumerate(scenario.responses)
    ]
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


def path_problems(scenario: Scenario, blocks: Collection[str], runbook: str) -> list[Problem]:
    """Blocks of the ``expected:`` path that ``runbook`` (whose block ids are ``blocks``) does
    not have, each at its line in the scenario: a path no run can follow."""
    problems = ProblemList()
    unknown = [i for i, e in enumerate(scenario.expected) if e.block not in blocks]
    if not unknown:
        return []
    doc = load_yaml(read_source_or_raise(Path(scenario.file), "scenario"), scenario.file)
    for index in unknown:
        line = doc.lines.line_for(("expected", index)) if doc else 1
        block = scenario.expected[index].block
        problems.add(
            scenario.file,
            line,
            f"block {block!r} is not in the runbook {runbook}",
            key=f"expected[{index}]",
        )
    return problems.items


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    return parse_scenario(read_source_or_raise(path, "scenario"), path)
