"""PromQL in drills: the grammar, Prometheus's semantics, and the five silent mismatches that a
comparison with Prometheus 2.42 found in the old simulator (each has a regression test here;
``test_promql_differential.py`` compares the whole query list with a real Prometheus)."""

from __future__ import annotations

import contextlib
import math
import statistics
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.drill.clock import DrillClock
from console.drill.promql import PromQLError, evaluate
from console.drill.scenario import parse_scenario
from console.drill.series import SeriesStore
from console.drill.simulator import Simulator
from console.errors import SourceError
from console.promql import MAX_DEPTH, evaluate_instant, parse_query, unsupported_constructs
from console.promql.evaluate import STALE_NAN
from console.promql.gosemantics import format_go_float


def store() -> SeriesStore:
    s = SeriesStore()
    for node in ("m1", "m2", "m3"):
        s.set("up", {"instance": node, "job": "etcd"}, 0, value=1)
    s.set("dlq_depth", {"queue": "orders"}, 0, value=100, slope=2)
    s.set("dlq_depth", {"queue": "bills"}, 0, value=7)
    s.set("up", {"instance": "m2", "job": "etcd"}, 30, value=0)
    return s


def up(node: str) -> dict[str, str]:
    return {"__name__": "up", "instance": node, "job": "etcd"}


@pytest.mark.parametrize(
    ("query", "t", "expected"),
    [
        ("sum(up)", 10, [({}, 3.0)]),
        ("sum(up)", 31, [({}, 2.0)]),
        ('up{instance="m2"}', 31, [(up("m2"), 0.0)]),
        ('count(up{instance=~"m[13]"})', 0, [({}, 2.0)]),
        ("up == 0", 31, [(up("m2"), 0.0)]),
        ("sum(up == bool 1)", 31, [({}, 2.0)]),
        ("sum by (queue) (dlq_depth)", 10, [({"queue": "orders"}, 120.0), ({"queue": "bills"}, 7.0)]),  # noqa: E501
        ('rate(dlq_depth{queue="orders"}[1m])', 120, [({"queue": "orders"}, 2.0)]),
        ('increase(dlq_depth{queue="orders"}[1m])', 120, [({"queue": "orders"}, 120.0)]),
        ("max(dlq_depth) / 2", 0, [({}, 50.0)]),
        ("1 + 2 * 3", 0, [({}, 7.0)]),
        ("count(nothing)", 0, []),
        ("time()", 42, [({}, 42.0)]),
        ('absent(nothing{job="x"})', 0, [({"job": "x"}, 1.0)]),
        ("topk(1, dlq_depth)", 10, [({"__name__": "dlq_depth", "queue": "orders"}, 120.0)]),
        ("max_over_time(up[1m])", 40, [({"instance": n, "job": "etcd"}, 1.0) for n in ("m1", "m2", "m3")]),  # noqa: E501
        ('up{instance="m2"} offset 20s', 40, [(up("m2"), 1.0)]),
        ('up{instance="m1"} and on(instance) up == 1', 40, [(up("m1"), 1.0)]),
        ("min_over_time(sum(up)[1m:10s])", 60, [({}, 2.0)]),
    ],
)  # fmt: skip
def test_prometheus_semantics_over_simulated_series(query: str, t: float, expected: list) -> None:  # type: ignore[type-arg]
    assert sorted(evaluate(query, store(), t), key=str) == sorted(expected, key=str)


# -- the five silent mismatches ------------------------------------------------------------------


def test_regex_with_a_backslash_matches_and_a_when_clause_using_one_fires(tmp_path: Path) -> None:
    s = store()
    assert {lab["instance"] for lab, _ in evaluate('up{instance=~"m\\\\d"}', s, 40)} == {
        "m1",
        "m2",
        "m3",
    }
    scenario = parse_scenario(
        textwrap.dedent("""
            title: member down
            nodes: [{name: m2, roles: [etcd]}]
            series:
              - {name: up, labels: {instance: m2}, value: 0}
            responses:
              - on: name=m2
                match: 'etcdctl endpoint health'
                when: 'up{instance=~"m\\\\d"} == 0'
                exit: 1
                stderr: "connection refused"
        """),
        tmp_path / "s.yaml",
    )
    sim = Simulator(scenario, DrillClock(now=lambda: 0.0))
    reply, _ = sim.respond("m2", "etcdctl endpoint health")
    assert reply.exit == 1 and reply.stderr == "connection refused"


def test_a_scenario_panel_query_the_simulator_cannot_answer_is_a_load_problem(
    tmp_path: Path,
) -> None:
    text = textwrap.dedent("""
        title: t
        nodes: [{name: m1}]
        panels:
          - {kind: backlog, title: ok, query: 'sum(dlq_depth)'}
          - {kind: backlog, title: broken, query: 'sum(dlq_depth'}
          - {kind: backlog, title: native, query: 'histogram_sum(x)'}
    """).lstrip()
    with pytest.raises(SourceError) as caught:
        parse_scenario(text, tmp_path / "s.yaml")
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 's.yaml'}:5: bad query: unclosed left parenthesis [panels[1].query]",
        f"{tmp_path / 's.yaml'}:6: bad query: the drill simulator cannot evaluate the function "
        "histogram_sum() [panels[2].query]",
    ]


def test_a_when_clause_prometheus_would_refuse_is_an_error_reply_not_a_crash(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(
        textwrap.dedent("""
            title: t
            nodes: [{name: m1}]
            series: [{name: up, labels: {instance: m1}, value: 1},
                     {name: up, labels: {instance: m2}, value: 1}]
            responses:
              - {match: 'other', when: 'up + on() up', stdout: never asked}
              - {match: 'status', when: 'up * on() up', stdout: healthy}
        """),
        tmp_path / "s.yaml",
    )
    sim = Simulator(scenario, DrillClock(now=lambda: 0.0))
    reply, effect = sim.respond("m1", "status")
    assert reply.exit == 2 and effect is None
    assert reply.stderr.startswith("drill: responses[1].when cannot be evaluated: found duplicate")


@pytest.mark.parametrize(
    ("query", "expected"),
    [("sum(up) / 0", math.inf), ("-sum(up) / 0", -math.inf), ("(sum(up) - 3) / 0", None)],
)
def test_division_by_zero_is_infinite_as_in_prometheus(query: str, expected: float | None) -> None:
    [(_, value)] = evaluate(query, store(), 10)
    assert math.isnan(value) if expected is None else value == expected


def test_rate_and_increase_over_a_window_longer_than_the_drill_are_extrapolated() -> None:
    s = SeriesStore()
    s.set("requests_total", {}, 0, value=100, slope=2)
    # 60 drill seconds of samples (0, 5, ..., 60) under a 10m window: Prometheus extrapolates
    # towards the window's start by half a sample interval (the counter's zero point is
    # further away), and rate() divides by the whole window.
    [(_, increase)] = evaluate("increase(requests_total[10m])", s, 60)
    [(_, rate)] = evaluate("rate(requests_total[10m])", s, 60)
    assert increase == pytest.approx(120 * 62.5 / 60)
    assert rate == pytest.approx(120 * 62.5 / 60 / 600)


def test_deriv_is_a_least_squares_fit_not_the_end_points() -> None:
    s = SeriesStore()
    s.set("queue_depth", {}, 0, value=0)
    s.set("queue_depth", {}, 30, value=10)
    times = [float(t) for t in range(0, 61, 5)]
    values = [0.0 if t < 30 else 10.0 for t in times]
    slope = statistics.linear_regression(times, values).slope
    [(_, deriv)] = evaluate("deriv(queue_depth[1m])", s, 60)
    assert deriv == pytest.approx(slope) and deriv != pytest.approx(10 / 60)
    [(_, predicted)] = evaluate("predict_linear(queue_depth[1m], 60)", s, 60)
    intercept = statistics.linear_regression(times, values).intercept
    assert predicted == pytest.approx(intercept + slope * 120)


def test_scalar_comparison_without_bool_is_refused() -> None:
    with pytest.raises(PromQLError, match="comparisons between scalars must use BOOL modifier"):
        evaluate("1 > 2", store(), 0)
    assert evaluate("1 > bool 2", store(), 0) == [({}, 0.0)]


# -- lookback, staleness, raw strings, refusals ------------------------------------------------


class Samples:
    """A sample source over fixed samples."""

    def __init__(self, samples: list[tuple[int, float]]) -> None:
        self.samples = samples

    def series(
        self, name: str | None
    ) -> Iterator[tuple[Mapping[str, str], Sequence[tuple[int, float]]]]:
        yield {"__name__": "g"}, self.samples


def test_lookback_is_five_minutes_and_a_staleness_marker_ends_a_series() -> None:
    source = Samples([(0, 1.0), (10_000, 2.0)])
    assert [p.value for p in evaluate_instant("g", source, 310_000)] == [2.0]  # type: ignore[union-attr]
    assert evaluate_instant("g", source, 310_001) == []
    stale = Samples([(0, 1.0), (10_000, STALE_NAN)])
    assert evaluate_instant("g", stale, 20_000) == []
    [point] = evaluate_instant("count_over_time(g[1m])", stale, 20_000)  # type: ignore[misc]
    assert point.value == 1.0


def test_backtick_strings_are_raw() -> None:
    s = SeriesStore()
    s.set("weird", {"path": "C:\\temp"}, 0, value=1)
    assert evaluate("weird{path=`C:\\temp`}", s, 0) == [
        ({"__name__": "weird", "path": "C:\\temp"}, 1.0)
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("histogram_count(x)", "cannot evaluate the function histogram_count()"),
        ("up[5m]", "returns a range vector"),
        ("rate(up)", "expected type matrix in call to function 'rate', got vector"),
        ("up{job=etcd}", ""),
        ("sum(up", ""),
        ('"text"', "returns a string"),
        ("(" * 1000 + "1" + ")" * 1000, f"nested more than {MAX_DEPTH} levels"),
        ("-" * 1000 + "1", f"nested more than {MAX_DEPTH} levels"),
        ("1" + "+1" * 20000, "longer than"),
        ("up or up" * 200, "nested more than"),
        ("max_over_time(up[30d:1s])", "more than 20000 steps"),
        ("max_over_time(max_over_time(up[1h:1s])[1h:1m])", "more than 20000 steps"),
    ],
)
def test_what_cannot_be_evaluated_is_a_clear_error(query: str, message: str) -> None:
    with pytest.raises(PromQLError) as info:
        evaluate(query, store(), 0)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "query",
    [
        "up offset 1e308",
        "up offset NaN",
        "up[1e308]",
        "up[5m:1e308]",
        "up @ -5",
        "up @ 1e308",
        "up @ 253402300800",
        "rate(up[0x7fffffffffffffff])",
    ],
)
def test_numbers_the_native_parser_aborts_on_are_refused_quietly(
    query: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PromQLError, match=r"out of range|before 1970"):
        evaluate(query, store(), 0)
    assert capfd.readouterr().err == ""  # no panic message reached the terminal


def test_unsupported_constructs_are_named() -> None:
    assert unsupported_constructs(parse_query("histogram_sum(x) + sum(rate(y[5m]))")) == [
        "the function histogram_sum()"
    ]
    assert unsupported_constructs(parse_query("holt_winters(x[5m], 0.5, 0.5)")) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (0.1, "0.1"), (1e21, "1000000000000000000000"), (1.5e-7, "0.00000015")],
)
def test_count_values_formats_numbers_as_go_does(value: float, text: str) -> None:
    assert format_go_float(value) == text


promql_tokens = st.lists(
    st.sampled_from(
        [
            "sum", "by", "(", ")", "up", "dlq_depth", "{", "}", "instance", "=", "=~", '"m1"',
            ",", "[", "5m", "]", "rate", "==", "bool", "/", "0", "1.5e3", "-", "+", "*", "count",
            ">", "abs", "without", "queue", "'x'", "!~", "avg", ":", "offset", "@", "`a\\`",
            "on", "group_left", "and", "or", "unless", "topk", "#", "\n", "NaN", "Inf",
            "1e308", "-5", "0x7fffffffffffffff", "@ 1e12", "offset", "[1e308]", "deriv",
        ]
    ),
    max_size=30,
).map(" ".join)  # fmt: skip


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=60), promql_tokens))
def test_promql_never_raises_anything_else(query: str) -> None:
    with contextlib.suppress(PromQLError):
        evaluate(query, store(), 45)
