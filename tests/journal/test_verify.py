"""verify's completeness and policy findings, and what a clean log looks like."""

from __future__ import annotations

import hashlib
from pathlib import Path

from console.journal.events import (
    ActionConfirmed,
    ActionDeclined,
    BlockCancelled,
    BlockFinished,
    BlockStarted,
    IncidentResumed,
    MilestoneSet,
    NodeResult,
    Payload,
    RunbookLoaded,
)
from console.journal.verify import VerifyReport, verify_path
from tests.journal.conftest import EXAMPLE_LOG, forge
from tests.journal.example import START


def check(run: str, block: str = "quorum", verdict: str = "pass") -> list[Payload]:
    return [
        BlockStarted(run=run, block=block, kind="check", lang="sh", command="c", nodes=["m1"]),
        BlockFinished(run=run, block=block, verdict=verdict),  # type: ignore[arg-type]
    ]


def action(run: str, *, confirm: bool = True, requires: tuple[str, ...] = ()) -> list[Payload]:
    out: list[Payload] = []
    if confirm:
        out.append(ActionConfirmed(run=run, block="restart", nodes=["m1"]))
    out += [
        BlockStarted(
            run=run,
            block="restart",
            kind="action",
            lang="sh",
            command="systemctl restart etcd",
            nodes=["m1"],
            requires=list(requires),
        ),
        NodeResult(run=run, block="restart", node="m1", verdict="pass", exit=0),
        BlockFinished(run=run, block="restart", verdict="pass"),
    ]
    return out


def findings(
    tmp_path: Path, payloads: list[Payload], hashes: dict[str, str | None] | None = None
) -> list[tuple[str, int | None]]:
    report = verify(tmp_path, payloads, hashes)
    return [(f.code, f.seq) for f in report.findings]


def verify(
    tmp_path: Path, payloads: list[Payload], hashes: dict[str, str | None] | None = None
) -> VerifyReport:
    path = forge(tmp_path / "log.jsonl", payloads)
    return verify_path(path, runbook_hashes=hashes)


def test_the_example_incident_is_clean() -> None:
    report = verify_path(EXAMPLE_LOG)
    assert report.findings == [] and report.exit_code == 0
    assert report.closed and report.events == 44 and report.last_seq == 43


def test_a_good_sequence_is_clean(tmp_path: Path) -> None:
    assert (
        findings(tmp_path, [*check("c1"), *action("a1", requires=("quorum",)), *check("c2")]) == []
    )


def test_a_block_that_never_ended_is_found(tmp_path: Path) -> None:
    started = check("c1")[0]
    assert findings(tmp_path, [started]) == [("unfinished", 1)]


def test_a_block_cut_by_a_recorded_crash_is_complete(tmp_path: Path) -> None:
    started = check("c1")[0]
    assert findings(tmp_path, [started, IncidentResumed(after_crash=True)]) == []
    assert findings(tmp_path, [started, IncidentResumed(after_crash=False)]) == [("unfinished", 1)]


def test_a_cancelled_block_is_complete(tmp_path: Path) -> None:
    started = check("c1")[0]
    assert findings(tmp_path, [started, BlockCancelled(run="c1", block="quorum")]) == []


def test_an_action_must_be_confirmed_before_it_starts(tmp_path: Path) -> None:
    late = action("a1", confirm=False)
    late.insert(1, ActionConfirmed(run="a1", block="restart", nodes=["m1"]))
    assert findings(tmp_path, [*late, *check("c1")]) == [("unconfirmed", 1)]
    declined = [ActionDeclined(run="a1", block="restart"), *action("a1", confirm=False)]
    report = verify(tmp_path, [*declined, *check("c1")])
    assert report.findings[0].code == "unconfirmed" and "declined" in report.findings[0].message


def test_an_action_on_a_node_nobody_confirmed_is_found(tmp_path: Path) -> None:
    steps = action("a1")
    steps.insert(3, NodeResult(run="a1", block="restart", node="m9", verdict="pass"))
    assert findings(tmp_path, [*steps, *check("c1")]) == [
        ("node-not-started", 4),
        ("unconfirmed-node", 4),
    ]


def test_required_checks_must_have_passed_first(tmp_path: Path) -> None:
    needs = action("a1", requires=("quorum",))
    assert findings(tmp_path, [*needs, *check("c1")]) == [("requires-not-passed", 2)]
    failed_first = [*check("c0", verdict="fail"), *needs, *check("c1")]
    assert findings(tmp_path, failed_first) == [("requires-not-passed", 4)]


def test_a_check_must_run_after_each_action(tmp_path: Path) -> None:
    assert findings(tmp_path, [*check("c1"), *action("a1")]) == [("no-check-after-action", 4)]


def test_runbook_drift_is_reported_and_a_missing_runbook_does_not_fail(tmp_path: Path) -> None:
    then = hashlib.sha256(b"v1").hexdigest()
    loaded = RunbookLoaded(path="runbooks/x.md", sha256=then, id="x", title="X")
    same = verify(tmp_path, [loaded], {"runbooks/x.md": then})
    assert same.findings == []
    drifted = verify(tmp_path, [loaded], {"runbooks/x.md": hashlib.sha256(b"v2").hexdigest()})
    assert [(f.code, f.severity) for f in drifted.findings] == [("runbook-drift", "warning")]
    assert drifted.exit_code == 1
    gone = verify(tmp_path, [loaded], {"runbooks/x.md": None})
    assert [(f.code, f.severity) for f in gone.findings] == [("runbook-gone", "info")]
    assert gone.exit_code == 0


def test_milestones_out_of_order_in_a_foreign_log_are_found(tmp_path: Path) -> None:
    milestones = [
        MilestoneSet(name="impact_started", at=START),
        MilestoneSet(name="mitigated", at=START.replace(minute=0)),
    ]
    assert findings(tmp_path, milestones) == [("milestone", 2)]


def test_findings_name_file_line_and_seq(tmp_path: Path) -> None:
    report = verify(tmp_path, [check("c1")[0]])
    text = report.findings[0].describe("x.jsonl")
    assert text.startswith("x.jsonl:2: seq 1: error: check 'quorum' started at seq 1")
    assert text.endswith("[completeness/unfinished]")
