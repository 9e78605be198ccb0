"""The drill core: clock, scenario validation, the PromQL subset and the simulated cluster."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.drill.clock import DrillClock
from console.drill.promql import PromQLError, evaluate
from console.drill.scenario import load_scenario, parse_scenario
from console.drill.series import SeriesStore
from console.drill.simulator import Simulator
from console.errors import SourceError

BUNDLED = Path(__file__).resolve().parents[2] / "console" / "data" / "scenarios"


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_clock_pause_speed_and_advance() -> None:
    now = FakeTime()
    clock = DrillClock(now=now)
    now.t = 10
    assert clock.elapsed() == 10
    clock.pause()
    now.t = 50
    assert clock.elapsed() == 10 and clock.real_seconds_until(20) == float("inf")
    clock.resume()
    clock.set_speed(4)
    now.t = 55
    assert clock.elapsed() == 30
    assert clock.real_seconds_until(38) == 2
    clock.advance(60)
    assert clock.elapsed() == 90


def store() -> SeriesStore:
    s = SeriesStore()
    for node in ("m1", "m2", "m3"):
        s.set("up", {"instance": node, "job": "etcd"}, 0, value=1)
    s.set("dlq_depth", {"queue": "orders"}, 0, value=100, slope=2)
    s.set("dlq_depth", {"queue": "bills"}, 0, value=7)
    s.set("up", {"instance": "m2", "job": "etcd"}, 30, value=0)
    return s


@pytest.mark.parametrize(
    ("query", "t", "expected"),
    [
        ("sum(up)", 10, [({}, 3.0)]),
        ("sum(up)", 31, [({}, 2.0)]),
        ('up{instance="m2"}', 31, [({"instance": "m2", "job": "etcd"}, 0.0)]),
        ('count(up{instance=~"m[13]"})', 0, [({}, 2.0)]),
        ("up == 0", 31, [({"instance": "m2", "job": "etcd"}, 0.0)]),
        ("sum(up == bool 1)", 31, [({}, 2.0)]),
        (
            "sum by (queue) (dlq_depth)",
            10,
            [({"queue": "orders"}, 120.0), ({"queue": "bills"}, 7.0)],
        ),
        ('rate(dlq_depth{queue="orders"}[1m])', 120, [({"queue": "orders"}, 2.0)]),
        ('increase(dlq_depth{queue="orders"}[1m])', 120, [({"queue": "orders"}, 120.0)]),
        ("max(dlq_depth) / 2", 0, [({}, 50.0)]),
        ("1 + 2 * 3", 0, [({}, 7.0)]),
        ("count(nothing)", 0, []),
    ],
)
def test_promql_subset(query: str, t: float, expected: list) -> None:  # type: ignore[type-arg]
    assert sorted(evaluate(query, store(), t), key=str) == sorted(expected, key=str)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("histogram_quantile(0.9, x)", "does not support the function histogram_quantile()"),
        ("up[5m]", "a range selector needs a function like rate()"),
        ("rate(up)", "up needs a range, like up[5m]"),
        ("up{job=etcd}", 'label values are quoted: job="etcd"'),
        ("sum(up", "expected ')', got 'the end'"),
    ],
)
def test_promql_unsupported_is_a_clear_error(query: str, message: str) -> None:
    with pytest.raises(
        PromQLError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        evaluate(query, store(), 0)


promql_tokens = st.lists(
    st.sampled_from(
        [
            "sum",
            "by",
            "(",
            ")",
            "up",
            "dlq_depth",
            "{",
            "}",
            "instance",
            "=",
            "=~",
            '"m1"',
            ",",
            "[",
            "5m",
            "]",
            "rate",
            "==",
            "bool",
            "/",
            "0",
            "1.5e3",
            "-",
            "+",
            "*",
            "count",
            ">",
            "abs",
            "without",
            "queue",
            "'x'",
            "!~",
            "avg",
        ]
    ),
    max_size=25,
).map(" ".join)


@given(st.one_of(st.text(max_size=40), promql_tokens))
def test_promql_never_raises_anything_else(query: str) -> None:
    with contextlib.suppress(PromQLError):
        evaluate(query, store(), 5)


def test_scenario_errors_name_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text(
        textwrap.dedent("""
        title: x
        nodes:
          - {name: m1}
          - {name: m1}
        timeline:
          - {at: soon, say: hi}
        responses:
          - {match: '(', on: name=m1}
    """).lstrip()
    )
    with pytest.raises(SourceError) as info:
        load_scenario(bad)
    assert [str(p) for p in info.value.problems] == [
        f"{bad}:6: bad duration 'soon': write it like 500ms, 5s, 2m, 1h or 1h30m [timeline[0].at]",
        f"{bad}:8: bad regex '(': missing ), unterminated subpattern at position 0 "
        "[responses[0].match]",
    ]
    with pytest.raises(SourceError) as info:
        parse_scenario("title: x\nnodes: [{name: m1}, {name: m1}]\n", bad)
    assert str(info.value.problems[0]).endswith("duplicate node name 'm1' [nodes[1].name]")


def test_bundled_scenario_plays_out() -> None:
    now = FakeTime()
    sim = Simulator(load_scenario(BUNDLED / "etcd-member-down.yaml"), DrillClock(now=now))
    assert sim.tick() == [] and sim.query("sum(etcd_server_has_leader)") == [({}, 3.0)]
    now.t = 6
    happened = sim.tick()
    assert [a.alertname for a in happened[0].fired] == ["EtcdMemberDown"]
    assert sim.query("sum(etcd_server_has_leader)") == [({}, 2.0)]
    down, _ = sim.respond("m2", "etcdctl endpoint status -w json")
    assert down.exit == 1 and "connection refused" in down.stderr
    healthy, _ = sim.respond("m1", "etcdctl endpoint status -w json")
    assert healthy.exit == 0 and '"leader"' in healthy.stdout
    wrong, effect = sim.respond("m1", "systemctl restart etcd")
    assert wrong.exit == 1 and effect is None
    restart, effect = sim.respond("m2", "systemctl restart etcd")
    assert restart.delay == 3 and effect is not None
    assert [a.alertname for a in effect.resolved] == ["EtcdMemberDown"] and not sim.alerts
    assert sim.query("sum(etcd_server_has_leader)") == [({}, 3.0)]
    back, _ = sim.respond("m2", "etcdctl endpoint status -w json")
    assert back.exit == 0
    unknown, _ = sim.respond("m1", "reboot")
    assert unknown.exit == 127 and "no scripted response" in unknown.stderr


async def test_simulated_target_plays_the_script() -> None:
    from console.drill.target import SimulatedTarget

    now = FakeTime()
    clock = DrillClock(now=now)
    sim = Simulator(load_scenario(BUNDLED / "etcd-member-down.yaml"), clock)
    now.t = 6
    sim.tick()
    process = await SimulatedTarget(sim, "m2").start("etcdctl endpoint status -w json", shell="sh")
    chunks = [c async for c in process]
    status = await process.wait()
    assert status.code == 1 and [c.stream for c in chunks] == ["stderr"]
    clock.set_speed(1000)  # a sped-up drill waits 3 drill seconds in 3 ms of its clock
    restart = await SimulatedTarget(sim, "m2").start("systemctl restart etcd", shell="sh")
    await asyncio.sleep(0.01)
    assert not restart._task.done()  # the drill clock has not moved: the delay is not over
    now.t += 0.004
    assert (await asyncio.wait_for(restart.wait(), 5)).code == 0
    assert restart.happening is not None and not sim.alerts
    # a node the scenario lacks gets the documented default reply, not an error
    unknown = await SimulatedTarget(sim, "m9").start("true", shell="sh")
    assert (await unknown.wait()).code == 127
    assert b"no scripted response" in b"".join([c.data async for c in unknown])


async def test_simulated_hang_is_killed() -> None:
    from console.drill.target import SimulatedTarget

    scenario = parse_scenario(
        "title: t\nnodes: [{name: a}]\nresponses: [{match: sleep, hang: true}]\n", "s.yaml"
    )
    process = await SimulatedTarget(Simulator(scenario), "a").start("sleep 100", shell="sh")
    report = await process.kill()
    status = await process.wait()
    assert report.done and status.signal == "KILL" and [c async for c in process] == []
