"""The debrief, computed from a drill's events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from console.drill.debrief import debrief
from console.drill.scenario import load_scenario
from console.journal.chain import GENESIS
from console.journal.events import (
    ActionConfirmed,
    AlertFiring,
    AlertResolved,
    BlockFinished,
    BlockStarted,
    DrillInject,
    MilestoneSet,
    Payload,
    StepSkipped,
)
from console.journal.fold import fold
from console.journal.sink import seal
from console.report.postmortem import build_postmortem

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


def run(
    block: str,
    verdict: str,
    n: int,
    *,
    kind: str = "check",
    nodes: tuple[str, ...] = ("m1",),
    requires: tuple[str, ...] = (),
) -> list[Payload]:
    started = BlockStarted(
        run=f"r{n}",
        block=block,
        kind=kind,  # type: ignore[arg-type]
        lang="sh",
        command="x",
        nodes=list(nodes),
        requires=list(requires),
    )
    return [started, BlockFinished(run=f"r{n}", block=block, verdict=verdict)]  # type: ignore[arg-type]


FIRED = AlertFiring(
    fingerprint="f",
    alertname="etcdMembersDown",
    source="drill",
    starts_at=datetime(2026, 11, 23, 3, 11, 55, tzinfo=UTC),  # 5s before it was seen
)


def drill_log() -> list[Payload | tuple[int, Payload]]:
    """A drill where the trainee strays: quorum late, restart on the wrong member, no TTM."""
    timed: list[tuple[int, Payload]] = [
        (0, DrillInject(at_s=5, description="The pager goes off")),
        (0, FIRED),
    ]
    timed += [(30, p) for p in run("endpoint-status", "pass", 1)]  # the scenario expects fail
    timed += [(40, p) for p in run("quorum", "pass", 2)]
    timed += [(41, p) for p in run("disk-free", "pass", 3)]
    timed += [(45, DrillInject(at_s=50, description="facilitator: pause"))]
    timed += [(48, DrillInject(at_s=50, description="m3 shows disk latency"))]
    timed += [(50, MilestoneSet(name="acknowledged"))]
    timed += [(60, ActionConfirmed(run="r4", block="restart", nodes=["m3"]))]
    timed += [
        (60, p)
        for p in run(
            "restart", "pass", 4, kind="action", nodes=("m3",), requires=("quorum", "disk-free")
        )
    ]
    timed += [(70, p) for p in run("uptime", "pass", 5)]
    timed += [(80, StepSkipped(step="hand-back", number=5, title="Hand back", reason="drill"))]
    timed += [(95, AlertResolved(fingerprint="f", alertname="etcdMembersDown", source="drill"))]
    return timed  # type: ignore[return-value]


def test_debrief_scores_the_path() -> None:
    result = debrief(load_scenario(SCENARIO), fold(events(*drill_log())))  # type: ignore[arg-type]
    assert result.ran == ["endpoint-status", "quorum", "disk-free", "restart", "uptime"]
    assert result.out_of_order == ["quorum"]  # it should have come first
    assert result.missing == ["member-log", "member-healthy", "leader-agreement"]
    assert result.required == ["disk-free"]  # required by restart: on the path, not extra
    assert result.extra == ["uptime"]
    assert result.verdicts == ["endpoint-status pass (expected fail)"]
    assert result.wrong_nodes == ["restart on m3 (expected m2)"]
    assert result.skipped_steps == ["Hand back"]
    assert len(result.deviations) == 3 + 1 + 1 + 1 + 1
    pager, latency = result.responses  # the facilitator's pause is not an inject to answer
    assert (pager.seconds, pager.response) == (30, "check endpoint-status started")
    assert (latency.seconds, latency.response) == (2, "marked acknowledged")
    lines = result.lines()
    assert "expected path: 3/6 done (with disk-free, which it requires)" in lines
    assert "not on the expected path: uptime" in lines


def test_debrief_figures_are_the_exports_with_where_they_come_from() -> None:
    log = events(*drill_log())  # type: ignore[arg-type]
    result = debrief(load_scenario(SCENARIO), fold(log))
    postmortem = build_postmortem(log, log_name="x")
    exported = postmortem.drill_figures or postmortem.figures
    assert exported is not None
    mine = {f.name: (f.seconds, f.text) for f in result.figures.lines}
    assert mine == {f.name: (f.seconds, f.text) for f in exported.figures}
    assert mine["TTA"] == (55, "55s") and mine["TTR"] == (100, "1m40s")
    lines = result.lines()
    assert lines[0] == (
        "figures (from impact started, inferred: etcdMembersDown startsAt at 2026-11-23 03:11:55Z):"
    )
    tta, ttm, ttr = (
        next(x for x in lines if x.strip().startswith(n)) for n in ("TTA", "TTM", "TTR")
    )
    assert tta.endswith("acknowledged: marked by you at 2026-11-23 03:12:50Z")
    # nothing was marked mitigated: no figure, and no silent fall-back to the alert resolving
    assert ttm.split()[1] == "n/a" and ttm.endswith("mitigated: not marked")
    assert ttr.endswith(
        "resolved: inferred: last alert (etcdMembersDown) resolved at 2026-11-23 03:13:35Z"
    )
