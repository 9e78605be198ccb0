"""A plain-text timeline of an incident log: one line an event, output indented below.

``describe`` says what one event means in a few words (export reuses it); ``Timeline`` turns
events into lines with T+ offsets from the incident's opening and UTC times, one event at a time
so ``timeline --follow`` can print a log as it grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from console.durations import format_duration
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
from console.journal.milestones import LABELS, as_utc, parse_ts, utc_text
from console.sanitize import visible


def offset_text(seconds: float) -> str:
    """``T+01:02:03`` (or ``T-...`` before the reference moment)."""
    sign = "-" if seconds < 0 else "+"
    whole = int(abs(seconds))
    hours, rest = divmod(whole, 3600)
    return f"T{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def labels_text(labels: dict[str, str]) -> str:
    """``{instance="m2",job="etcd"}``, the way Prometheus prints labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}" if inner else ""


def first_line(text: str, limit: int = 120) -> str:
    """The first line of ``text``, cut to ``limit`` characters, marking what was left out."""
    lines = text.strip().splitlines() or [""]
    line = lines[0]
    if len(line) > limit:
        return line[: limit - 1] + "…"
    return line + (" …" if len(lines) > 1 else "")


def result_text(verdict: str) -> str:
    """A node or block verdict for people; indeterminate is never shown as pass or fail."""
    if verdict == "indeterminate":
        return "INDETERMINATE (may or may not have taken effect)"
    return verdict.upper() if verdict in ("fail", "error") else verdict


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def describe(event: Event) -> str:
    """What ``event`` means, in one line (no output text: that is shown separately).

    Fields from outside (alert labels, notes, reasons) have their control characters shown as
    pictures and their newlines as ``␤``, so no field can move the cursor or forge a line.
    """
    return visible(_meaning(event), one_line=True)


def _meaning(event: Event) -> str:
    data: Payload = event.data
    match data:
        case IncidentOpened():
            scenario = f", scenario {data.scenario}" if data.scenario else ""
            return (
                f"incident opened: {data.title!r} ({event.mode}, profile {data.profile}, "
                f"fsync {data.fsync}, chain {data.chain}{scenario})"
            )
        case IncidentResumed():
            how = "after a crash" if data.after_crash else "after a clean stop"
            torn = (
                f"; torn tail of {data.torn_bytes} byte(s) at offset {data.torn_offset} moved to "
                f"{data.broken_file}"
                if data.torn_offset is not None
                else ""
            )
            return f"console resumed {how}{torn}"
        case IncidentSuspended():
            return (
                f"console stopped, incident still open{': ' + data.reason if data.reason else ''}"
            )
        case IncidentClosed():
            summary = f": {data.summary}" if data.summary else ""
            return (
                f"incident closed (log seq 0-{data.final_seq}, head {data.head_hash[:12]}){summary}"
            )
        case ConfigLoaded():
            return f"config loaded: {data.path or '(defaults)'} (profile {data.profile})"
        case RiskAccepted():
            return f"risk accepted: {data.reason} ({len(data.violations)} guardrail(s) broken)"
        case RunbookLoaded():
            return f"runbook {data.id} ({data.title!r}) loaded from {data.path}"
        case AlertFiring():
            silenced = " (silenced)" if data.silenced else ""
            return f"alert firing: {data.alertname}{labels_text(data.labels)}{silenced}"
        case AlertResolved():
            return f"alert resolved: {data.alertname}{labels_text(data.labels)}"
        case MetricSnapshot():
            panels = "; ".join(f"{p.title} {_value(p.value)} {p.state}" for p in data.panels)
            return f"metrics ({data.reason}): {panels}"
        case SourceDown():
            return f"data source down: {data.source} ({data.error})"
        case SourceUp():
            return f"data source back: {data.source}"
        case SilenceCreated():
            return f"silence {data.id} created by {data.created_by}: {data.comment}"
        case SilenceExpired():
            return f"silence {data.id} expired"
        case StepEntered():
            return f"step {data.number}: {data.title}"
        case StepSkipped():
            reason = f": {data.reason}" if data.reason else ""
            return f"step {data.number} skipped ({data.title}){reason}"
        case BlockStarted():
            nodes = ", ".join(data.nodes)
            return f"{data.kind} {data.block} started on {nodes}: {first_line(data.command)}"
        case BlockOutput():
            return f"{data.block} output from {data.node} ({data.stream})"
        case OutputTruncated():
            return (
                f"{data.block} on {data.node}: {data.dropped_bytes} byte(s) of {data.stream} "
                "dropped (output cap)"
            )
        case NodeResult():
            return f"{data.block} on {data.node}: {result_text(data.verdict)}{_result_detail(data)}"
        case BlockFinished():
            counts = ", ".join(f"{n} {k}" for k, n in sorted(data.counts.items()))
            took = f" in {format_duration(data.duration_s)}" if data.duration_s else ""
            return f"{data.block} finished: {result_text(data.verdict)}" + (
                f" ({counts}){took}" if counts else took
            )
        case BlockCancelled():
            return f"{data.block} cancelled{': ' + data.reason if data.reason else ''}"
        case ActionConfirmed():
            stage = "" if data.stage == "all" else f", {data.stage} stage"
            return f"action {data.block} confirmed ({data.how}{stage}) for {', '.join(data.nodes)}"
        case ActionDeclined():
            return f"action {data.block} declined{': ' + data.reason if data.reason else ''}"
        case Note():
            return f"note: {data.text}{_about(data.at, data.corrects)}"
        case MilestoneSet():
            return f"milestone: {LABELS[data.name]}{_about(data.at, data.corrects)}"
        case DrillInject():
            return f"drill inject at {format_duration(data.at_s)}: {data.description}"
        case JournalFault():
            if data.recovered:
                refused = f"; decisions refused: seq {data.failed_seqs}" if data.failed_seqs else ""
                return (
                    f"journal {data.operation} recovered after {data.attempts} failure(s){refused}"
                )
            return f"journal {data.operation} FAILED: {data.error} (attempt {data.attempts})"
    return event.type


def _result_detail(data: NodeResult) -> str:
    parts = []
    if data.exit is not None:
        parts.append(f"exit {data.exit}")
    if data.signal:
        parts.append(f"signal {data.signal}")
    if data.value is not None:
        parts.append(f"value {data.value:g}")
    parts.append(format_duration(data.duration_s))
    reason = f": {data.reason}" if data.reason else ""
    return f" ({', '.join(parts)}){reason}"


def _about(at: datetime | None, corrects: int | None) -> str:
    parts = []
    if at is not None:
        parts.append(f"about {utc_text(as_utc(at))}")
    if corrects is not None:
        parts.append(f"corrects seq {corrects}")
    return f" ({'; '.join(parts)})" if parts else ""


@dataclass
class Timeline:
    """Formats events into timeline lines, keeping the reference time between calls."""

    output: bool = True
    t0: datetime | None = None
    _date: str = ""

    def lines(self, event: Event) -> list[str]:
        """The lines for one more event (a date line first when the UTC day changes)."""
        moment = parse_ts(event.ts)
        self.t0 = self.t0 or moment
        out = []
        day = moment.strftime("%Y-%m-%d")
        if day != self._date:
            self._date = day
            out.append(f"-- {day} (UTC) --")
        if isinstance(event.data, BlockOutput):
            if self.output:
                node = visible(event.data.node, one_line=True)
                prefix = f"{'':30}{node} {event.data.stream} | "
                # Split on newlines only: a bare CR is shown (␍), not taken as a line break.
                lines = event.data.text.removesuffix("\n").split("\n")
                out.extend(prefix + visible(line) for line in lines)
            return out
        offset = offset_text((moment - self.t0).total_seconds())
        out.append(
            f"{offset}  {moment:%H:%M:%S}Z  #{event.seq:<5} {visible(event.actor, one_line=True)}  "
            f"{describe(event)}"
        )
        return out


def timeline_lines(events: Iterable[Event], *, output: bool = True) -> Iterator[str]:
    """The whole timeline of ``events``, T+ from the first event."""
    timeline = Timeline(output=output)
    for event in events:
        yield from timeline.lines(event)
