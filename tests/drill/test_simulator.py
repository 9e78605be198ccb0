"""The drill core: clock, scenario validation, the PromQL subset and the simulated cluster."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from console.drill.clock import DrillClock
from console.drill.scenario import load_scenario, parse_scenario
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
    assert [a.alertname for a in happened[0].fired] == ["etcdMembersDown"]
    assert sim.query("sum(etcd_server_has_leader)") == [({}, 2.0)]
    down, _ = sim.respond("m2", "etcdctl endpoint status -w json")
    assert down.exit == 1 and "connection refused" in down.stderr
    healthy, _ = sim.respond("m1", "etcdctl endpoint status -w json")
    assert healthy.exit == 0 and '"leader"' in healthy.stdout
    wrong, effect = sim.respond("m1", "systemctl restart etcd")
    assert wrong.exit == 1 and effect is None
    restart, effect = sim.respond("m2", "systemctl restart etcd")
    assert restart.delay == 3 and effect is not None
    assert [a.alertname for a in effect.resolved] == ["etcdMembersDown"] and not sim.alerts
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
