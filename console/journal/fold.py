"""The session's state as a pure fold over its events.

``fold(events)`` builds an ``IncidentState`` from nothing; the live session calls
``state.apply(event)`` as each event is emitted. Both go through the same code, so resume,
review, export and verify see exactly the state that was on screen. The fold never raises on a
strange log: what does not fit is kept in ``problems`` with its seq.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from console.journal.chain import GENESIS
from console.journal.events import (
    ActionConfirmed,
    ActionDeclined,
    AlertFiring,
    AlertResolved,
    BlockCancelled,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    ConfigLoaded,
    DrillInject,
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentResumed,
    IncidentSuspended,
    JournalFault,
    MetricSnapshot,
    MilestoneSet,
    Mode,
    NodeResult,
    Note,
    OutputTruncated,
    Payload,
    RiskAccepted,
    RunbookLoaded,
    SilenceCreated,
    SilenceExpired,
    SourceDown,
    SourceUp,
    StepEntered,
    StepSkipped,
)
from console.journal.milestones import Mark, MilestoneBook, as_utc, parse_ts

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Recorded(Generic[P]):
    """A payload with the seq, time and actor of the event that carried it."""

    seq: int
    ts: str
    actor: str
    data: P


@dataclass
class OutputChunk:
    """One ``block.output`` chunk of a node."""

    seq: int
    stream: str
    text: str


@dataclass
class NodeRun:
    """What one node did in one block run: its output and its result."""

    node: str
    chunks: list[OutputChunk] = field(default_factory=list)
    truncated: list[Recorded[OutputTruncated]] = field(default_factory=list)
    result: Recorded[NodeResult] | None = None

    def text(self, stream: str) -> str:
        """The node's whole output on ``stream`` (``stdout`` or ``stderr``)."""
        return "".join(c.text for c in self.chunks if c.stream == stream)

    def head(self, stream: str, limit: int) -> tuple[str, int]:
        """The first ``limit`` characters of ``stream`` and how many it has in all, without
        joining all of it (a screen redrawn while a node streams megabytes asks often)."""
        parts: list[str] = []
        room = limit
        size = 0
        for chunk in self.chunks:
            if chunk.stream != stream:
                continue
            size += len(chunk.text)
            if room > 0:
                parts.append(chunk.text[:room])
                room -= len(parts[-1])
        return "".join(parts), size


@dataclass
class BlockRun:
    """One run of a check or action block, from ``block.started`` to its end."""

    started: Recorded[BlockStarted]
    nodes: dict[str, NodeRun] = field(default_factory=dict)
    confirmations: list[Recorded[ActionConfirmed]] = field(default_factory=list)
    finished: Recorded[BlockFinished] | None = None
    cancelled: Recorded[BlockCancelled] | None = None
    interrupted_seq: int | None = None
    not_run_seq: int | None = None

    @property
    def status(self) -> str:
        """``running``, the verdict, ``cancelled``, ``interrupted`` (crash) or ``not-run``."""
        if self.not_run_seq is not None:
            return "not-run"
        if self.finished:
            return self.finished.data.verdict
        if self.cancelled:
            return "cancelled"
        if self.interrupted_seq is not None:
            return "interrupted"
        return "running"

    def node(self, name: str) -> NodeRun:
        """The node's record in this run, created on first use."""
        return self.nodes.setdefault(name, NodeRun(name))

    def copy(self) -> BlockRun:
        """A copy that can change without changing this run (the recorded events are shared:
        they never change)."""
        nodes = {
            name: NodeRun(name, node.chunks.copy(), node.truncated.copy(), node.result)
            for name, node in self.nodes.items()
        }
        return replace(self, nodes=nodes, confirmations=self.confirmations.copy())


@dataclass
class StepState:
    """A runbook step: entered, skipped, and the block runs done in it."""

    step: str
    number: int
    title: str
    entered: list[int] = field(default_factory=list)
    skipped: Recorded[StepSkipped] | None = None
    runs: list[str] = field(default_factory=list)


@dataclass
class AlertState:
    """An alert the console saw fire, and whether it resolved."""

    firing: Recorded[AlertFiring]
    resolved: Recorded[AlertResolved] | None = None


@dataclass
class NoteEntry:
    """A note as recorded, and the seq of the note that corrected it, if any."""

    note: Recorded[Note]
    corrected_by: int | None = None


@dataclass
class IncidentState:
    """Everything the session knows, rebuilt from events alone."""

    incident: str = ""
    mode: Mode = "live"
    opened: Recorded[IncidentOpened] | None = None
    actors: list[str] = field(default_factory=list)
    config: Recorded[ConfigLoaded] | None = None
    runbooks: list[Recorded[RunbookLoaded]] = field(default_factory=list)
    steps: dict[str, StepState] = field(default_factory=dict)
    current_step: str | None = None
    runs: dict[str, BlockRun] = field(default_factory=dict)
    confirmed_early: dict[str, list[Recorded[ActionConfirmed]]] = field(default_factory=dict)
    declined: list[Recorded[ActionDeclined]] = field(default_factory=list)
    alerts: dict[str, AlertState] = field(default_factory=dict)
    snapshots: list[Recorded[MetricSnapshot]] = field(default_factory=list)
    sources_down: dict[str, Recorded[SourceDown]] = field(default_factory=dict)
    source_events: list[Recorded[SourceDown] | Recorded[SourceUp]] = field(default_factory=list)
    silences: dict[str, Recorded[SilenceCreated]] = field(default_factory=dict)
    risks: list[Recorded[RiskAccepted]] = field(default_factory=list)
    injects: list[Recorded[DrillInject]] = field(default_factory=list)
    faults: list[Recorded[JournalFault]] = field(default_factory=list)
    resumes: list[Recorded[IncidentResumed]] = field(default_factory=list)
    suspends: list[Recorded[IncidentSuspended]] = field(default_factory=list)
    milestones: MilestoneBook = field(default_factory=MilestoneBook)
    derived: dict[str, Mark] = field(default_factory=dict)
    notes: list[NoteEntry] = field(default_factory=list)
    closed: Recorded[IncidentClosed] | None = None
    first_ts: str = ""
    last_ts: str = ""
    last_seq: int = -1
    head: str = GENESIS
    events: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    _owned: set[str] = field(default_factory=set, repr=False, compare=False)
    """Runs this state made or copied itself, so it may change them in place; the others are
    shared with a copy of the state (see ``share_runs``) and are copied before a change."""

    @property
    def title(self) -> str:
        """The incident's title from ``incident.opened``."""
        return self.opened.data.title if self.opened else ""

    @property
    def firing(self) -> list[AlertState]:
        """Alerts seen firing and not resolved since."""
        return [a for a in self.alerts.values() if a.resolved is None]

    def step_status(self, step: str) -> str:
        """From the log alone: ``skipped``; ``failed`` when a block's last run in it failed,
        errored or was indeterminate; ``done`` once entered and every run in it passed; else
        ``entered``. (The console, which has the runbook, also asks that every check ran.)"""
        state = self.steps[step]
        if state.skipped and (not state.entered or state.entered[-1] < state.skipped.seq):
            return "skipped"
        runs = [self.runs[r] for r in state.runs]
        last = {r.started.data.block: r for r in sorted(runs, key=lambda r: r.started.seq)}
        if any(r.status in ("fail", "error", "indeterminate") for r in last.values()):
            return "failed"
        if state.entered and runs and all(r.status == "pass" for r in last.values()):
            return "done"
        return "entered"

    def apply(self, event: Event) -> None:
        """Fold one more event into the state."""
        if self.last_seq >= 0 and event.seq != self.last_seq + 1:
            self.problems.append((event.seq, f"seq {event.seq} follows seq {self.last_seq}"))
        self.last_seq, self.head, self.last_ts = event.seq, event.hash, event.ts
        self.first_ts = self.first_ts or event.ts
        self.events += 1
        if event.actor not in self.actors:
            self.actors.append(event.actor)
        listed = _LISTS.get(type(event.data))
        if listed is not None:
            getattr(self, listed).append(_rec(event, event.data))
        handler = _HANDLERS.get(type(event.data))
        if handler is not None:
            handler(self, event)

    def share_runs(self) -> dict[str, BlockRun]:
        """The runs, for a copy of this state to share: from now on neither side changes a
        shared run in place, each copies it first. A copy of a big incident then costs a dict of
        references instead of every run's records (``review`` copies states as it moves)."""
        self._owned.clear()
        return self.runs.copy()

    def _writable(self, run: str) -> BlockRun:
        """Run ``run``, safe to change: copied first if it is shared with another state."""
        found = self.runs[run]
        if run not in self._owned:
            found = self.runs[run] = found.copy()
            self._owned.add(run)
        return found

    def _run(self, event: Event, run: str) -> BlockRun | None:
        """Run ``run`` to change for ``event``; ``None`` (a problem noted) if it never started."""
        if run not in self.runs:
            self.problems.append((event.seq, f"{event.type} for run {run!r}, which never started"))
            return None
        return self._writable(run)


def fold(events: Iterable[Event]) -> IncidentState:
    """The state after ``events``, from nothing."""
    state = IncidentState()
    for event in events:
        state.apply(event)
    return state


def _rec(event: Event, data: P) -> Recorded[P]:
    return Recorded(event.seq, event.ts, event.actor, data)


def _opened(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, IncidentOpened)
    state.opened = _rec(event, event.data)
    state.incident, state.mode = event.incident, event.mode


def _resumed(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, IncidentResumed)
    if event.data.after_crash:
        for run_id, run in list(state.runs.items()):
            if run.status == "running":
                state._writable(run_id).interrupted_seq = event.seq


def _closed(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, IncidentClosed)
    state.closed = _rec(event, event.data)
    state.derived["closed"] = Mark(
        "closed", parse_ts(event.ts), event.seq, parse_ts(event.ts), "derived: incident closed"
    )


def _config(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, ConfigLoaded)
    state.config = _rec(event, event.data)


def _alert_firing(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, AlertFiring)
    state.alerts[data.fingerprint] = AlertState(_rec(event, data))
    seen = parse_ts(event.ts)
    state.derived.pop("resolved", None)
    state.derived.setdefault(
        "detected", Mark("detected", seen, event.seq, seen, f"derived: {data.alertname} seen")
    )
    if data.starts_at:
        began = as_utc(data.starts_at)
        known = state.derived.get("impact_started")
        if known is None or began < known.at:
            state.derived["impact_started"] = Mark(
                "impact_started", began, event.seq, seen, f"derived: {data.alertname} startsAt"
            )


def _alert_resolved(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, AlertResolved)
    alert = state.alerts.get(data.fingerprint)
    if alert is None:
        state.problems.append((event.seq, f"alert {data.alertname} resolved but never seen firing"))
        return
    alert.resolved = _rec(event, data)
    if not state.firing:
        seen = parse_ts(event.ts)
        at = as_utc(data.ends_at) if data.ends_at else seen
        state.derived["resolved"] = Mark(
            "resolved", at, event.seq, seen, f"derived: last alert ({data.alertname}) resolved"
        )


def _source_down(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, SourceDown)
    state.sources_down[event.data.source] = _rec(event, event.data)
    state.source_events.append(_rec(event, event.data))


def _source_up(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, SourceUp)
    state.sources_down.pop(event.data.source, None)
    state.source_events.append(_rec(event, event.data))


def _silence(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, SilenceCreated)
    state.silences[event.data.id] = _rec(event, event.data)


def _silence_expired(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, SilenceExpired)
    state.silences.pop(event.data.id, None)


def _step_entered(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepEntered)
    step = state.steps.setdefault(data.step, StepState(data.step, data.number, data.title))
    step.entered.append(event.seq)
    state.current_step = data.step


def _step_skipped(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepSkipped)
    step = state.steps.setdefault(data.step, StepState(data.step, data.number, data.title))
    step.skipped = _rec(event, data)


def _block_started(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, BlockStarted)
    if data.run in state.runs:
        state.problems.append((event.seq, f"run {data.run!r} started twice"))
    confirmed = state.confirmed_early.pop(data.run, [])
    state.runs[data.run] = BlockRun(_rec(event, data), confirmations=confirmed)
    state._owned.add(data.run)
    step = data.step or state.current_step
    if step is not None and step in state.steps:
        state.steps[step].runs.append(data.run)


def _confirmed(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, ActionConfirmed)
    if data.run in state.runs:
        state._writable(data.run).confirmations.append(_rec(event, data))
    else:
        state.confirmed_early.setdefault(data.run, []).append(_rec(event, data))


def _output(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, BlockOutput)
    if run := state._run(event, data.run):
        run.node(data.node).chunks.append(OutputChunk(event.seq, data.stream, data.text))


def _truncated(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, OutputTruncated)
    if run := state._run(event, data.run):
        run.node(data.node).truncated.append(_rec(event, data))


def _node_result(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, NodeResult)
    if run := state._run(event, data.run):
        run.node(data.node).result = _rec(event, data)


def _finished(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, BlockFinished)
    if run := state._run(event, data.run):
        run.finished = _rec(event, data)


def _cancelled(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, BlockCancelled)
    if run := state._run(event, data.run):
        run.cancelled = _rec(event, data)


def _note(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, Note)
    entry = NoteEntry(_rec(event, data))
    if data.corrects is not None:
        target = next((n for n in state.notes if n.note.seq == data.corrects), None)
        if target is None:
            state.problems.append((event.seq, f"note corrects seq {data.corrects}: not a note"))
        else:
            target.corrected_by = event.seq
    state.notes.append(entry)


def _milestone(state: IncidentState, event: Event) -> None:
    assert isinstance(event.data, MilestoneSet)
    state.milestones.apply(event.data, event.seq, parse_ts(event.ts))


def _fault(state: IncidentState, event: Event) -> None:
    data = event.data
    assert isinstance(data, JournalFault)
    failed = set(data.failed_seqs)
    for run_id, run in list(state.runs.items()):
        if run.started.seq in failed:
            state._writable(run_id).not_run_seq = event.seq


# Events kept in order in a list of ``IncidentState`` (its field named here), before any
# handler below folds them further.
_LISTS: dict[type[Payload], str] = {
    IncidentResumed: "resumes",
    IncidentSuspended: "suspends",
    RunbookLoaded: "runbooks",
    MetricSnapshot: "snapshots",
    ActionDeclined: "declined",
    DrillInject: "injects",
    JournalFault: "faults",
    RiskAccepted: "risks",
}

_HANDLERS: dict[type[Payload], Callable[[IncidentState, Event], Any]] = {
    IncidentOpened: _opened,
    IncidentResumed: _resumed,
    IncidentClosed: _closed,
    ConfigLoaded: _config,
    AlertFiring: _alert_firing,
    AlertResolved: _alert_resolved,
    SourceDown: _source_down,
    SourceUp: _source_up,
    SilenceCreated: _silence,
    SilenceExpired: _silence_expired,
    StepEntered: _step_entered,
    StepSkipped: _step_skipped,
    BlockStarted: _block_started,
    ActionConfirmed: _confirmed,
    BlockOutput: _output,
    OutputTruncated: _truncated,
    NodeResult: _node_result,
    BlockFinished: _finished,
    BlockCancelled: _cancelled,
    Note: _note,
    MilestoneSet: _milestone,
    JournalFault: _fault,
}
