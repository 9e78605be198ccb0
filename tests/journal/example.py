"""A realistic, deterministic incident log: etcd member m2 down, restarted, quorum back.

Used by the export golden tests and to generate docs/sample-postmortem.md. Regenerate the golden
files and the sample with ``UPDATE_GOLDEN=1 pytest tests/journal/test_export.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.journal.events import (
    ActionConfirmed,
    AlertFiring,
    AlertResolved,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    ConfigLoaded,
    MetricSnapshot,
    MilestoneSet,
    Mode,
    NodeResult,
    Note,
    PanelValue,
    Payload,
    RunbookLoaded,
    StepEntered,
)
from console.journal.log import JournalLog

INCIDENT = "INC-20261122T101201Z-etcd-member-down"
START = datetime(2026, 11, 22, 10, 12, 1, 250000, tzinfo=UTC)
RUNBOOK = "runbooks/etcd-member-down.md"
RUNBOOK_SHA = "4f0c8e2d9a1b3c5e7f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6"
NODES = ["m1", "m2", "m3"]


@dataclass
class FakeClock:
    """A wall clock and a monotonic clock that only move when told to."""

    now: datetime = START
    mono: float = 81234.5

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


def _status(node: str, leader: bool) -> str:
    return json.dumps(
        [
            {
                "Endpoint": f"https://10.0.0.1{node[1]}:2379",
                "Status": {"leader": 8211 if leader else 8212, "raftTerm": 7, "dbSize": 25165824},
            }
        ]
    )


def _panels(quorum: float, lag: float, backlog: float, history: list[float]) -> MetricSnapshot:
    return MetricSnapshot(
        reason="step",
        panels=[
            PanelValue(
                title="etcd quorum",
                kind="quorum",
                state="healthy" if quorum >= 3 else "degraded",
                value=quorum,
                history=history,
            ),
            PanelValue(
                title="Raft apply lag",
                kind="lag",
                state="ok" if lag < 100 else "warn",
                value=lag,
                history=[12, 15, 180 if lag > 100 else 20, lag],
            ),
            PanelValue(
                title="DLQ backlog",
                kind="backlog",
                state="warn" if backlog >= 1000 else "ok",
                value=backlog,
                history=[200, 900, 1800, backlog],
                unit="msgs",
            ),
        ],
    )


async def write_example(directory: Path, *, mode: Mode = "live", key: bytes | None = None) -> Path:
    """Write the example incident into ``directory`` and return the log's path."""
    clock = FakeClock()
    log = JournalLog.create(
        directory,
        INCIDENT,
        "etcd member down",
        actor="alice@bastion1",
        mode=mode,
        profile="prod",
        runbook=RUNBOOK,
        key=key,
        fsync="always",
        clock=clock.wall,
        monotonic=clock.monotonic,
    )

    async def at(seconds: float, payload: Payload) -> int:
        clock.advance(seconds)
        return (await log.emit(payload)).seq

    await at(
        0.1,
        ConfigLoaded(path="/etc/incident-console/console.yaml", sha256="9" * 64, profile="prod"),
    )
    await at(
        0.4,
        AlertFiring(
            fingerprint="a41f0c2d",
            alertname="EtcdMemberDown",
            labels={"instance": "m2", "job": "etcd", "severity": "critical"},
            annotations={"summary": "etcd member m2 is down"},
            starts_at=START - timedelta(minutes=2, seconds=31),
        ),
    )
    await at(
        0.6,
        RunbookLoaded(
            path=RUNBOOK, sha256=RUNBOOK_SHA, id="etcd-member-down", title="etcd member down"
        ),
    )
    await at(28.0, MilestoneSet(name="acknowledged"))
    await at(1.5, _panels(2, 240, 1800, [3, 3, 3, 2, 2]))
    await at(2.0, StepEntered(step="confirm-quorum", number=1, title="Confirm quorum still holds"))

    await at(
        1.0,
        BlockStarted(
            run="r1",
            block="quorum",
            step="confirm-quorum",
            kind="check",
            lang="promql",
            command="sum(etcd_server_has_leader)",
            nodes=["prometheus"],
            runbook=RUNBOOK,
            runbook_sha256=RUNBOOK_SHA,
        ),
    )
    await at(
        0.2,
        NodeResult(
            run="r1", block="quorum", node="prometheus", verdict="pass", value=2, duration_s=0.041
        ),
    )
    await at(
        0.0,
        BlockFinished(run="r1", block="quorum", verdict="pass", counts={"pass": 1}, duration_s=0.2),
    )

    await at(
        4.0,
        BlockStarted(
            run="r2",
            block="endpoint-status",
            step="confirm-quorum",
            kind="check",
            lang="sh",
            command="etcdctl --user root:Tr0ub4dor endpoint status -w json",
            nodes=NODES,
            runbook=RUNBOOK,
            runbook_sha256=RUNBOOK_SHA,
        ),
    )
    await at(
        0.1,
        BlockOutput(
            run="r2",
            block="endpoint-status",
            node="m1",
            stream="stdout",
            text=_status("m1", True) + "\n",
        ),
    )
    await at(
        0.0,
        BlockOutput(
            run="r2",
            block="endpoint-status",
            node="m3",
            stream="stdout",
            text=_status("m3", False) + "\n",
        ),
    )
    journal = "".join(
        f"Nov 22 10:{9 + i // 30:02d}:{(i * 2) % 60:02d} m2 etcd[912]: "
        f"{'mvcc: database space exceeded' if i % 3 == 0 else 'raft: failed to send heartbeat'}\n"
        for i in range(34)
    )
    await at(
        0.2,
        BlockOutput(
            run="r2",
            block="endpoint-status",
            node="m2",
            stream="stderr",
            text="Error: context deadline exceeded (dial tcp 10.0.0.12:2379: "
            "connect: connection refused)\n",
        ),
    )
    for n, v in (("m1", "pass"), ("m3", "pass")):
        await at(
            0.0,
            NodeResult(
                run="r2", block="endpoint-status", node=n, verdict=v, exit=0, duration_s=0.118
            ),
        )
    await at(
        4.7,
        NodeResult(
            run="r2",
            block="endpoint-status",
            node="m2",
            verdict="fail",
            exit=1,
            duration_s=5.0,
            reason="exit 1, expected 0",
        ),
    )
    await at(
        0.0,
        BlockFinished(
            run="r2",
            block="endpoint-status",
            verdict="fail",
            counts={"pass": 2, "fail": 1},
            duration_s=5.0,
        ),
    )
    await at(
        40.0,
        Note(
            text="m2 refuses connections; journal on m2 says the database space "
            "is exceeded <see below>"
        ),
    )

    await at(
        6.0,
        BlockStarted(
            run="r3",
            block="member-journal",
            step="confirm-quorum",
            kind="check",
            lang="sh",
            command="journalctl -u etcd --since -5min --no-pager",
            nodes=["m2"],
            runbook=RUNBOOK,
            runbook_sha256=RUNBOOK_SHA,
        ),
    )
    await at(
        0.3, BlockOutput(run="r3", block="member-journal", node="m2", stream="stdout", text=journal)
    )
    await at(
        0.0,
        NodeResult(
            run="r3", block="member-journal", node="m2", verdict="pass", exit=0, duration_s=0.3
        ),
    )
    await at(
        0.0,
        BlockFinished(
            run="r3", block="member-journal", verdict="pass", counts={"pass": 1}, duration_s=0.3
        ),
    )

    await at(20.0, StepEntered(step="restart", number=2, title="Restart the member"))
    await at(9.0, ActionConfirmed(run="r4", block="restart", nodes=["m2"], how="typed"))
    await at(
        0.1,
        BlockStarted(
            run="r4",
            block="restart",
            step="restart",
            kind="action",
            lang="sh",
            command="systemctl restart etcd",
            nodes=["m2"],
            runbook=RUNBOOK,
            runbook_sha256=RUNBOOK_SHA,
            requires=["quorum"],
        ),
    )
    await at(
        2.3,
        NodeResult(run="r4", block="restart", node="m2", verdict="pass", exit=0, duration_s=2.3),
    )
    await at(
        0.0,
        BlockFinished(
            run="r4", block="restart", verdict="pass", counts={"pass": 1}, duration_s=2.3
        ),
    )

    await at(
        15.0,
        BlockStarted(
            run="r5",
            block="endpoint-status",
            step="restart",
            kind="check",
            lang="sh",
            command="etcdctl --user root:Tr0ub4dor endpoint status -w json",
            nodes=NODES,
            runbook=RUNBOOK,
            runbook_sha256=RUNBOOK_SHA,
            attempt=1,
        ),
    )
    for node in NODES:
        await at(
            0.05,
            BlockOutput(
                run="r5",
                block="endpoint-status",
                node=node,
                stream="stdout",
                text=_status(node, node == "m1") + "\n",
            ),
        )
        await at(
            0.0,
            NodeResult(
                run="r5",
                block="endpoint-status",
                node=node,
                verdict="pass",
                exit=0,
                duration_s=0.12,
            ),
        )
    await at(
        0.0,
        BlockFinished(
            run="r5", block="endpoint-status", verdict="pass", counts={"pass": 3}, duration_s=0.2
        ),
    )
    await at(1.0, MilestoneSet(name="mitigated"))
    await at(2.0, _panels(3, 18, 950, [2, 2, 2, 3, 3]))
    await at(
        75.0,
        AlertResolved(
            fingerprint="a41f0c2d",
            alertname="EtcdMemberDown",
            labels={"instance": "m2", "job": "etcd", "severity": "critical"},
            ends_at=START + timedelta(minutes=3, seconds=20),
        ),
    )
    impact = await at(
        30.0, MilestoneSet(name="impact_started", at=START - timedelta(minutes=6, seconds=1))
    )
    await at(
        5.0, MilestoneSet(name="impact_started", at=START - timedelta(minutes=4), corrects=impact)
    )
    wrong = await at(12.0, Note(text="DLQ backlog peaked at 1.8k", at=START + timedelta(minutes=1)))
    await at(
        4.0,
        Note(
            text="DLQ backlog peaked at 1.8k msgs, drained by 10:16",
            at=START + timedelta(minutes=1),
            corrects=wrong,
        ),
    )
    await log.close(
        "etcd member m2 filled its disk (database space exceeded) and stopped serving; quorum "
        "held on m1 and m3. Restarting m2 after compaction brought it back."
    )
    return log.path
