"""Postmortems from an incident log: Markdown, a self-contained HTML page, and JSON.

``build_postmortem`` folds the events into a ``Postmortem`` (plain data, no I/O); the renderers
lay it out in the Google SRE shape: summary, impact, root causes and trigger (left for people),
detection, resolution, figures, action items and lessons (left for people), a timeline with T+
offsets and UTC times, every action and check with its per-node results and output, notes,
metrics and the log's own record. Output is cut to a readable excerpt with a pointer to the log
seqs that hold the full text. Drill logs are labelled, and their figures are kept apart from
real incidents' (``drill_figures``, never ``figures``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from console.durations import format_duration
from console.journal.events import (
    BlockOutput,
    Event,
    MetricSnapshot,
    MilestoneSet,
    NodeResult,
    Note,
    OutputTruncated,
)
from console.journal.fold import AlertState, BlockRun, IncidentState, NodeRun, fold
from console.journal.milestones import (
    FIGURES,
    LABELS,
    ORDER,
    Mark,
    as_utc,
    effective_marks,
    figures,
    parse_ts,
    utc_text,
)
from console.journal.timeline import describe, labels_text, offset_text, result_text
from console.sanitize import visible

EXCERPT_LINES = 20
EXCERPT_CHARS = 2000
_SPARK = "▁▂▃▄▅▆▇█"
_TIMELINE_SKIP = (BlockOutput, OutputTruncated, NodeResult)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


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
    marks, notes = effective_marks(state.milestones.current, state.derived)
    figure_set = _figures(marks, notes)
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
                seq=n.seq,
                at=utc_text(n.at) if n.at else utc_text(parse_ts(n.ts)),
                recorded_at=utc_text(parse_ts(n.ts)),
                actor=n.actor,
                text=n.text,
                corrects=n.corrects,
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


def _figures(marks: dict[str, Mark], notes: list[str]) -> FigureSet:
    computed = figures(marks)
    return FigureSet(
        impact_started=utc_text(computed.start.at) if computed.start else None,
        figures=[
            Figure(
                name=name,
                milestone=LABELS[milestone],
                seconds=computed.seconds.get(name),
                text=computed.text(name),
            )
            for name, milestone in FIGURES
        ],
        refused=computed.refused,
        notes=notes,
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


# -- shared wording ---------------------------------------------------------------------------


def sparkline(values: Sequence[float]) -> str:
    """``▁▃▇█``: a text sparkline of ``values`` (empty for fewer than two)."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(_SPARK[int((v - low) / span * (len(_SPARK) - 1))] for v in values)


def _title(pm: Postmortem) -> str:
    return f"{'DRILL — ' if pm.drill else ''}Postmortem: {pm.title}"


def _drill_banner(pm: Postmortem) -> str:
    return (
        f"This is a {pm.mode} log, not a real incident: its figures are drill figures and "
        "must not be counted with real incidents'."
    )


def _excerpt_pointer(x: Excerpt) -> str:
    seqs = (
        f"log seq {x.first_seq}"
        if x.first_seq == x.last_seq
        else (f"log seq {x.first_seq}-{x.last_seq}")
    )
    parts = []
    if not x.complete:
        shown = len(x.text.splitlines())
        parts.append(
            f"showing {shown} of {x.total_lines} line(s), {x.total_bytes} bytes; "
            f"full text in {seqs}"
        )
    if x.dropped_bytes:
        parts.append(f"{x.dropped_bytes} more bytes were dropped at the source (output cap)")
    return "; ".join(parts)


def _mark_origin(mark: MilestoneRow) -> str:
    parts = [f"log seq {mark.seq}"]
    if mark.source != "set":
        parts.insert(0, mark.source)
    elif mark.backdated:
        parts.append("backdated")
    if mark.corrects is not None:
        parts.append(f"corrects seq {mark.corrects}")
    return ", ".join(parts)


def _row_note(row: TimelineRow) -> str:
    parts = []
    if row.recorded_at:
        parts.append(f"recorded {row.recorded_at}")
    if row.corrected_by is not None:
        parts.append(f"corrected by seq {row.corrected_by}")
    return f" ({'; '.join(parts)})" if parts else ""


def _status_text(status: str) -> str:
    return {
        "running": "no end recorded",
        "interrupted": "interrupted by a crash",
        "not-run": "not run",
    }.get(status, result_text(status))


# -- Markdown ---------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def md(text: str) -> str:
    """``text`` safe inline in Markdown: controls visible, specials escaped, newlines as spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(visible(text).split()))


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _code(text: str) -> str:
    """``text`` as an inline code span that a backtick inside it cannot end."""
    text = visible(text, one_line=True)
    ticks = "`" * (_longest_backticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(text: str, lang: str = "") -> list[str]:
    """``text`` in a fenced block whose fence is longer than any backtick run in it."""
    text = visible(text)
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return [f"{fence}{visible(lang, one_line=True)}", *text.rstrip("\n").split("\n"), fence]


def to_markdown(pm: Postmortem) -> str:
    """The postmortem as Markdown."""
    out: list[str] = [f"# {md(_title(pm))}", ""]
    if pm.drill:
        out += [f"> **{pm.mode.upper()}.** {_drill_banner(pm)}", ""]
    out += [
        "| | |",
        "| --- | --- |",
        f"| Incident | {md(pm.incident)} |",
        f"| Status | {pm.status} |",
        f"| Opened | {pm.opened_at} |",
        f"| Closed | {pm.closed_at or 'still open'} |",
        f"| Profile | {md(pm.profile)} |",
        f"| Responders | {md(', '.join(pm.responders))} |",
        f"| Runbooks | {md('; '.join(pm.runbooks) or 'none')} |",
        "| Authors | _(fill in)_ |",
        "",
        "## Summary",
        "",
        md(pm.summary) if pm.summary else "_(What happened, the impact, and how it ended.)_",
        "",
        "## Impact",
        "",
    ]
    out += [f"- {m.label.capitalize()}: {m.at} ({md(_mark_origin(m))})" for m in pm.milestones] or [
        "- No milestone was recorded."
    ]
    out += ["", "Alerts:", ""]
    out += [
        f"- {md(a.alertname + labels_text(a.labels))}: seen {a.seen_at}"
        + (f", resolved {a.resolved_at}" if a.resolved_at else ", not resolved in the log")
        + (f" — {md(a.summary)}" if a.summary else "")
        for a in pm.alerts
    ] or ["- none"]
    out += ["", "_(Who and what was affected, and how badly.)_", ""]
    out += ["## Root causes", "", "_(To be written by the team.)_", ""]
    out += ["## Trigger", "", "_(To be written by the team.)_", ""]
    out += ["## Detection", "", *[md(line) for line in pm.detection], ""]
    out += ["## Resolution", "", *[f"- {md(line)}" for line in pm.resolution], ""]
    out += _md_figures(pm)
    out += [
        "## Action items",
        "",
        "| Action item | Type | Owner | Bug |",
        "| --- | --- | --- | --- |",
        "| | | | |",
        "",
        "## Lessons learned",
        "",
        "### What went well",
        "",
        "_(fill in)_",
        "",
        "### What went wrong",
        "",
        "_(fill in)_",
        "",
        "### Where we got lucky",
        "",
        "_(fill in)_",
        "",
        "## Timeline",
        "",
        f"All times UTC; T+ is from {pm.t0_label} at {pm.t0}.",
        "",
        "| T+ | UTC | seq | Who | Event |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in pm.timeline:
        when = row.at[11:]
        note = _row_note(row)
        out.append(
            f"| {row.offset} | {when} | {row.seq} | {md(row.actor)} | {md(row.text)}{note} |"
        )
    out += ["", "## Actions and checks", ""]
    for block in pm.blocks:
        out += _md_block(block)
    if not pm.blocks:
        out += ["No check or action was run from the console.", ""]
    out += ["## Notes", ""]
    out += [
        f"- {n.at} ({md(n.actor)}, log seq {n.seq}"
        + (f", corrects seq {n.corrects}" if n.corrects is not None else "")
        + f"): {md(n.text)}"
        + (f" — corrected by seq {n.corrected_by}" if n.corrected_by is not None else "")
        for n in pm.notes
    ] or ["- none"]
    out += ["", "## Metrics", ""]
    out += [
        f"- {md(m.title)} ({md(m.kind)}): {sparkline(m.values)} last {_num(m.last_value, m.unit)} "
        f"{md(m.last_state)} ({m.snapshots} snapshot(s), {m.source})"
        for m in pm.metrics
    ] or ["- No metric snapshot was recorded."]
    out += ["", "## Supporting information", ""]
    out += [
        f"- Log: {_code(pm.log.file)}, {pm.log.events} events (seq 0-{pm.log.last_seq}), "
        f"chain {pm.log.chain}, fsync {pm.log.fsync}.",
        f"- Head: {_code(pm.log.head)}; check with "
        f"{_code(f'incident-console verify {pm.log.file} --head {pm.log.head[:12]}')}.",
        f"- Integrity: {md(pm.log.integrity)}.",
    ]
    out += [f"- Journal fault: {md(f)}" for f in pm.log.faults]
    out += [f"- Console resumed: {md(r)}" for r in pm.log.resumes]
    return visible("\n".join(out)) + "\n"  # and nothing else raw slips through


def _num(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:g}{(' ' + unit) if unit else ''}"


def _md_figures(pm: Postmortem) -> list[str]:
    figure_set = pm.figures or pm.drill_figures
    assert figure_set is not None
    heading = "## Drill figures" if pm.drill else "## Figures"
    out = [heading, ""]
    if pm.drill:
        out += [f"_{_drill_banner(pm)}_", ""]
    start = figure_set.impact_started or "unknown"
    out += [f"Measured from impact start ({start}).", ""]
    if figure_set.refused:
        out += ["Figures refused, the milestones are out of order:", ""]
        out += [f"- {md(r)}" for r in figure_set.refused]
    else:
        out += ["| Figure | Until | Value |", "| --- | --- | --- |"]
        out += [f"| {f.name} | {f.milestone} | {f.text} |" for f in figure_set.figures]
    if figure_set.notes:
        out += ["", *[f"- {md(n)}" for n in figure_set.notes]]
    return [*out, ""]


def _md_block(block: BlockReport) -> list[str]:
    out = [
        f"### {block.offset} · {block.kind} {_code(block.block)} on {md(', '.join(block.nodes))} — "
        f"{md(_status_text(block.status))}",
        "",
        f"Started {block.at} (log seq {block.seq}, run {md(block.run)}"
        + (f", step {md(block.step)}" if block.step else "")
        + (f", took {format_duration(block.duration_s)}" if block.duration_s else "")
        + ")."
        + (f" Requires: {md(', '.join(block.requires))}." if block.requires else ""),
        "",
    ]
    out += [f"- Confirmed {md(c)}" for c in block.confirmations]
    if block.confirmations:
        out.append("")
    if block.reason:
        out += [f"Note: {md(block.reason)}", ""]
    out += [*_fence(block.command, block.lang), ""]
    out += ["| Node | Result | Exit | Time | Detail |", "| --- | --- | --- | --- | --- |"]
    for r in block.results:
        out.append(
            f"| {md(r.node)} | {md(result_text(r.verdict))} | {_exit_text(r)} | "
            f"{'' if r.duration_s is None else format_duration(r.duration_s)} | "
            f"{md(_detail_text(r))} |"
        )
    out.append("")
    for r in block.results:
        for x in r.output:
            out += [f"{md(r.node)} {x.stream}:", "", *_fence(x.text or " ")]
            pointer = _excerpt_pointer(x)
            out += [f"_({md(pointer)})_", ""] if pointer else [""]
    return out


def _exit_text(result: NodeReport) -> str:
    text = "" if result.exit is None else str(result.exit)
    return f"{text} ({result.signal})".strip() if result.signal else text


def _detail_text(result: NodeReport) -> str:
    value = None if result.value is None else f"value {result.value:g}"
    return "; ".join(p for p in (result.reason, value) if p)


# -- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1d2430;background:#fff}
h1{font-size:1.7rem;margin-bottom:.3rem}h2{border-bottom:1px solid #d6dbe3;padding-bottom:.2rem;
margin-top:2rem}h3{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #d6dbe3;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;border:1px solid #e1e5eb;padding:.5rem;overflow-x:auto;font-size:13px}
.banner{background:#fff4ce;border:1px solid #e0c060;padding:.6rem 1rem;font-weight:600}
.blank{color:#6a7485;font-style:italic}.muted{color:#6a7485;font-size:.9em}
.pass{color:#1a7f37}.fail,.error{color:#c62828;font-weight:600}
.indeterminate{color:#9a6700;font-weight:600}
svg.spark{vertical-align:middle}
"""


def _h(text: str) -> str:
    """``text`` for HTML: control characters made visible first, then escaped."""
    return html.escape(visible(text), quote=True)


def svg_sparkline(values: Sequence[float], width: int = 160, height: int = 28) -> str:
    """An inline SVG line of ``values`` (empty for fewer than two)."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 4) / (len(values) - 1)
    points = [
        (2 + i * step, height - 2 - (v - low) / span * (height - 4)) for i, v in enumerate(values)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    last_x, last_y = points[-1]
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><title>min {low:g}, max {high:g}, last {values[-1]:g}</title>'
        f'<polyline fill="none" stroke="#3867d6" stroke-width="1.5" points="{path}"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2" fill="#3867d6"/></svg>'
    )


def _verdict_class(verdict: str) -> str:
    return verdict if verdict in ("pass", "fail", "error", "indeterminate") else ""


def to_html(pm: Postmortem) -> str:
    """The postmortem as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    blank = '<p class="blank">(To be written by the team.)</p>'
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(_title(pm))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_h(_title(pm))}</h1>",
    ]
    if pm.drill:
        out.append(f'<p class="banner">{_h(pm.mode.upper())}. {_h(_drill_banner(pm))}</p>')
    facts = [
        ("Incident", pm.incident),
        ("Status", pm.status),
        ("Opened", pm.opened_at),
        ("Closed", pm.closed_at or "still open"),
        ("Profile", pm.profile),
        ("Responders", ", ".join(pm.responders)),
        ("Runbooks", "; ".join(pm.runbooks) or "none"),
    ]
    out.append("<table>")
    out += [f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in facts]
    out.append('<tr><th>Authors</th><td class="blank">(fill in)</td></tr></table>')
    out.append("<h2>Summary</h2>")
    out.append(
        f"<p>{_h(pm.summary)}</p>"
        if pm.summary
        else '<p class="blank">(What happened, the impact, and how it ended.)</p>'
    )
    out.append("<h2>Impact</h2><ul>")
    out += [
        f"<li>{_h(m.label.capitalize())}: {_h(m.at)} "
        f'<span class="muted">({_h(_mark_origin(m))})</span></li>'
        for m in pm.milestones
    ] or ["<li>No milestone was recorded.</li>"]
    out.append("</ul><p>Alerts:</p><ul>")
    out += [
        f"<li>{_h(a.alertname + labels_text(a.labels))}: seen {_h(a.seen_at)}"
        + (f", resolved {_h(a.resolved_at)}" if a.resolved_at else ", not resolved in the log")
        + (f" — {_h(a.summary)}" if a.summary else "")
        + "</li>"
        for a in pm.alerts
    ] or ["<li>none</li>"]
    out.append('</ul><p class="blank">(Who and what was affected, and how badly.)</p>')
    out += ["<h2>Root causes</h2>", blank, "<h2>Trigger</h2>", blank]
    out.append("<h2>Detection</h2>" + "".join(f"<p>{_h(line)}</p>" for line in pm.detection))
    out.append("<h2>Resolution</h2><ul>")
    out += [f"<li>{_h(line)}</li>" for line in pm.resolution]
    out.append("</ul>")
    out += _html_figures(pm)
    out.append(
        "<h2>Action items</h2><table><tr><th>Action item</th><th>Type</th><th>Owner</th>"
        "<th>Bug</th></tr><tr><td>&nbsp;</td><td></td><td></td><td></td></tr></table>"
    )
    out.append("<h2>Lessons learned</h2>")
    for heading in ("What went well", "What went wrong", "Where we got lucky"):
        out.append(f'<h3>{heading}</h3><p class="blank">(fill in)</p>')
    out.append(
        f"<h2>Timeline</h2><p>All times UTC; T+ is from {_h(pm.t0_label)} at {_h(pm.t0)}.</p>"
        "<table><tr><th>T+</th><th>UTC</th><th>seq</th><th>Who</th><th>Event</th></tr>"
    )
    for row in pm.timeline:
        note = f' <span class="muted">{_h(_row_note(row))}</span>' if _row_note(row) else ""
        out.append(
            f'<tr><td class="num">{_h(row.offset)}</td><td class="num">{_h(row.at[11:])}</td>'
            f'<td class="num">{row.seq}</td><td>{_h(row.actor)}</td>'
            f"<td>{_h(row.text)}{note}</td></tr>"
        )
    out.append("</table><h2>Actions and checks</h2>")
    for block in pm.blocks:
        out += _html_block(block)
    if not pm.blocks:
        out.append("<p>No check or action was run from the console.</p>")
    out.append("<h2>Notes</h2><ul>")
    out += [
        f'<li>{_h(n.at)} <span class="muted">({_h(n.actor)}, log seq {n.seq}'
        + (f", corrects seq {n.corrects}" if n.corrects is not None else "")
        + f")</span>: {_h(n.text)}"
        + (f" <em>(corrected by seq {n.corrected_by})</em>" if n.corrected_by is not None else "")
        + "</li>"
        for n in pm.notes
    ] or ["<li>none</li>"]
    out.append("</ul><h2>Metrics</h2>")
    if pm.metrics:
        out.append("<table><tr><th>Panel</th><th>Trend</th><th>Last</th><th>Snapshots</th></tr>")
        out += [
            f'<tr><td>{_h(m.title)} <span class="muted">({_h(m.kind)})</span></td>'
            f"<td>{svg_sparkline(m.values)}</td>"
            f"<td>{_h(_num(m.last_value, m.unit))} {_h(m.last_state)}</td>"
            f'<td>{m.snapshots} <span class="muted">({_h(m.source)})</span></td></tr>'
            for m in pm.metrics
        ]
        out.append("</table>")
    else:
        out.append("<p>No metric snapshot was recorded.</p>")
    out.append("<h2>Supporting information</h2><ul>")
    out += [
        f"<li>Log: <code>{_h(pm.log.file)}</code>, {pm.log.events} events "
        f"(seq 0-{pm.log.last_seq}), chain {_h(pm.log.chain)}, fsync {_h(pm.log.fsync)}.</li>",
        f"<li>Head: <code>{_h(pm.log.head)}</code>; check with <code>incident-console verify "
        f"{_h(pm.log.file)} --head {_h(pm.log.head[:12])}</code>.</li>",
        f"<li>Integrity: {_h(pm.log.integrity)}.</li>",
    ]
    out += [f"<li>Journal fault: {_h(f)}</li>" for f in pm.log.faults]
    out += [f"<li>Console resumed: {_h(r)}</li>" for r in pm.log.resumes]
    out.append("</ul></body></html>")
    return visible("\n".join(out)) + "\n"  # and nothing else raw slips through


def _html_figures(pm: Postmortem) -> list[str]:
    figure_set = pm.figures or pm.drill_figures
    assert figure_set is not None
    out = ["<h2>Drill figures</h2>" if pm.drill else "<h2>Figures</h2>"]
    if pm.drill:
        out.append(f'<p class="banner">{_h(_drill_banner(pm))}</p>')
    out.append(f"<p>Measured from impact start ({_h(figure_set.impact_started or 'unknown')}).</p>")
    if figure_set.refused:
        out.append("<p>Figures refused, the milestones are out of order:</p><ul>")
        out += [f"<li>{_h(r)}</li>" for r in figure_set.refused]
        out.append("</ul>")
    else:
        out.append("<table><tr><th>Figure</th><th>Until</th><th>Value</th></tr>")
        out += [
            f"<tr><td>{f.name}</td><td>{_h(f.milestone)}</td><td>{_h(f.text)}</td></tr>"
            for f in figure_set.figures
        ]
        out.append("</table>")
    if figure_set.notes:
        out.append("<ul>" + "".join(f"<li>{_h(n)}</li>" for n in figure_set.notes) + "</ul>")
    return out


def _html_block(block: BlockReport) -> list[str]:
    status = _status_text(block.status)
    out = [
        f"<h3>{_h(block.offset)} · {_h(block.kind)} <code>{_h(block.block)}</code> on "
        f'{_h(", ".join(block.nodes))} — <span class="{_verdict_class(block.status)}">'
        f"{_h(status)}</span></h3>",
        f"<p>Started {_h(block.at)} (log seq {block.seq}, run {_h(block.run)}"
        + (f", step {_h(block.step)}" if block.step else "")
        + (f", took {_h(format_duration(block.duration_s))}" if block.duration_s else "")
        + ")."
        + (f" Requires: {_h(', '.join(block.requires))}." if block.requires else "")
        + "</p>",
    ]
    if block.confirmations:
        out.append("<ul>" + "".join(f"<li>Confirmed {_h(c)}</li>" for c in block.confirmations))
        out.append("</ul>")
    if block.reason:
        out.append(f"<p>Note: {_h(block.reason)}</p>")
    out.append(f"<pre>{_h(block.command)}</pre>")
    out.append(
        "<table><tr><th>Node</th><th>Result</th><th>Exit</th><th>Time</th><th>Detail</th></tr>"
    )
    for r in block.results:
        out.append(
            f'<tr><td>{_h(r.node)}</td><td class="{_verdict_class(r.verdict)}">'
            f"{_h(result_text(r.verdict))}</td><td>{_h(_exit_text(r))}</td>"
            f"<td>{'' if r.duration_s is None else _h(format_duration(r.duration_s))}</td>"
            f"<td>{_h(_detail_text(r))}</td></tr>"
        )
    out.append("</table>")
    for r in block.results:
        for x in r.output:
            out.append(f"<p>{_h(r.node)} {_h(x.stream)}:</p><pre>{_h(x.text)}</pre>")
            pointer = _excerpt_pointer(x)
            if pointer:
                out.append(f'<p class="muted">({_h(pointer)})</p>')
    return out


# -- JSON -------------------------------------------------------------------------------------


def to_json(pm: Postmortem) -> str:
    """The postmortem as JSON (the ``Postmortem`` model, indented)."""
    return pm.model_dump_json(indent=2) + "\n"
