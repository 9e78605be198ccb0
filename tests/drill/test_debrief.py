"""The debrief, computed from a drill's events."""

from __future__ import annotations

from pathlib import Path

from console.drill.debrief import debrief
from console.drill.scenario import load_scenario
from console.journal.chain import GENESIS
from console.journal.events import (
    AlertFiring,
    AlertResolved,
    BlockFinished,
    BlockStarted,
    MilestoneSet,
    Payload,
    StepSkipped,
)
from console.journal.fold import fold
from console.journal.sink import seal

SCENARIO = Path(__file__).resolve().parents[2] / "console/data/scenarios/etcd-member-down.yaml"


def events(*timed: tuple[int, Payload]):  # type: ignore[no-untyped-def]
    out, prev = [], GENESIS
    for seq, (second, payload) in enumerate(timed):
        ts = f"2026-11-23T03:{12 + second // 60:02d}:{second % 60:02d}.000000Z"
        event = seal(
            payload,
            seq=seq,
            prev=prev,
            incident="INC-d",
            actor="t",
            mode="drill",
            ts=ts,
            mono=float(second),
        )
        prev = event.hash
        out.append(event)
    return out


def run(block: str, verdict: str, n: int) -> list[Payload]:
    return [
        BlockStarted(run=f"r{n}", block=block, kind="check", lang="sh", command="x", nodes=["m1"]),
        BlockFinished(run=f"r{n}", block=block, verdict=verdict),  # type: ignore[arg-type]
    ]


def test_debrief_scores_the_path_and_the_times() -> None:
    scenario = load_scenario(SCENARIO)
    fired = AlertFiring(fingerprint="f", alertname="EtcdMemberDown", source="drill")
    timed: list[tuple[int, Payload]] = [(0, fired)]
    timed += [(30, p) for p in run("endpoint-status", "fail", 1)]
    timed += [(40, p) for p in run("quorum", "pass", 2)]
    timed += [(50, MilestoneSet(name="acknowledged"))]
    timed += [(60, p) for p in run("restart", "pass", 3)]
    timed += [(70, p) for p in run("uptime", "pass", 4)]
    timed += [(80, StepSkipped(step="hand-back", number=5, title="Hand back", reason="drill"))]
    timed += [(95, AlertResolved(fingerprint="f", alertname="EtcdMemberDown", source="drill"))]
    state = fold(events(*timed))
    result = debrief(scenario, state)
    assert result.time_to_acknowledge == 50
    assert result.time_to_mitigate == 95  # derived: the alert resolved
    assert result.ran == ["endpoint-status", "quorum", "restart", "uptime"]
    assert result.out_of_order == ["quorum"]  # it should have come first
    assert result.missing == ["member-log", "member-healthy", "leader-agreement"]
    assert result.extra == ["uptime"]
    assert result.failed == ["endpoint-status"]
    assert result.skipped_steps == ["Hand back"]
    lines = result.lines()
    assert "time to acknowledge: 50s" in lines and "expected path: 3/6 done" in lines
