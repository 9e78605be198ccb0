"""The postmortem of an incident log: what the report holds, computed from the fold.

``build_postmortem`` folds the events into a ``Postmortem`` (plain data, no I/O) in the Google
SRE shape: summary, impact, detection, resolution, figures, a timeline with T+ offsets and UTC
times, every action and check with its per-node results and output, notes, metrics and the
log's own record. Output is cut to a readable excerpt with a pointer to the log seqs that hold
the full text. Drill logs are labelled, and their figures are kept apart from real incidents'
(``drill_figures``, never ``figures``). The sections and their order are in
``console.report.sections``; ``console.report.markdown`` and ``console.report.html`` lay them
out, and ``to_json`` here dumps the model as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from console.journal.events import (
    BlockOutput,
    Event,
    MetricSnapshot,
    MilestoneSet,
    NodeResult,
    Note,
    OutputTruncated,
    labels_text,
    result_text,
)
from console.journal.fold import AlertState, BlockRun, IncidentState, NodeRun, fold
from console.journal.milestones import (
    LABELS,
    ORDER,
    Mark,
    as_utc,
    parse_ts,
    utc_text,
)
from console.report.milestones import IncidentFigures, incident_figures
from console.report.timeline import describe, offset_text

EXCERPT_LINES = 20
EXCERPT_CHARS = 2000
_TIMELINE_SKIP = (BlockOutput, OutputTruncated, NodeResult)


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)


class MilestoneRow(_Model):
    """A milestone as the postmortem shows it."""

    name: str
    label: str
    at: str
    seq: int
    source: str
    backdated: bool
    corrects: int | None


class AlertRow(_Model):
    """An alert seen during the incident."""

    alertname: str
    labels: dict[str, str]
    seq: int
    seen_at: str
    starts_at: str | None
    resolved_at: str | None
    summary: str


class Figure(_Model):
    """One of TTD/TTA/TTM/TTR: seconds from the impact start to a milestone."""

    name: str
    milestone: str
    seconds: float | None
    text: str


class FigureSet(_Model):
    """The figures, or why they are refused, and which milestones were derived."""

    impact_started: str | None
    figures: list[Figure]
    refused: list[str]
    notes: list[str]


class TimelineRow(_Model):
    """One moment of the timeline; ``recorded_at`` is set when it was backdated."""

    seq: int
    at: str
    offset: str
    type: str
    actor: str
    text: str
    recorded_at: str | None = None
    corrected_by: int | None = None


class Excerpt(_Model):
    """The start of one node's output on one stream, and where the rest is."""

    stream: str
    text: str
    complete: bool
    total_lines: int
    total_bytes: int
    first_seq: int
    last_seq: int
    dropped_bytes: int = 0


class NodeReport(_Model):
    """One node's part in a block run."""

    node: str
    verdict: str
    exit: int | None
    signal: str | None
    duration_s: float | None
    value: float | None
    reason: str
    result_seq: int | None
    output: list[Excerpt]


class BlockReport(_Model):
    """One run of a check or action."""

    run: str
    block: str
    kind: str
    lang: str
    step: str | None
    command: str
    nodes: list[str]
    requires: list[str]
    seq: int
    at: str
    offset: str
    status: str
    confirmations: list[str]
    reason: str
    duration_s: float | None
    results: list[NodeReport]


class NoteRow(_Model):
    """A note, the moment it is about, and its correction if any."""

    seq: int
    at: str
    recorded_at: str
    actor: str
    text: str
    corrects: int | None
    corrected_by: int | None


class MetricSeries(_Model):
    """One dashboard panel over the incident's metric snapshots."""

    title: str
    kind: str
    unit: str
    values: list[float]
    source: str
    last_value: float | None
    last_state: str
    snapshots: int


class LogFacts(_Model):
    """The log behind the postmortem: enough to find and verify it."""

    file: str
    events: int
    last_seq: int
    head: str
    chain: str
    fsync: str
    integrity: str
    faults: list[str]
    resumes: list[str]


class Postmortem(_Model):
    """Everything a postmortem says, before it is laid out."""

    format: str = "incident-console/postmortem"
    version: int = 1
    incident: str
    title: str
    mode: str
    drill: bool
    status: str
    profile: str
    opened_at: str
    closed_at: str | None
    responders: list[str]
    runbooks: list[str]
    summary: str
    milestones: list[MilestoneRow]
    alerts: list[AlertRow]
    detection: list[str]
    resolution: list[str]
    figures: FigureSet | None
    drill_figures: FigureSet | None
    t0: str
    t0_label: str
    timeline: list[TimelineRow]
    blocks: list[BlockReport]
    notes: list[NoteRow]
    metrics: list[MetricSeries]
    log: LogFacts


# -- building ---------------------------------------------------------------------------------


def build_postmortem(
    events: Sequence[Event], *, log_name: str, integrity: str = "not verified"
) -> Postmortem:
    """The postmortem of a log's events; ``integrity`` is the verify verdict to print."""
    state = fold(events)
    incident = incident_figures(state)
    marks = incident.marks
    figure_set = _figures(incident)
    opened_at = parse_ts(state.first_ts)
    start = marks.get("impact_started")
    t0 = start.at if start else opened_at
    t0_label = "impact started" if start else "incident opened"
    drill = state.mode != "live"
    return Postmortem(
        incident=state.incident,
        title=state.title,
        mode=state.mode,
        drill=drill,
        status="closed" if state.closed else "open",
        profile=state.opened.data.profile if state.opened else "",
        opened_at=utc_text(opened_at),
        closed_at=utc_text(parse_ts(state.closed.ts)) if state.closed else None,
        responders=state.actors,
        runbooks=[
            f"{r.data.id} ({r.data.path}, sha256 {r.data.sha256[:12]})" for r in state.runbooks
        ],
        summary=state.closed.data.summary if state.closed else "",
        milestones=[_milestone_row(marks[n]) for n in ORDER if n in marks],
        alerts=[_alert_row(a) for a in state.alerts.values()],
        detection=_detection(state, marks),
        resolution=_resolution(state, marks),
        figures=None if drill else figure_set,
        drill_figures=figure_set if drill else None,
        t0=utc_text(t0),
        t0_label=t0_label,
        timeline=_timeline(events, t0),
        blocks=[_block(run, t0) for run in state.runs.values()],
        notes=[
            NoteRow(
                seq=n.note.seq,
                at=utc_text(n.note.data.at) if n.note.data.at else utc_text(parse_ts(n.note.ts)),
                recorded_at=utc_text(parse_ts(n.note.ts)),
                actor=n.note.actor,
                text=n.note.data.text,
                corrects=n.note.data.corrects,
                corrected_by=n.corrected_by,
            )
            for n in state.notes
        ],
        metrics=_metrics(state),
        log=_log_facts(state, log_name, integrity),
    )


def _milestone_row(mark: Mark) -> MilestoneRow:
    return MilestoneRow(
        name=mark.name,
        label=LABELS[mark.name],
        at=utc_text(mark.at),
        seq=mark.seq,
        source=mark.source,
        backdated=mark.backdated,
        corrects=mark.corrects,
    )


def _alert_row(alert: AlertState) -> AlertRow:
    firing, data = alert.firing, alert.firing.data
    return AlertRow(
        alertname=data.alertname,
        labels=dict(data.labels),
        seq=firing.seq,
        seen_at=utc_text(parse_ts(firing.ts)),
        starts_at=utc_text(data.starts_at) if data.starts_at else None,
        resolved_at=utc_text(parse_ts(alert.resolved.ts)) if alert.resolved else None,
        summary=data.annotations.get("summary", data.annotations.get("description", "")),
    )


def _figures(incident: IncidentFigures) -> FigureSet:
    computed = incident.computed
    return FigureSet(
        impact_started=utc_text(computed.start.at) if computed.start else None,
        figures=[
            Figure(name=f.name, milestone=LABELS[f.milestone], seconds=f.seconds, text=f.text)
            for f in incident.lines
        ],
        refused=computed.refused,
        notes=incident.notes,
    )


def _detection(state: IncidentState, marks: dict[str, Mark]) -> list[str]:
    out = []
    if "detected" in marks:
        mark = marks["detected"]
        out.append(f"Detected at {utc_text(mark.at)} ({mark.source}, log seq {mark.seq}).")
    first = next(iter(state.alerts.values()), None)
    if first is not None:
        data = first.firing.data
        began = f", firing since {utc_text(data.starts_at)}" if data.starts_at else ""
        out.append(
            f"First alert: {data.alertname}{labels_text(data.labels)} from {data.source}, seen "
            f"at {utc_text(parse_ts(first.firing.ts))}{began} (log seq {first.firing.seq})."
        )
    else:
        out.append("No alert was recorded in the log.")
    if "acknowledged" in marks:
        out.append(f"Acknowledged at {utc_text(marks['acknowledged'].at)}.")
    return out


def _resolution(state: IncidentState, marks: dict[str, Mark]) -> list[str]:
    out = []
    for run in state.runs.values():
        if run.started.data.kind != "action":
            continue
        started = run.started
        out.append(
            f"{utc_text(parse_ts(started.ts))}: action {started.data.block} on "
            f"{', '.join(started.data.nodes)}: {result_text(run.status)} (log seq {started.seq})."
        )
    if not out:
        out.append("No action was run from the console.")
    for name in ("mitigated", "resolved"):
        if name in marks:
            out.append(f"{LABELS[name].capitalize()} at {utc_text(marks[name].at)}.")
    still = [a.firing.data.alertname for a in state.firing]
    if still:
        out.append(f"Still firing at the end of the log: {', '.join(still)}.")
    return out


def _timeline(events: Sequence[Event], t0: datetime) -> list[TimelineRow]:
    corrected_by = {
        e.data.corrects: e.seq
        for e in events
        if isinstance(e.data, Note | MilestoneSet) and e.data.corrects is not None
    }
    rows = []
    for event in events:
        if isinstance(event.data, _TIMELINE_SKIP):
            continue
        recorded = parse_ts(event.ts)
        about = getattr(event.data, "at", None)
        moment = as_utc(about) if isinstance(about, datetime) else recorded
        rows.append(
            TimelineRow(
                seq=event.seq,
                at=utc_text(moment),
                offset=offset_text((moment - t0).total_seconds()),
                type=event.type,
                actor=event.actor,
                text=describe(event),
                recorded_at=utc_text(recorded) if moment != recorded else None,
                corrected_by=corrected_by.get(event.seq),
            )
        )
    return sorted(rows, key=lambda r: (r.at, r.seq))


def _block(run: BlockRun, t0: datetime) -> BlockReport:
    started = run.started
    at = parse_ts(started.ts)
    finished = run.finished.data if run.finished else None
    reason = finished.reason if finished else run.cancelled.data.reason if run.cancelled else ""
    if run.status == "interrupted":
        reason = f"cut by a crash (resumed at log seq {run.interrupted_seq})"
    if run.status == "not-run":
        reason = f"never sent: its record failed to write (journal.fault seq {run.not_run_seq})"
    return BlockReport(
        run=started.data.run,
        block=started.data.block,
        kind=started.data.kind,
        lang=started.data.lang,
        step=started.data.step,
        command=started.data.command,
        nodes=list(started.data.nodes),
        requires=list(started.data.requires),
        seq=started.seq,
        at=utc_text(at),
        offset=offset_text((at - t0).total_seconds()),
        status=run.status,
        confirmations=[
            f"{c.data.how} by {c.actor} at {utc_text(parse_ts(c.ts))} for "
            f"{', '.join(c.data.nodes)}"
            + ("" if c.data.stage == "all" else f" ({c.data.stage} stage)")
            + f" (log seq {c.seq})"
            for c in run.confirmations
        ],
        reason=reason,
        duration_s=finished.duration_s if finished else None,
        results=[_node(run, name) for name in _node_order(run)],
    )


def _node_order(run: BlockRun) -> list[str]:
    names = list(run.started.data.nodes)
    return names + [n for n in run.nodes if n not in names]


def _node(run: BlockRun, name: str) -> NodeReport:
    node = run.nodes.get(name) or NodeRun(name)
    result = node.result.data if node.result else None
    verdict = result.verdict if result else ("no result" if run.status == "running" else run.status)
    return NodeReport(
        node=name,
        verdict=verdict,
        exit=result.exit if result else None,
        signal=result.signal if result else None,
        duration_s=result.duration_s if result else None,
        value=result.value if result else None,
        reason=result.reason if result else "",
        result_seq=node.result.seq if node.result else None,
        output=[x for x in (_excerpt(node, "stdout"), _excerpt(node, "stderr")) if x],
    )


def _excerpt(node: NodeRun, stream: str) -> Excerpt | None:
    chunks = [c for c in node.chunks if c.stream == stream]
    dropped = sum(t.data.dropped_bytes for t in node.truncated if t.data.stream == stream)
    if not chunks:
        return None
    text = "".join(c.text for c in chunks)
    lines = text.splitlines(keepends=True)
    shown = "".join(lines[:EXCERPT_LINES])[:EXCERPT_CHARS]
    return Excerpt(
        stream=stream,
        text=shown,
        complete=shown == text and not dropped,
        total_lines=len(lines),
        total_bytes=len(text.encode()),
        first_seq=chunks[0].seq,
        last_seq=chunks[-1].seq,
        dropped_bytes=dropped,
    )


def _metrics(state: IncidentState) -> list[MetricSeries]:
    panels: dict[str, list[tuple[MetricSnapshot, int]]] = {}
    for snap in state.snapshots:
        for index, panel in enumerate(snap.data.panels):
            panels.setdefault(panel.title, []).append((snap.data, index))
    out = []
    for title, seen in panels.items():
        values = [s.panels[i].value for s, i in seen]
        points = [v for v in values if v is not None]
        last = seen[-1][0].panels[seen[-1][1]]
        source = "value at each snapshot"
        if len(points) < 3 and len(last.history) > len(points):
            points, source = list(last.history), "history at the last snapshot"
        out.append(
            MetricSeries(
                title=title,
                kind=last.kind,
                unit=last.unit,
                values=points,
                source=source,
                last_value=last.value,
                last_state=last.state,
                snapshots=len(seen),
            )
        )
    return out


def _log_facts(state: IncidentState, log_name: str, integrity: str) -> LogFacts:
    opened = state.opened.data if state.opened else None
    return LogFacts(
        file=log_name,
        events=state.events,
        last_seq=state.last_seq,
        head=state.head,
        chain=opened.chain if opened else "unknown",
        fsync=f"{opened.fsync} (group commit {opened.group_commit_ms} ms)" if opened else "unknown",
        integrity=integrity,
        faults=[
            f"seq {f.seq} at {utc_text(parse_ts(f.ts))}: {f.data.operation} "
            + (
                f"recovered after {f.data.attempts} failure(s)"
                if f.data.recovered
                else f"failed: {f.data.error}"
            )
            for f in state.faults
        ],
        resumes=[
            f"seq {r.seq} at {utc_text(parse_ts(r.ts))}: "
            + ("after a crash" if r.data.after_crash else "after a clean stop")
            + (
                f", torn tail of {r.data.torn_bytes} byte(s) moved to {r.data.broken_file}"
                if r.data.torn_bytes
                else ""
            )
            for r in state.resumes
        ],
    )


# -- JSON -------------------------------------------------------------------------------------


def to_json(pm: Postmortem) -> str:
    """The postmortem as JSON (the ``Postmortem`` model, indented)."""
    return pm.model_dump_json(indent=2) + "\n"
