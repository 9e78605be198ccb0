"""Judging what a block produced against its ``expect`` (pure: no I/O).

A node's verdict is one of:

- ``pass`` / ``fail``: the command ran to the end and its result did or did not meet the
  expectation;
- ``error``: it could not run (unreachable, authentication, host key);
- ``indeterminate``: it timed out, was cancelled, or the connection dropped mid-command, so it
  may have taken effect. An indeterminate action is never reported as pass or fail.

Defaults when the author wrote nothing: shell blocks must exit 0; http blocks must answer with
a status below 400; a promql block must return at least one sample.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from console.runbook.jsonpath import MISSING, Missing, get_path, parse_path
from console.runbook.languages import block_format
from console.runbook.model import Expect, JsonExpect, SameExpect, TextMatch

Verdict = Literal["pass", "fail", "error", "indeterminate"]
Outcome = Literal["completed", "error", "timeout", "lost", "cancelled"]

VERDICT_ORDER: tuple[Verdict, ...] = ("indeterminate", "error", "fail", "pass")
"""Worst first: a block takes the worst verdict of its nodes."""


@dataclass(frozen=True)
class Observation:
    """What one node (or one PromQL series, or one HTTP exchange) produced."""

    node: str
    lang: str = "sh"
    exit: int | None = None
    signal: str | None = None
    stdout: str = ""
    stderr: str = ""
    value: float | None = None
    status: int | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Judgement:
    """A verdict and the reasons for it (empty for a plain pass)."""

    verdict: Verdict
    reasons: tuple[str, ...] = ()
    value: float | None = None

    @property
    def reason(self) -> str:
        """The reasons as one line."""
        return "; ".join(self.reasons)


def verdict_for(outcome: Outcome) -> Verdict | None:
    """The verdict an outcome forces, or ``None`` when the expectation decides."""
    if outcome == "error":
        return "error"
    if outcome in ("timeout", "lost", "cancelled"):
        return "indeterminate"
    return None


def block_verdict(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The worst of the node verdicts (``None`` when there are none)."""
    present = set(verdicts)
    return next((v for v in VERDICT_ORDER if v in present), None)


def judge(expect: Expect | None, obs: Observation) -> Judgement:
    """Judge one completed run against ``expect`` (``same`` is judged across nodes)."""
    expect = expect or Expect()
    reasons: list[str] = []
    value: float | None = obs.value
    try:
        language = block_format(obs.lang)
    except KeyError:
        reasons.append(f"unknown block language {obs.lang!r}")
    else:
        reasons, value = language.judge(expect, obs)
    return Judgement("fail" if reasons else "pass", tuple(reasons), value)


def exit_problems(allowed: list[int] | None, obs: Observation) -> list[str]:
    """Why the exit status is not one of ``allowed`` (default 0)."""
    wanted = allowed if allowed is not None else [0]
    if obs.exit is None:
        how = f"killed by signal {obs.signal}" if obs.signal else "ended without an exit status"
        return [f"{how}, expected exit {_alternatives(wanted)}"]
    if obs.exit not in wanted:
        return [f"exit {obs.exit}, expected {_alternatives(wanted)}"]
    return []


def status_problems(allowed: list[int] | None, status: int | None) -> list[str]:
    """Why the HTTP status is not one of ``allowed`` (default: below 400)."""
    if status is None:
        return ["no HTTP status"]
    if allowed is None:
        return [] if status < 400 else [f"HTTP {status}, expected a status below 400"]
    if status not in allowed:
        return [f"HTTP {status}, expected {_alternatives(allowed)}"]
    return []


def _alternatives(values: Sequence[int]) -> str:
    return " or ".join(str(v) for v in values)


def text_problems(
    name: str, tests: list[TextMatch] | None, text: str, truncated: bool
) -> list[str]:
    """Why ``text`` (named ``name``) misses any of the substring or regex ``tests``."""
    out: list[str] = []
    for test in tests or []:
        if not test.found_in(text):
            what = (
                f"does not match /{test.text}/" if test.regex else f"does not contain {test.text!r}"
            )
            out.append(f"{name} {what}{_truncated_note(truncated)}")
    return out


def _truncated_note(truncated: bool) -> str:
    return " (the output was truncated; only the kept part was searched)" if truncated else ""


def number_in(text: str) -> tuple[float | None, str | None]:
    """The number ``text`` holds, or why it holds none."""
    stripped = text.strip()
    try:
        return float(stripped), None
    except ValueError:
        shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
        return None, f"stdout is not a number: {shown!r}"


def show_number(value: float) -> str:
    """A number as messages show it: ``3`` rather than ``3.0``."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(value)


def _load_json(text: str, where: str, truncated: bool) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"{where} is not JSON: {exc}{_truncated_note(truncated)}"


def json_problems(
    tests: list[JsonExpect] | None, text: str, where: str, truncated: bool
) -> list[str]:
    """Why ``text`` (named ``where``) is not JSON or fails any of the JSON ``tests``."""
    if not tests:
        return []
    data, why = _load_json(text, where, truncated)
    if why is not None:
        return [why]
    return [r for r in (json_problem(t, data) for t in tests) if r is not None]


def json_problem(test: JsonExpect, data: Any) -> str | None:
    """Why ``data`` fails the JSON test, or ``None`` if it passes."""
    found = get_path(data, parse_path(test.path))
    if test.exists is False:
        return None if isinstance(found, Missing) else f"{test.path} exists, expected none"
    if isinstance(found, Missing):
        return f"{test.path} is missing"
    if "equals" in test.model_fields_set:
        if not json_equal(found, test.equals):
            return f"{test.path} is {_show(found)}, expected {_show(test.equals)}"
    elif test.value is not None:
        number = _asnumber_in(found)
        if number is None:
            return f"{test.path} is {_show(found)}, not a number"
        if not test.value.holds(number):
            return f"{test.path} is {show_number(number)}, which does not hold {test.value.text!r}"
    elif test.matches is not None:
        text = found if isinstance(found, str) else _canonical(found)
        if not test.matches.found_in(text):
            return (
                f"{test.path} is {_show(found)}, which does not match {_show_match(test.matches)}"
            )
    return None


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values where ``true`` is not ``1`` (Python's ``True == 1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _asnumber_in(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _show(value: Any) -> str:
    text = _canonical(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _show_match(test: TextMatch) -> str:
    return f"/{test.text}/" if test.regex else repr(test.text)


# -- same: cross-node agreement --------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """The outcome of a ``same`` check: the value each node had, and who disagreed."""

    values: dict[str, str]
    failures: dict[str, str]

    @property
    def agreed(self) -> bool:
        """True when every node had the same value."""
        return not self.failures


def same_value(same: SameExpect, obs: Observation) -> str | Missing:
    """The part of a node's output that must agree: whole output, a JSON path or a capture."""
    text = block_format(obs.lang).same_text(obs)
    if same.json_path is not None:
        try:
            data = json.loads(text)
        except ValueError:
            return MISSING
        found = get_path(data, parse_path(same.json_path))
        return found if isinstance(found, Missing) else _canonical(found)
    pattern = same.pattern
    if pattern is not None:
        match = re.search(pattern, text, re.MULTILINE)
        return MISSING if match is None or match.group(1) is None else match.group(1)
    return text.rstrip()


def judge_same(same: SameExpect, observations: Sequence[Observation]) -> Agreement:
    """Compare the nodes' values; nodes outside the strict majority fail (all, if none).

    Only nodes whose command completed take part: a node that errored or timed out has no
    output to compare, and its own verdict already says so.
    """
    what = _same_what(same)
    values: dict[str, str | Missing] = {o.node: same_value(same, o) for o in observations}
    shown = {n: ("<missing>" if isinstance(v, Missing) else v) for n, v in values.items()}
    failures: dict[str, str] = {}
    for node, value in values.items():
        if isinstance(value, Missing):
            failures[node] = f"same: {what} not found in this node's output"
    present = Counter(v for v in values.values() if not isinstance(v, Missing))
    if len(present) > 1 or (present and failures):
        ranked = present.most_common()
        majority: str | None = None
        if ranked and ranked[0][1] * 2 > len(values):
            majority = ranked[0][0]
        summary = ", ".join(
            f"{_short(v)} on {', '.join(sorted(n for n, x in values.items() if x == v))}"
            for v, _ in ranked
        )
        for node, value in values.items():
            if isinstance(value, Missing) or value == majority:
                continue
            if majority is None:
                failures[node] = f"same: nodes disagree on {what} ({summary})"
            else:
                failures[node] = (
                    f"same: {what} is {_short(value)} here but {_short(majority)} on the "
                    f"majority ({summary})"
                )
    return Agreement(shown, failures)


def _same_what(same: SameExpect) -> str:
    if same.json_path is not None:
        return same.json_path
    if same.regex is not None:
        return f"the capture of /{same.pattern}/"
    return "the output"


def _short(value: str) -> str:
    text = value.replace("\n", "\\n")
    return repr(text if len(text) <= 40 else text[:37] + "...")
