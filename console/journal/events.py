"""Event models of the incident journal (normative in docs/journal-format.md).

An event is an envelope (``v``, ``seq``, ``ts``, ``mono``, ``type``, ``incident``, ``actor``,
``mode``, ``data``, ``prev``, ``hash``) around a typed payload. Engines build payloads and hand
them to an ``EventSink``; the sink adds the envelope. ``Event`` validates ``data`` against the
payload model that ``type`` names: a discriminated union on ``type``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from console.durations import format_duration

SCHEMA_VERSION = 1

Verdict = Literal["pass", "fail", "error", "indeterminate"]
BlockVerdict = Literal["pass", "fail", "error", "indeterminate", "cancelled", "skipped"]
Mode = Literal["live", "drill", "test"]
Milestone = Literal["impact_started", "detected", "acknowledged", "mitigated", "resolved", "closed"]
# Clocks and durations: a finite number, never negative. NaN, Infinity or a negative value in a
# log did not come from the console, and would crash or falsify every figure computed from it.
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


EVENT_TYPES: dict[str, type[Payload]] = {}
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


class Payload(BaseModel):
    """Base of every event payload. ``TYPE`` is the event's ``type``; ``DECISION`` events are
    fsynced before ``emit`` returns (write-ahead)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)
    TYPE: ClassVar[str] = ""
    DECISION: ClassVar[bool] = False
    # The ``describe`` text of a payload that needs no logic for it: ``str.format`` fields
    # named after the payload's (``"silence {id} expired"``). ``TAIL`` names a field whose
    # value, when there is one, follows the text after a colon (a reason, a summary).
    TEXT: ClassVar[str] = ""
    TAIL: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Every payload with a ``TYPE`` is an event type ``Event`` can validate."""
        super().__pydantic_init_subclass__(**kwargs)
        if cls.TYPE:
            EVENT_TYPES[cls.TYPE] = cls

    def describe(self, mode: str) -> str:
        """What this event means, in one line, for the timeline and the postmortem.

        ``mode`` is the envelope's (only the opening names it). The text is raw: fields from
        outside may hold control characters, so callers show it through ``sanitize.visible``.
        """
        if not self.TEXT:
            return self.TYPE
        tail = getattr(self, self.TAIL) if self.TAIL else ""
        return self.TEXT.format_map(self.__dict__) + (f": {tail}" if tail else "")

    @model_validator(mode="after")
    def _moments_in_utc(self) -> Payload:
        """Every moment must exist in UTC: ``0001-01-01T00:00+14:00`` does not, and would
        crash export, timeline and fold when they convert it."""
        for name, value in self.__dict__.items():
            if isinstance(value, datetime) and value.tzinfo is not None:
                try:
                    value.astimezone(UTC)
                except OverflowError:
                    raise ValueError(
                        f"{name}: {value.isoformat()} is out of range in UTC"
                    ) from None
        return self


# -- wording shared by the ``describe`` methods -----------------------------------------------


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


def _about(at: datetime | None, corrects: int | None) -> str:
    """`` (about <UTC>; corrects seq N)`` for a backdated or correcting note or milestone."""
    from console.journal.milestones import as_utc, utc_text  # milestones imports this module

    parts = []
    if at is not None:
        parts.append(f"about {utc_text(as_utc(at))}")
    if corrects is not None:
        parts.append(f"corrects seq {corrects}")
    return f" ({'; '.join(parts)})" if parts else ""


# -- the incident ----------------------------------------------------------------------------


class IncidentOpened(Payload):
    TYPE = "incident.opened"
    DECISION = True
    title: str
    profile: str = "dev"
    runbook: str | None = None
    fsync: Literal["always", "group", "never"] = "always"
    group_commit_ms: int = 200
    chain: Literal["sha256", "hmac-sha256"] = "sha256"
    console_version: str = ""
    scenario: str | None = None
    redact_rules: list[str] = Field(default_factory=list)  # names of the redaction rules in force

    def describe(self, mode: str) -> str:
        scenario = f", scenario {self.scenario}" if self.scenario else ""
        return (
            f"incident opened: {self.title!r} ({mode}, profile {self.profile}, "
            f"fsync {self.fsync}, chain {self.chain}{scenario})"
        )


class IncidentResumed(Payload):
    TYPE = "incident.resumed"
    DECISION = True
    after_crash: bool = False
    torn_offset: int | None = None
    torn_bytes: int | None = None
    broken_file: str | None = None
    broken_offset: int | None = None  # where the torn bytes start inside ``broken_file``
    torn_sha256: str | None = None  # SHA-256 of the torn bytes, tying the .broken file to the log
    fsync: Literal["always", "group", "never"] | None = None  # the policy from here on
    group_commit_ms: int | None = None
    redact_rules: list[str] | None = None

    def describe(self, mode: str) -> str:
        how = "after a crash" if self.after_crash else "after a clean stop"
        torn = (
            f"; torn tail of {self.torn_bytes} byte(s) at offset {self.torn_offset} moved to "
            f"{self.broken_file}"
            if self.torn_offset is not None
            else ""
        )
        return f"console resumed {how}{torn}"


class IncidentSuspended(Payload):
    """The console stopped cleanly while the incident stays open (hand-over, shutdown).

    A later ``incident.resumed`` after one of these is not after a crash."""

    TYPE = "incident.suspended"
    DECISION = True
    TEXT, TAIL = "console stopped, incident still open", "reason"
    reason: str = ""


class IncidentClosed(Payload):
    TYPE = "incident.closed"
    DECISION = True
    TEXT, TAIL = "incident closed (log seq 0-{final_seq}, head {head_hash:.12})", "summary"
    final_seq: int
    head_hash: str
    summary: str = ""


class ConfigLoaded(Payload):
    TYPE = "config.loaded"
    path: str | None
    sha256: str | None
    profile: str

    def describe(self, mode: str) -> str:
        return f"config loaded: {self.path or '(defaults)'} (profile {self.profile})"


class RiskAccepted(Payload):
    TYPE = "risk.accepted"
    DECISION = True
    reason: str
    violations: list[str] = Field(default_factory=list)

    def describe(self, mode: str) -> str:
        broken = (
            f"{len(self.violations)} guardrail(s) broken"
            if self.violations
            else "no guardrail broken"
        )
        return f"risk accepted: {self.reason} ({broken}; typed confirmations may be given by flag)"


class RunbookLoaded(Payload):
    TYPE = "runbook.loaded"
    TEXT = "runbook {id} ({title!r}) loaded from {path}"
    path: str
    sha256: str
    id: str
    title: str


# -- telemetry -------------------------------------------------------------------------------


class AlertPayload(Payload):
    """Fields of both alert events: which alert, and where it was seen."""

    fingerprint: str
    alertname: str
    labels: dict[str, str] = Field(default_factory=dict)
    source: str = "alertmanager"


class AlertFiring(AlertPayload):
    TYPE = "alert.firing"
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    silenced: bool = False

    def describe(self, mode: str) -> str:
        silenced = " (silenced)" if self.silenced else ""
        return f"alert firing: {self.alertname}{labels_text(self.labels)}{silenced}"


class AlertResolved(AlertPayload):
    TYPE = "alert.resolved"
    ends_at: datetime | None = None

    def describe(self, mode: str) -> str:
        return f"alert resolved: {self.alertname}{labels_text(self.labels)}"


class PanelValue(BaseModel):
    """One panel's state at the moment of a snapshot."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)
    title: str
    kind: str
    state: str  # healthy | degraded | lost | ok | warn | crit | stale | unknown
    value: float | None = None
    series: dict[str, float] = Field(default_factory=dict)
    history: list[float] = Field(default_factory=list)
    stale: bool = False
    age_s: float | None = None
    error: str | None = None
    detail: str = ""
    unit: str = ""
    leader: str | None = None  # quorum: the leader, where the leader query gives it
    rate: float | None = None  # backlog: change per second over the recent window
    trend: str | None = None  # backlog: growing | draining | flat | unknown
    eta_s: float | None = None  # backlog: seconds until ``eta_to`` at the current rate
    eta_to: str | None = None  # backlog: empty | crit


class MetricSnapshot(Payload):
    TYPE = "metric.snapshot"
    reason: str = "manual"  # manual | step | action | poll
    panels: list[PanelValue] = Field(default_factory=list)

    def describe(self, mode: str) -> str:
        panels = "; ".join(f"{p.title} {_value(p.value)} {p.state}" for p in self.panels)
        return f"metrics ({self.reason}): {panels}"


class _SourcePayload(Payload):
    """Fields of both data-source events."""

    source: str
    url: str = ""


class SourceDown(_SourcePayload):
    TYPE = "source.down"
    TEXT = "data source down: {source} ({error})"
    error: str


class SourceUp(_SourcePayload):
    TYPE = "source.up"
    TEXT = "data source back: {source}"
    down_for_s: Seconds | None = None


class SilenceCreated(Payload):
    TYPE = "silence.created"
    DECISION = True
    TEXT = "silence {id} created by {created_by}: {comment}"
    id: str
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


class SilenceExpired(Payload):
    TYPE = "silence.expired"
    DECISION = True
    TEXT = "silence {id} expired"
    id: str


# -- runbook execution -----------------------------------------------------------------------


class _StepPayload(Payload):
    """Fields of both step events."""

    step: str
    number: int
    title: str


class StepEntered(_StepPayload):
    TYPE = "step.entered"
    TEXT = "step {number}: {title}"


class StepSkipped(_StepPayload):
    TYPE = "step.skipped"
    DECISION = True
    TEXT, TAIL = "step {number} skipped ({title})", "reason"
    reason: str = ""


class _RunPayload(Payload):
    """Fields of every event about one run of a block."""

    run: str
    block: str


class BlockStarted(_RunPayload):
    """A block run began. ``run`` identifies this run (a block may run many times)."""

    TYPE = "block.started"
    DECISION = True
    step: str | None = None
    kind: Literal["check", "action"]
    lang: str
    command: str
    nodes: list[str]
    runbook: str | None = None
    runbook_sha256: str | None = None
    requires: list[str] = Field(default_factory=list)
    attempt: int = 1

    def describe(self, mode: str) -> str:
        nodes = ", ".join(self.nodes)
        return f"{self.kind} {self.block} started on {nodes}: {first_line(self.command)}"


class _StreamPayload(_RunPayload):
    """Fields of both events about one node's output stream in a run."""

    node: str
    stream: Literal["stdout", "stderr"]


class BlockOutput(_StreamPayload):
    TYPE = "block.output"
    TEXT = "{block} output from {node} ({stream})"
    text: str
    invalid_utf8: bool = False


class OutputTruncated(_StreamPayload):
    """Output past the per-node cap was dropped; the counts are exact."""

    TYPE = "output.truncated"
    TEXT = "{block} on {node}: {dropped_bytes} byte(s) of {stream} dropped (output cap)"
    kept_bytes: int
    dropped_bytes: int
    dropped_lines: int


class NodeResult(_RunPayload):
    TYPE = "node.result"
    node: str
    verdict: Verdict
    exit: int | None = None
    signal: str | None = None
    duration_s: Seconds = 0.0
    reason: str = ""
    value: float | None = None
    attempt: int = 1

    def describe(self, mode: str) -> str:
        parts = []
        if self.exit is not None:
            parts.append(f"exit {self.exit}")
        if self.signal:
            parts.append(f"signal {self.signal}")
        if self.value is not None:
            parts.append(f"value {self.value:g}")
        parts.append(format_duration(self.duration_s))
        reason = f": {self.reason}" if self.reason else ""
        detail = f" ({', '.join(parts)}){reason}"
        return f"{self.block} on {self.node}: {result_text(self.verdict)}{detail}"


class BlockFinished(_RunPayload):
    TYPE = "block.finished"
    verdict: BlockVerdict
    counts: dict[str, int] = Field(default_factory=dict)
    duration_s: Seconds = 0.0
    reason: str = ""

    def describe(self, mode: str) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        took = f" in {format_duration(self.duration_s)}" if self.duration_s else ""
        return f"{self.block} finished: {result_text(self.verdict)}" + (
            f" ({counts}){took}" if counts else took
        )


class BlockCancelled(_RunPayload):
    TYPE = "block.cancelled"
    DECISION = True
    TEXT, TAIL = "{block} cancelled", "reason"
    reason: str = ""
    nodes_pending: list[str] = Field(default_factory=list)


class ActionConfirmed(_RunPayload):
    TYPE = "action.confirmed"
    DECISION = True
    nodes: list[str]
    how: Literal["typed", "yes", "flag"] = "yes"
    stage: Literal["all", "canary", "rest"] = "all"

    def describe(self, mode: str) -> str:
        stage = "" if self.stage == "all" else f", {self.stage} stage"
        return f"action {self.block} confirmed ({self.how}{stage}) for {', '.join(self.nodes)}"


class ActionDeclined(_RunPayload):
    TYPE = "action.declined"
    DECISION = True
    TEXT, TAIL = "action {block} declined", "reason"
    nodes: list[str] = Field(default_factory=list)
    reason: str = ""


# -- people ----------------------------------------------------------------------------------


class _Backdatable(Payload):
    """A record people make that may be about an earlier moment (``at``) or replace an
    earlier one (``corrects``, its seq)."""

    DECISION = True
    at: datetime | None = None
    corrects: int | None = None


class Note(_Backdatable):
    TYPE = "note"
    text: str

    def describe(self, mode: str) -> str:
        return f"note: {self.text}{_about(self.at, self.corrects)}"


class MilestoneSet(_Backdatable):
    TYPE = "milestone"
    name: Milestone
    derived_from: str | None = None

    def describe(self, mode: str) -> str:
        from console.journal.milestones import LABELS  # milestones imports this module

        return f"milestone: {LABELS[self.name]}{_about(self.at, self.corrects)}"


# -- drills and faults -----------------------------------------------------------------------


class DrillInject(Payload):
    TYPE = "drill.inject"
    at_s: Seconds
    description: str = ""
    effects: list[dict[str, Any]] = Field(default_factory=list)

    def describe(self, mode: str) -> str:
        return f"drill inject at {format_duration(self.at_s)}: {self.description}"


class JournalFault(Payload):
    TYPE = "journal.fault"
    operation: str
    error: str
    attempts: int = 1
    recovered: bool = False
    # Decision events whose ``emit`` raised: the caller was told they were not recorded and did
    # not act on them, though they reached the log once the fault cleared.
    failed_seqs: list[int] = Field(default_factory=list)

    def describe(self, mode: str) -> str:
        if self.recovered:
            refused = f"; decisions refused: seq {self.failed_seqs}" if self.failed_seqs else ""
            return f"journal {self.operation} recovered after {self.attempts} failure(s){refused}"
        return f"journal {self.operation} FAILED: {self.error} (attempt {self.attempts})"


class ErrorRecorded(Payload):
    """An error that stopped a run or a console action, recorded before anything else happens
    (so a crash leaves its cause in the log, and the log is then closed or suspended)."""

    TYPE = "error"
    where: str
    error: str

    def describe(self, mode: str) -> str:
        return f"ERROR in {self.where}: {first_line(self.error)}"


class Event(BaseModel):
    """One line of the incident log: the envelope and its typed payload."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)
    v: int = SCHEMA_VERSION
    seq: int = Field(ge=0)
    ts: str
    mono: Seconds
    type: str
    incident: str
    actor: str
    mode: Mode
    data: Payload
    prev: str
    hash: str

    @field_validator("ts")
    @classmethod
    def _utc_moment(cls, value: str) -> str:
        """``ts`` must be a UTC moment (``...Z``): export, timeline and resume compute with it."""
        if not _TS.fullmatch(value):
            raise ValueError(f"ts {value[:40]!r} is not a UTC time like 2026-11-22T10:15:03Z")
        try:
            datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
        except ValueError as exc:
            raise ValueError(f"ts {value!r} is not a UTC time: {exc}") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _typed_data(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and not isinstance(raw.get("data"), Payload):
            model = EVENT_TYPES.get(str(raw.get("type")))
            if model is None:
                raise ValueError(f"unknown event type {raw.get('type')!r}")
            raw = {**raw, "data": model.model_validate(raw.get("data") or {})}
        return raw

    def record(self) -> dict[str, Any]:
        """The event as the plain dict that is hashed and written."""
        out = self.model_dump(mode="json", exclude={"data"})
        out["data"] = self.data.model_dump(mode="json", exclude_none=False)
        return out
