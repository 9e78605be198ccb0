"""The fold: what it keeps, and that replaying the log from disk gives exactly the live state."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.journal.events import (
    ActionConfirmed,
    ActionDeclined,
    AlertFiring,
    AlertResolved,
    BlockCancelled,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    BlockVerdict,
    Event,
    IncidentResumed,
    JournalFault,
    MetricSnapshot,
    Milestone,
    MilestoneSet,
    NodeResult,
    Note,
    PanelValue,
    Payload,
    SourceDown,
    SourceUp,
    StepEntered,
    StepSkipped,
    Verdict,
)
from console.journal.fold import NodeRun, OutputChunk, fold
from console.journal.milestones import MilestoneError
from console.journal.reader import read_log
from tests.journal.conftest import EXAMPLE_LOG, new_log, run
from tests.journal.example import FakeClock

TEXT = st.text(max_size=30)
RUNS = st.sampled_from(["r1", "r2", "r3"])
NODES = st.sampled_from(["m1", "m2", "m3"])
STEPS = st.sampled_from(["s1", "s2"])
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
MOMENTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)
SEQS = st.none() | st.integers(0, 40)

PAYLOADS: st.SearchStrategy[Payload] = st.one_of(
    st.builds(Note, text=TEXT, at=st.none() | MOMENTS, corrects=SEQS),
    st.builds(
        AlertFiring,
        fingerprint=st.sampled_from(["a", "b"]),
        alertname=TEXT,
        labels=st.dictionaries(TEXT, TEXT, max_size=2),
        starts_at=st.none() | MOMENTS,
    ),
    st.builds(AlertResolved, fingerprint=st.sampled_from(["a", "b", "c"]), alertname=TEXT),
    st.builds(StepEntered, step=STEPS, number=st.integers(1, 3), title=TEXT),
    st.builds(StepSkipped, step=STEPS, number=st.integers(1, 3), title=TEXT, reason=TEXT),
    st.builds(
        BlockStarted,
        run=RUNS,
        block=TEXT,
        step=st.none() | STEPS,
        kind=st.sampled_from(["check", "action"]),
        lang=st.just("sh"),
        command=TEXT,
        nodes=st.lists(NODES, max_size=3),
        requires=st.lists(TEXT, max_size=2),
    ),
    st.builds(
        BlockOutput,
        run=RUNS,
        block=TEXT,
        node=NODES,
        stream=st.sampled_from(["stdout", "stderr"]),
        text=TEXT,
    ),
    st.builds(
        NodeResult,
        run=RUNS,
        block=TEXT,
        node=NODES,
        verdict=st.sampled_from(get_args(Verdict)),
        exit=st.none() | st.integers(-1, 255),
        duration_s=st.floats(min_value=0, allow_nan=False, allow_infinity=False),
        value=st.none() | FLOATS,
    ),
    st.builds(
        BlockFinished,
        run=RUNS,
        block=TEXT,
        verdict=st.sampled_from(get_args(BlockVerdict)),
        counts=st.dictionaries(st.sampled_from(["pass", "fail"]), st.integers(0, 5)),
    ),
    st.builds(BlockCancelled, run=RUNS, block=TEXT, reason=TEXT),
    st.builds(ActionConfirmed, run=RUNS, block=TEXT, nodes=st.lists(NODES, max_size=3)),
    st.builds(ActionDeclined, run=RUNS, block=TEXT),
    st.builds(
        MilestoneSet,
        name=st.sampled_from(get_args(Milestone)),
        at=st.none() | MOMENTS,
        corrects=SEQS,
    ),
    st.builds(
        MetricSnapshot,
        panels=st.lists(
            st.builds(
                PanelValue,
                title=st.sampled_from(["q", "lag"]),
                kind=st.just("lag"),
                state=st.just("ok"),
                value=st.none() | FLOATS,
                history=st.lists(FLOATS, max_size=4),
            ),
            max_size=2,
        ),
    ),
    st.builds(IncidentResumed, after_crash=st.booleans()),
    st.builds(
        JournalFault,
        operation=st.just("write"),
        error=TEXT,
        recovered=st.booleans(),
        failed_seqs=st.lists(st.integers(0, 40), max_size=2),
    ),
    st.builds(SourceDown, source=st.just("prometheus"), error=TEXT),
    st.builds(SourceUp, source=st.just("prometheus")),
)


async def emit_all(directory: Path, payloads: list[Payload], steps: list[float]) -> list[Event]:
    clock = FakeClock()
    log = new_log(directory, clock=clock)
    emitted = []
    for payload, step in zip(payloads, steps, strict=True):
        clock.advance(step)
        try:
            emitted.append(await log.emit(payload))
        except MilestoneError:
            continue  # refused: never written, never shown
    await log.close()
    return emitted


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), payloads=st.lists(PAYLOADS, max_size=40))
def test_replaying_the_log_gives_the_live_state(
    data: st.DataObject, payloads: list[Payload]
) -> None:
    steps = data.draw(st.lists(st.floats(0, 600), min_size=len(payloads), max_size=len(payloads)))
    with tempfile.TemporaryDirectory() as directory:
        emitted = run(emit_all(Path(directory), payloads, steps))
        replayed = read_log(next(Path(directory).glob("*.jsonl"))).events
    live = fold(emitted)
    assert replayed[1 : len(emitted) + 1] == emitted
    assert fold(replayed[1 : len(emitted) + 1]) == live


def test_the_fold_keeps_what_the_session_shows() -> None:
    state = fold(read_log(EXAMPLE_LOG).events)
    assert state.title == "etcd member down" and state.mode == "live" and state.closed
    assert [s.title for s in state.steps.values()] == [
        "Confirm quorum still holds",
        "Restart the member",
    ]
    assert state.step_status("confirm-quorum") == "failed"  # endpoint-status failed in it
    assert state.step_status("restart") == "done"
    assert {r: run_.status for r, run_ in state.runs.items()} == {
        "r1": "pass",
        "r2": "fail",
        "r3": "pass",
        "r4": "pass",
        "r5": "pass",
    }
    endpoint = state.runs["r2"]
    assert endpoint.nodes["m2"].result is not None
    assert endpoint.nodes["m2"].result.data.verdict == "fail"
    assert "connection refused" in endpoint.nodes["m2"].text("stderr")
    assert [c.data.how for c in state.runs["r4"].confirmations] == ["typed"]
    assert not state.firing and list(state.alerts) == ["a41f0c2d"]
    assert state.milestones.current["impact_started"].corrects == 39
    assert [n.corrected_by for n in state.notes] == [None, 42, None]
    assert set(state.derived) == {"impact_started", "detected", "resolved", "closed"}
    assert state.problems == []


def test_a_nodes_head_is_the_start_of_its_stream_with_the_full_count() -> None:
    node = NodeRun("m1")
    for seq, (stream, text) in enumerate(
        [("stdout", "abc\n"), ("stderr", "oops\n"), ("stdout", "defgh\n"), ("stdout", "ij")]
    ):
        node.chunks.append(OutputChunk(seq, stream, text))
    whole = node.text("stdout")
    for limit in range(len(whole) + 2):
        assert node.head("stdout", limit) == (whole[:limit], len(whole))
    assert node.head("stderr", 100) == ("oops\n", 5)


async def test_a_crash_interrupts_running_blocks_and_a_skip_is_a_skip(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    events = [
        await log.emit(p)
        for p in (
            StepSkipped(step="s1", number=1, title="One", reason="not needed"),
            StepEntered(step="s2", number=2, title="Two"),
            BlockStarted(run="r1", block="b", kind="check", lang="sh", command="c", nodes=["m1"]),
            IncidentResumed(after_crash=True),
            BlockFinished(run="ghost", block="b", verdict="pass"),
        )
    ]
    await log.close()
    state = fold(events)
    assert state.step_status("s1") == "skipped" and state.step_status("s2") == "entered"
    assert state.runs["r1"].status == "interrupted"
    assert state.runs["r1"].interrupted_seq == events[3].seq
    assert state.problems == [(5, "block.finished for run 'ghost', which never started")]
