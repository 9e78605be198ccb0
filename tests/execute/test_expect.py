"""Expectations (console/runbook/expect.py): pure judging of one node, and ``same`` across nodes."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.runbook.expect import (
    Observation,
    Verdict,
    block_verdict,
    json_equal,
    judge,
    judge_same,
    verdict_for,
)
from console.runbook.model import Expect, SameExpect


def sh(
    stdout: str = "", *, exit: int | None = 0, stderr: str = "", node: str = "m1"
) -> Observation:
    return Observation(node, "sh", exit=exit, stdout=stdout, stderr=stderr)


def expect(**data: object) -> Expect:
    return Expect.model_validate(data)


def test_shell_blocks_must_exit_zero_by_default() -> None:
    assert judge(None, sh()).verdict == "pass"
    failed = judge(None, sh(exit=3))
    assert failed.verdict == "fail"
    assert failed.reason == "exit 3, expected 0"


def test_exit_takes_a_list_and_a_signal_is_not_an_exit() -> None:
    allowed = expect(exit=[0, 3])
    assert judge(allowed, sh(exit=3)).verdict == "pass"
    killed = judge(allowed, Observation("m1", "sh", exit=None, signal="KILL"))
    assert killed.verdict == "fail"
    assert "killed by signal KILL" in killed.reason


def test_stdout_and_stderr_substrings_and_regexes() -> None:
    rule = expect(stdout=["leader", "/term=[0-9]+/"], stderr="warn")
    assert judge(rule, sh("leader term=12", stderr="warn: x")).verdict == "pass"
    result = judge(rule, sh("follower term=x", stderr=""))
    assert result.verdict == "fail"
    assert result.reasons == (
        "stdout does not contain 'leader'",
        "stdout does not match /term=[0-9]+/",
        "stderr does not contain 'warn'",
    )


def test_a_truncated_output_says_so_when_a_search_fails() -> None:
    obs = Observation("m1", "sh", exit=0, stdout="abc", truncated=True)
    assert "truncated" in judge(expect(stdout="zzz"), obs).reason


@pytest.mark.parametrize(
    ("rule", "stdout", "verdict"),
    [
        ("< 100", "99\n", "pass"),
        ("< 100", "100", "fail"),
        (">= 2", " 2 ", "pass"),
        ("between 0 10", "10", "pass"),
        ("between 0 10", "10.5", "fail"),
        ("!= 0", "0", "fail"),
        (3, "3.0", "pass"),
    ],
)
def test_value_compares_stdout_as_a_number(rule: object, stdout: str, verdict: str) -> None:
    result = judge(expect(value=rule), sh(stdout))
    assert result.verdict == verdict
    assert result.value == float(stdout)


def test_value_of_non_numeric_output_fails_with_the_text() -> None:
    result = judge(expect(value="> 1"), sh("lots\n"))
    assert result.verdict == "fail"
    assert result.reason == "stdout is not a number: 'lots'"


def test_json_tests_equals_value_matches_exists() -> None:
    out = json.dumps({"leader": "m1", "term": 7, "ok": True, "members": [{"id": "a"}]})
    rule = expect(
        json=[
            {"path": ".leader", "equals": "m1"},
            {"path": ".term", "value": "> 5"},
            {"path": ".members[0].id", "matches": "/^[a-z]$/"},
            {"path": ".ok", "equals": True},
            {"path": ".gone", "exists": False},
            {"path": ".term"},
        ]
    )
    assert judge(rule, sh(out)).verdict == "pass"


def test_json_failures_name_the_path_and_the_value() -> None:
    out = json.dumps({"leader": "m2", "term": "x", "ok": 1})
    rule = expect(
        json=[
            {"path": ".leader", "equals": "m1"},
            {"path": ".term", "value": "> 5"},
            {"path": ".missing", "equals": 1},
            {"path": ".ok", "equals": True},
        ]
    )
    result = judge(rule, sh(out))
    assert result.reasons == (
        '.leader is "m2", expected "m1"',
        '.term is "x", not a number',
        ".missing is missing",
        ".ok is 1, expected true",
    )


def test_output_that_is_not_json_fails_clearly() -> None:
    result = judge(expect(json={"path": ".a", "equals": 1}), sh("not json"))
    assert result.verdict == "fail"
    assert result.reason.startswith("stdout is not JSON:")


def test_http_defaults_to_a_status_below_400_and_checks_body_and_json() -> None:
    ok = Observation("h", "http", status=204, stdout="")
    assert judge(None, ok).verdict == "pass"
    assert judge(None, Observation("h", "http", status=503)).reason == (
        "HTTP 503, expected a status below 400"
    )
    rule = expect(status=[200], body="healthy", json={"path": ".health", "equals": "true"})
    good = Observation("h", "http", status=200, stdout='{"health": "true", "x": "healthy"}')
    assert judge(rule, good).verdict == "pass"
    bad = judge(rule, Observation("h", "http", status=200, stdout='{"health": true}'))
    assert bad.reasons == (
        "body does not contain 'healthy'",
        '.health is true, expected "true"',
    )


def test_promql_needs_a_sample_and_checks_value() -> None:
    assert judge(None, Observation("prometheus", "promql")).reason == (
        "the query returned no samples"
    )
    assert judge(expect(value=">= 2"), Observation("p", "promql", value=3)).verdict == "pass"
    low = judge(expect(value=">= 2"), Observation("p", "promql", value=1))
    assert low.reason == "value 1 does not hold '>= 2'"


def test_outcomes_that_force_a_verdict() -> None:
    assert verdict_for("error") == "error"
    assert verdict_for("timeout") == "indeterminate"
    assert verdict_for("lost") == "indeterminate"
    assert verdict_for("cancelled") == "indeterminate"
    assert verdict_for("completed") is None


def test_block_verdict_is_the_worst_node_verdict() -> None:
    assert block_verdict([]) is None
    assert block_verdict(["pass", "pass"]) == "pass"
    assert block_verdict(["pass", "fail"]) == "fail"
    assert block_verdict(["fail", "error", "pass"]) == "error"
    assert block_verdict(["fail", "indeterminate", "error"]) == "indeterminate"


VERDICTS: list[Verdict] = ["pass", "fail", "error", "indeterminate"]


@given(st.lists(st.sampled_from(VERDICTS), min_size=1))
def test_block_verdict_never_hides_an_indeterminate_node(verdicts: list[Verdict]) -> None:
    result = block_verdict(verdicts)
    assert result in verdicts
    if "indeterminate" in verdicts:
        assert result == "indeterminate"
    elif result == "pass":
        assert set(verdicts) == {"pass"}


def test_same_whole_output_agrees_or_names_the_odd_node() -> None:
    same = SameExpect()
    agreed = judge_same(same, [sh("v1\n", node="a"), sh("v1", node="b"), sh("v1\n\n", node="c")])
    assert agreed.agreed
    odd = judge_same(same, [sh("v1", node="a"), sh("v2", node="b"), sh("v1", node="c")])
    assert set(odd.failures) == {"b"}
    assert "'v2' here but 'v1' on the majority" in odd.failures["b"]


def test_same_without_a_majority_fails_every_node() -> None:
    result = judge_same(SameExpect(), [sh("x", node="a"), sh("y", node="b")])
    assert set(result.failures) == {"a", "b"}
    assert "disagree" in result.failures["a"]


def test_same_on_a_json_path_and_a_missing_path() -> None:
    same = SameExpect.model_validate({"json": ".[0].Status.leader"})
    outs = [json.dumps([{"Status": {"leader": 42, "me": n}}]) for n in "abc"]
    observed = [sh(o, node=n) for o, n in zip(outs, "abc", strict=True)]
    assert judge_same(same, observed).agreed
    observed.append(sh("[]", node="d"))
    result = judge_same(same, observed)
    assert result.failures == {"d": "same: .[0].Status.leader not found in this node's output"}
    assert result.values["d"] == "<missing>"


def test_same_on_a_regex_capture() -> None:
    same = SameExpect.model_validate({"regex": "/revision: (\\d+)/"})
    observed = [
        sh("member a\nrevision: 10\n", node="a"),
        sh("member b\nrevision: 10\n", node="b"),
        sh("member c\nrevision: 9\n", node="c"),
    ]
    result = judge_same(same, observed)
    assert set(result.failures) == {"c"}
    assert result.values == {"a": "10", "b": "10", "c": "9"}


def test_same_on_promql_values() -> None:
    same = SameExpect()
    observed = [Observation(f"s{i}", "promql", value=v) for i, v in enumerate([1.0, 1.0, 2.5])]
    assert set(judge_same(same, observed).failures) == {"s2"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(json_values)
def test_json_equal_is_reflexive_and_survives_a_round_trip(value: object) -> None:
    assert json_equal(value, value)
    assert json_equal(json.loads(json.dumps(value)), value)


@given(st.integers(min_value=-5, max_value=5))
def test_json_equal_keeps_booleans_apart_from_numbers(number: int) -> None:
    assert not json_equal(True, number)
    assert not json_equal(number, False)


@given(st.lists(st.text(alphabet="ab", min_size=1, max_size=3), min_size=1, max_size=7))
def test_same_fails_exactly_the_nodes_outside_a_strict_majority(outputs: list[str]) -> None:
    observed = [sh(o, node=f"n{i}") for i, o in enumerate(outputs)]
    result = judge_same(SameExpect(), observed)
    counts = {o: outputs.count(o) for o in outputs}
    top = max(counts.values())
    winners = [o for o, c in counts.items() if c == top]
    if len(counts) == 1:
        assert result.agreed
    elif top * 2 > len(outputs):
        assert set(result.failures) == {f"n{i}" for i, o in enumerate(outputs) if o != winners[0]}
    else:
        assert set(result.failures) == {f"n{i}" for i in range(len(outputs))}


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_value_round_trips_any_printed_number(number: float) -> None:
    result = judge(expect(value=f"== {number!r}"), sh(f"{number!r}\n"))
    assert result.verdict == "pass"
    assert math.isclose(result.value or 0.0, number) or number == 0.0
