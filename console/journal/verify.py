"""Verify an incident log: integrity, completeness and policy.

``Verifier`` is fed the log's raw lines one at a time (so a million-event log needs no more
memory than its open block runs) and gives a ``VerifyReport`` of findings, each with the seq and
line it is about. It does no I/O: the caller reads the lines and, for the runbook drift check,
hashes today's runbook files.

Integrity: every line is canonical JSON whose hash (SHA-256, or HMAC-SHA256 with a key) covers
its bytes; seq is contiguous from 0; each ``prev`` is the hash before it; a torn last line is
reported as such. Completeness: every started block ended (finished, cancelled, or cut by a
recorded crash) and every action was confirmed first. Policy: an action's ``requires`` checks
passed before it, a check ran after each action, milestones are in order, runbooks unchanged.
"""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from console.journal.chain import GENESIS, body_hash, canonical_json, event_hash, split_line
from console.journal.events import (
    SCHEMA_VERSION,
    ActionConfirmed,
    ActionDeclined,
    BlockCancelled,
    BlockFinished,
    BlockStarted,
    DrillInject,
    Event,
    IncidentClosed,
    IncidentOpened,
    IncidentResumed,
    JournalFault,
    MilestoneSet,
    NodeResult,
    RunbookLoaded,
)
from console.journal.milestones import MilestoneBook, as_utc, parse_ts, utc_text
from console.journal.reader import (
    MAX_LINE_BYTES,
    LineBatch,
    RawLine,
    line_size,
    parse_event,
    parse_record,
    read_batches,
)
from console.runbook.languages import block_format

Category = Literal["integrity", "completeness", "policy"]
Severity = Literal["error", "warning", "info"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_OUTPUT_END = b'","type":"block.output","v":1}'
_INCIDENT_FILE = re.compile(r"(INC-\d{8}T\d{6}Z-[a-z0-9-]+)\.jsonl")
_WRITTEN_TS = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

# How far clocks may legitimately wander before verify calls it out.
CLOCK_STEP = timedelta(seconds=60)  # an NTP correction steps the wall clock by seconds
FUTURE_SLACK = timedelta(hours=1)  # the writing machine's clock a little ahead of this one
BACKDATE_LIMIT = timedelta(days=30)  # a milestone set long after the fact (impact began earlier)


@dataclass(frozen=True)
class Finding:
    """One thing verify found: what, how bad, and the seq and line it is about."""

    category: Category
    code: str
    severity: Severity
    seq: int | None
    line: int
    message: str

    def describe(self, file: str) -> str:
        """``file:line: seq N: error: message [category/code]``, for people."""
        seq = f"seq {self.seq}: " if self.seq is not None else ""
        tag = f"[{self.category}/{self.code}]"
        return f"{file}:{self.line}: {seq}{self.severity}: {self.message} {tag}"

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``: every field, in order."""
        return asdict(self)


@dataclass(frozen=True)
class TornInfo:
    """Where the torn tail starts and how long it is."""

    offset: int
    length: int
    line: int
    seq: int


@dataclass
class VerifyReport:
    """The outcome of verifying one log."""

    file: str
    findings: list[Finding]
    events: int
    last_seq: int
    head: str | None
    chain: str | None
    incident: str | None
    mode: str | None
    closed: bool
    torn_tail: TornInfo | None
    readable: bool

    @property
    def failed(self) -> bool:
        """Whether any finding is an error or a warning (info never fails a log)."""
        return any(f.severity != "info" for f in self.findings)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings (2, unreadable, is the caller's to give)."""
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return {
            "file": self.file,
            "ok": not self.failed,
            "events": self.events,
            "last_seq": self.last_seq,
            "head": self.head,
            "chain": self.chain,
            "incident": self.incident,
            "mode": self.mode,
            "closed": self.closed,
            "torn_tail": None
            if self.torn_tail is None
            else {
                "offset": self.torn_tail.offset,
                "bytes": self.torn_tail.length,
                "line": self.torn_tail.line,
                "seq": self.torn_tail.seq,
            },
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass
class _Run:
    seq: int
    line: int
    block: str
    kind: str
    requires: list[str]
    lang: str = "sh"
    nodes: frozenset[str] = frozenset()


@dataclass
class LoadedRunbook:
    """A ``runbook.loaded`` event: which file, its hash then, and where in the log."""

    seq: int
    line: int
    path: str
    sha256: str


@dataclass
class Verifier:
    """Feed it the log's lines in order, then call ``finish``."""

    file: str
    key: bytes | None = None
    head: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    findings: list[Finding] = field(default_factory=list)
    runbooks: list[LoadedRunbook] = field(default_factory=list)
    milestones: MilestoneBook = field(default_factory=MilestoneBook)
    chain: str | None = None
    opened: dict[str, Any] | None = None
    incident: str | None = None
    mode: str | None = None
    last_seq: int = -1
    last_hash: str | None = None
    last_type: str | None = None
    closed_seq: int | None = None
    torn: TornInfo | None = None
    records: int = 0
    _expected: int = 0
    _slack: int = 0
    _prev: str | None = GENESIS
    _hash_key: bytes | None = None
    _check_hashes: bool = True
    _mid: bytes | None = None
    _head_seen: bool = False
    _last_line: int = 0
    _after_close_reported: bool = False
    _runs: dict[str, _Run] = field(default_factory=dict)
    _open: dict[str, _Run] = field(default_factory=dict)
    _confirmed: dict[str, set[str]] = field(default_factory=dict)
    _declined: set[str] = field(default_factory=set)
    _passed: set[str] = field(default_factory=set)
    _awaiting_check: dict[str, _Run] = field(default_factory=dict)
    _milestone_lines: dict[int, int] = field(default_factory=dict)
    _opened_at: datetime | None = None
    _last_ts: str | None = None  # as written: fixed width, so byte order is time order
    _last_mono: float = 0.0  # within this session (the monotonic clock restarts with each)
    _mode_mixed: bool = False

    def __post_init__(self) -> None:
        future = (self.now + FUTURE_SLACK).astimezone(UTC).replace(tzinfo=None)
        self._future_ts = (future.isoformat(timespec="microseconds") + "Z").encode()

    # -- integrity ------------------------------------------------------------------------

    def feed(self, raw: RawLine) -> None:
        """Check one line of the log."""
        self._last_line = raw.number
        if raw.torn:
            seq = self._expected + self._slack
            length = line_size(raw.data)
            self.torn = TornInfo(raw.offset, length, raw.number, seq)
            self._add(
                "integrity",
                "torn-tail",
                seq,
                raw.number,
                f"torn tail: {length} byte(s) at offset {raw.offset} without a final "
                "newline, a write cut short by a crash (not tampering); resuming the incident "
                "moves them to a .broken file and records it",
                "warning",
            )
            return
        if self.closed_seq is not None and not self._after_close_reported:
            self._after_close_reported = True
            self._add(
                "integrity",
                "after-close",
                self._expected,
                raw.number,
                f"line after incident.closed (seq {self.closed_seq}): the log was appended to "
                "after it was closed",
            )
        self._slow(raw)

    def feed_batch(self, batch: LineBatch) -> None:
        """Check a batch of lines (see ``read_batches``): runs of the writer's output lines go
        through the fast loop, every other line through ``feed``."""
        lines, number, offset, i = batch.lines, batch.number, batch.offset, 0
        while i < len(lines):
            if not batch.torn:
                run_end = self._fast_run(lines, i)
                number += run_end - i
                offset += sum(line_size(line) for line in lines[i:run_end]) + run_end - i
                i = run_end
                if i == len(lines):
                    break
            data = lines[i]
            self.feed(RawLine(number, offset, data, batch.torn))
            i, number, offset = i + 1, number + 1, offset + line_size(data) + 1

    def _fast_run(self, lines: list[bytes], i: int) -> int:
        """Accept consecutive ``block.output`` lines from ``lines[i]`` that are exactly what the
        writer writes next; return the index of the first line that is not one.

        Almost every line of a big log is one, so this parses no JSON: the hash covers the
        bytes, and the envelope after it is scalars in a fixed order, checked piece by piece
        (the incident, mode, prev and seq it must have). Any line that is not exactly that stops
        the run and goes through ``feed``, which parses it and says what is wrong.
        """
        mid, prev_hash = self._mid, self._prev
        if mid is None or prev_hash is None or self._slack or self.closed_seq is not None:
            return i
        if self._last_ts is None:
            return i
        key, head = self._hash_key, (self.head or "").encode()
        expected, prev, start = self._expected, prev_hash.encode(), i
        mono_skip, end_size = 73 + len(mid), len(_OUTPUT_END)
        last_ts, last_mono, future = self._last_ts.encode(), self._last_mono, self._future_ts
        for data in lines[i:]:
            if not data.endswith(_OUTPUT_END) or len(data) >= MAX_LINE_BYTES:
                break
            at = data.rfind(b',"hash":"')
            if at <= 0 or not data.startswith(mid, at + 73):
                break
            mono_at = at + mono_skip
            prev_at = data.find(b',"prev":"', mono_at)
            if prev_at < 0 or data.find(b'"', mono_at, prev_at) >= 0:
                break
            marker = b'","seq":%d,"ts":"' % expected
            seq_at = prev_at + 73
            if not data.startswith(prev, prev_at + 9) or not data.startswith(marker, seq_at):
                break
            ts_at, ts_end = seq_at + len(marker), len(data) - end_size
            if data.find(b'"', ts_at) != ts_end:
                break
            # Clocks: anything but a well-formed time and mono moving forward goes to ``feed``.
            ts = data[ts_at:ts_end]
            if not (_WRITTEN_TS.fullmatch(ts) and last_ts <= ts <= future):
                break
            try:
                mono = float(data[mono_at:prev_at])
            except ValueError:
                break
            if not (math.isfinite(mono) and mono >= last_mono):
                break
            digest = body_hash(data[:at] + data[at + 74 :], key).encode()
            if not data.startswith(digest, at + 9):
                break
            if head and digest.startswith(head):
                self._head_seen = True
            prev, expected, i = digest, expected + 1, i + 1
            last_ts, last_mono = ts, mono
        if i > start:
            self._last_ts, self._last_mono = last_ts.decode(), last_mono
            self.records += i - start
            self.last_type = "block.output"
            self.last_seq, self._expected = expected - 1, expected
            self._prev = self.last_hash = prev.decode()
        return i

    def _slow(self, raw: RawLine) -> None:
        try:
            record = parse_record(raw.data)
        except ValueError as exc:
            self._lost(raw, f"line is {exc}: edited or corrupted")
            return
        problem = _envelope_problem(record)
        if problem:
            self._lost(raw, f"not an incident-log event: {problem}")
            return
        if self.records == 0:
            self._first(raw, record)
        self.records += 1
        claimed = record["hash"]
        position = self._expected + self._slack
        if record["incident"] == self.incident and record["mode"] != self.mode:
            self._mixed(position, raw.number, f"a {record['mode']} event")
        elif record["incident"] != self.incident or record["mode"] != self.mode:
            self._add(
                "integrity",
                "foreign-line",
                position,
                raw.number,
                f"line belongs to incident {record['incident']!r} ({record['mode']}), not "
                f"{self.incident!r} ({self.mode}): spliced in from another log",
            )
        verdict = self._hash_verdict(raw.data, record) if self._check_hashes else "ok"
        if verdict == "reformatted":
            self._add(
                "integrity",
                "not-canonical",
                position,
                raw.number,
                "line is not in canonical form (reformatted by a tool?); its content matches "
                "its hash",
                "warning",
            )
        elif verdict == "edited":
            self._add(
                "integrity",
                "hash-mismatch",
                position,
                raw.number,
                f"hash does not match the content: seq {position} was edited "
                + ("(or the key is wrong)" if self._hash_key else "after it was written"),
            )
            # Its seq may be the edited part: keep counting from its place, not its claim.
            self._advance(claimed)
        else:
            self._link(raw, record["seq"], record["prev"], claimed)
        self.last_type = record["type"]
        if record["v"] != SCHEMA_VERSION:
            self._add(
                "integrity",
                "version",
                record["seq"],
                raw.number,
                f"event version {record['v']} is not {SCHEMA_VERSION}: written by another "
                "version of the console",
            )
            return
        try:
            event = parse_event(record)
        except ValueError as exc:
            self._add("integrity", "schema", record["seq"], raw.number, str(exc))
            return
        self._event(event, raw.number)

    def _first(self, raw: RawLine, record: dict[str, Any]) -> None:
        """The first event fixes the incident, mode and chain every other line must match."""
        self.incident, self.mode = record["incident"], record["mode"]
        named = _INCIDENT_FILE.fullmatch(Path(self.file).name)
        if named and named.group(1) != self.incident:
            self._add(
                "integrity",
                "incident-mismatch",
                record["seq"],
                raw.number,
                f"the file is named for incident {named.group(1)} but its log is incident "
                f"{self.incident!r}: another incident's log was put in its place",
            )
        data = record.get("data")
        if record["type"] == "incident.opened" and record["seq"] == 0 and isinstance(data, dict):
            self.opened = data
            self.chain = str(data.get("chain", "sha256"))
        else:
            self.chain = "hmac-sha256" if self.key else "sha256"
            self._add(
                "integrity",
                "no-opening",
                0,
                raw.number,
                "the log does not start with incident.opened at seq 0: its beginning is missing",
            )
        if self.chain == "hmac-sha256":
            self._hash_key = self.key
            if not self.key:
                self._check_hashes = False
                self._add(
                    "integrity",
                    "key-missing",
                    0,
                    raw.number,
                    "the log is HMAC-chained but no key was given, so its hashes were not "
                    "checked: set INCIDENT_LOG_KEY or pass --key-env VAR",
                )
        elif self.key:
            self._add(
                "integrity",
                "chain-downgrade",
                0,
                raw.number,
                f"a key was given but the log says its chain is {self.chain}, which anyone can "
                "recompute: either it was written without a key or it was rewritten",
            )
        if self._check_hashes:  # the fixed middle of every later line's envelope tail
            incident, mode = canonical_json(self.incident), canonical_json(self.mode)
            self._mid = b'","incident":' + incident + b',"mode":' + mode + b',"mono":'

    def _hash_verdict(self, data: bytes, record: dict[str, Any]) -> str:
        """``ok``, ``reformatted`` (content matches, bytes are not canonical) or ``edited``."""
        claimed = record["hash"]
        if not _HEX64.fullmatch(claimed):
            return "edited"
        split = split_line(data)
        if split is not None and hmac.compare_digest(body_hash(split[0], self._hash_key), claimed):
            return "ok"
        if hmac.compare_digest(event_hash(record, self._hash_key), claimed):
            return "reformatted"
        return "edited"

    def _link(self, raw: RawLine, seq: int, prev: str, claimed: str) -> None:
        """Check the line's place in the sequence and the chain, then move on."""
        low, high = self._expected, self._expected + self._slack
        if seq < low:
            self._add(
                "integrity",
                "seq-order",
                seq,
                raw.number,
                f"seq {seq} appears again or out of order (seq {low} expected): a line was "
                "inserted, duplicated or moved",
            )
            return
        if seq > high:
            missing = f"seq {high}" if seq == high + 1 else f"seq {high} to {seq - 1}"
            self._add(
                "integrity",
                "seq-gap",
                high,
                raw.number,
                f"{missing} missing before this line (seq {seq}): lines were deleted or moved",
            )
        elif not self._slack and self._prev is not None and prev != self._prev:
            self._add(
                "integrity",
                "chain-broken",
                seq,
                raw.number,
                f"prev does not match the hash of seq {seq - 1}: one of the two lines was replaced",
            )
        self._expected, self._slack = seq, 0
        self._advance(claimed)

    def _advance(self, claimed: str) -> None:
        self.last_seq = self._expected + self._slack
        self._expected = self.last_seq + 1
        self._slack = 0
        self._prev = claimed if _HEX64.fullmatch(claimed) else None
        self.last_hash = self._prev
        if self.head and claimed.startswith(self.head):
            self._head_seen = True

    def _lost(self, raw: RawLine, message: str) -> None:
        """A line that cannot be read: its seq is unknown, so the next line may skip one."""
        self._add("integrity", "unreadable-line", self._expected + self._slack, raw.number, message)
        self._slack += 1
        self._prev = None

    # -- completeness and policy ----------------------------------------------------------

    def _event(self, event: Event, line: int) -> None:
        data = event.data
        self._clocks(event, line)
        if isinstance(data, BlockStarted):
            self._started(event.seq, line, data)
        elif isinstance(data, BlockFinished | BlockCancelled):
            run = self._known(event, line, data.run)
            self._open.pop(data.run, None)
            if run and run.kind == "action":
                self._awaiting_check[data.run] = run
            if run and run.kind == "check" and getattr(data, "verdict", None) == "pass":
                self._passed.add(run.block)
        elif isinstance(data, NodeResult):
            run = self._known(event, line, data.run)
            if run and not _series_as_nodes(run.lang) and data.node not in run.nodes:
                self._add(
                    "completeness",
                    "node-not-started",
                    event.seq,
                    line,
                    f"result from {data.node} for {run.kind} {data.block!r} (run {data.run}), "
                    f"which started on {', '.join(sorted(run.nodes)) or 'no node'} only",
                )
            if run and run.kind == "action" and data.node not in self._confirmed.get(data.run, ()):
                self._add(
                    "completeness",
                    "unconfirmed-node",
                    event.seq,
                    line,
                    f"action {data.block!r} (run {data.run}) ran on {data.node} without a "
                    "confirmation naming that node",
                )
        elif isinstance(data, ActionConfirmed):
            self._confirmed.setdefault(data.run, set()).update(data.nodes)
        elif isinstance(data, ActionDeclined):
            self._declined.add(data.run)
        elif isinstance(data, IncidentResumed) and data.after_crash:
            for name, run in self._open.items():
                if run.kind == "action":
                    self._awaiting_check[name] = run
            self._open.clear()
        elif isinstance(data, JournalFault) and data.failed_seqs:
            failed = set(data.failed_seqs)
            for table in (self._open, self._awaiting_check):
                for name in [n for n, r in table.items() if r.seq in failed]:
                    del table[name]
        elif isinstance(data, MilestoneSet):
            self._backdated(event, data, line)
            self._milestone_lines[event.seq] = line
            self.milestones.apply(data, event.seq, parse_ts(event.ts))
        elif isinstance(data, RunbookLoaded):
            self.runbooks.append(LoadedRunbook(event.seq, line, data.path, data.sha256))
        elif isinstance(data, IncidentClosed):
            self._closed(event, data, line)
        elif isinstance(data, IncidentOpened) and event.seq != 0:
            self._add(
                "integrity",
                "reopened",
                event.seq,
                line,
                "a second incident.opened: an incident is opened once, at seq 0 (another log's "
                "start was spliced in, or the log was rewritten)",
            )
        elif isinstance(data, DrillInject) and self.mode != "drill":
            self._mixed(event.seq, line, "a drill injection")

    def _mixed(self, seq: int, line: int, what: str) -> None:
        """A drill's event in a live log or the other way round (reported once per log)."""
        if self._mode_mixed:
            return
        self._mode_mixed = True
        self._add(
            "integrity",
            "mode-mixed",
            seq,
            line,
            f"{what} in a {self.mode} log: drill and live events are mixed, so the log no "
            "longer tells what really ran",
        )

    def _clocks(self, event: Event, line: int) -> None:
        """Times must be plausible: not in the future, not before the opening, not stepping
        back more than an NTP correction would; ``mono`` never goes back within a session."""
        at = parse_ts(event.ts)
        if event.seq == 0 and isinstance(event.data, IncidentOpened):
            self._opened_at = at
        opened = self._opened_at
        if at - self.now > FUTURE_SLACK:  # differences: a sum may overflow
            self._add(
                "integrity",
                "time-future",
                event.seq,
                line,
                f"ts {event.ts} is in the future (verified at {utc_text(self.now)})",
            )
        elif opened is not None and opened - at > CLOCK_STEP:
            self._add(
                "integrity",
                "time-before-opening",
                event.seq,
                line,
                f"ts {event.ts} is before the incident was opened ({utc_text(opened)})",
            )
        elif self._last_ts is not None and parse_ts(self._last_ts) - at > CLOCK_STEP:
            self._add(
                "policy",
                "time-backwards",
                event.seq,
                line,
                f"ts {event.ts} is more than {CLOCK_STEP.seconds}s before the event ahead of it "
                f"({self._last_ts}): the clock was set back, or lines were rewritten",
                "warning",
            )
        if isinstance(event.data, IncidentResumed):
            self._last_mono = 0.0  # a new session: a new process's monotonic clock
        elif event.mono < self._last_mono:
            self._add(
                "integrity",
                "mono-backwards",
                event.seq,
                line,
                f"mono {event.mono} is before {self._last_mono} of the event ahead of it in the "
                "same session: a monotonic clock never goes back",
            )
        self._last_ts, self._last_mono = event.ts, event.mono

    def _backdated(self, event: Event, data: MilestoneSet, line: int) -> None:
        opened = self._opened_at
        if data.at is None or opened is None or opened - as_utc(data.at) <= BACKDATE_LIMIT:
            return
        self._add(
            "policy",
            "time-backdated",
            event.seq,
            line,
            f"milestone {data.name} is backdated to {utc_text(data.at)}, more than "
            f"{BACKDATE_LIMIT.days} days before the incident was opened ({utc_text(opened)})",
            "warning",
        )

    def _started(self, seq: int, line: int, data: BlockStarted) -> None:
        if data.run in self._runs:
            self._add(
                "completeness",
                "run-reused",
                seq,
                line,
                f"run {data.run} of {data.block!r} started again (first at seq "
                f"{self._runs[data.run].seq}): run ids must be unique",
            )
        run = _Run(
            seq, line, data.block, data.kind, data.requires, data.lang, frozenset(data.nodes)
        )
        self._runs[data.run] = run
        self._open[data.run] = run
        if data.kind == "check":
            self._awaiting_check.clear()
            return
        if data.run not in self._confirmed:
            why = "it was declined" if data.run in self._declined else "no action.confirmed before"
            self._add(
                "completeness",
                "unconfirmed",
                seq,
                line,
                f"action {data.block!r} (run {data.run}) started without confirmation: {why}",
            )
        for check in data.requires:
            if check not in self._passed:
                self._add(
                    "policy",
                    "requires-not-passed",
                    seq,
                    line,
                    f"action {data.block!r} requires check {check!r}, which had not passed in "
                    "this incident before it started",
                )

    def _known(self, event: Event, line: int, run: str) -> _Run | None:
        found = self._runs.get(run)
        if found is None:
            self._add(
                "completeness",
                "orphan",
                event.seq,
                line,
                f"{event.type} for run {run}, which never started",
            )
        return found

    def _closed(self, event: Event, data: IncidentClosed, line: int) -> None:
        self.closed_seq = event.seq
        if data.final_seq != event.seq - 1 or data.head_hash != event.prev:
            self._add(
                "integrity",
                "anchor-mismatch",
                event.seq,
                line,
                f"incident.closed says the log ended at seq {data.final_seq} with head "
                f"{data.head_hash[:12]}, but it follows seq {event.seq - 1} with head "
                f"{event.prev[:12]}",
            )

    # -- the end --------------------------------------------------------------------------

    def finish(self, runbook_hashes: Mapping[str, str | None] | None = None) -> VerifyReport:
        """The report, after the last line; ``runbook_hashes`` maps each loaded runbook path
        to today's SHA-256 of that file (``None``: the file is gone)."""
        ended = "" if self.closed_seq is not None else " (the log ends while it ran)"
        for run in self._open.values():
            self._add(
                "completeness",
                "unfinished",
                run.seq,
                run.line,
                f"{run.kind} {run.block!r} started at seq {run.seq} never finished, was not "
                f"cancelled and was not cut by a recorded crash{ended}",
            )
        for run in self._awaiting_check.values():
            self._add(
                "policy",
                "no-check-after-action",
                run.seq,
                run.line,
                f"no check ran after action {run.block!r} (seq {run.seq}) to verify its effect",
            )
        for seq, problem in self.milestones.problems:
            self._add("policy", "milestone", seq, self._milestone_lines.get(seq, 0), problem)
        self._drift(runbook_hashes or {})
        if self.head and not self._head_seen:
            self._add(
                "integrity",
                "head-not-reached",
                self.last_seq + 1,
                self._last_line + 1,
                f"the log does not reach head {self.head}: events after seq {self.last_seq} "
                "were cut off, or the log was rewritten",
            )
        order = {"integrity": 0, "completeness": 1, "policy": 2}
        return self.so_far(sorted(self.findings, key=lambda f: (f.line, order[f.category])))

    def so_far(self, findings: list[Finding] | None = None) -> VerifyReport:
        """The report of the lines fed so far (``findings``: default, those found so far),
        without ending the log: what ``review --follow`` shows of a log still being written."""
        return VerifyReport(
            file=self.file,
            findings=list(self.findings) if findings is None else findings,
            events=self.records,
            last_seq=self.last_seq,
            head=self.last_hash,
            chain=self.chain,
            incident=self.incident,
            mode=self.mode,
            closed=self.closed_seq is not None,
            torn_tail=self.torn,
            readable=self.records > 0,
        )

    def _drift(self, hashes: Mapping[str, str | None]) -> None:
        for book in self.runbooks:
            if book.path not in hashes:
                continue
            today = hashes[book.path]
            if today is None:
                self._add(
                    "policy",
                    "runbook-gone",
                    book.seq,
                    book.line,
                    f"runbook {book.path} is no longer there: drift cannot be checked",
                    "info",
                )
            elif today != book.sha256:
                self._add(
                    "policy",
                    "runbook-drift",
                    book.seq,
                    book.line,
                    f"runbook {book.path} changed since it ran (sha256 {book.sha256[:12]} then, "
                    f"{today[:12]} now): read the version in version control for the review",
                    "warning",
                )

    def _add(
        self,
        category: Category,
        code: str,
        seq: int | None,
        line: int,
        message: str,
        severity: Severity = "error",
    ) -> None:
        self.findings.append(Finding(category, code, severity, seq, line, message))


def _envelope_problem(record: dict[str, Any]) -> str | None:
    """Why a record cannot be placed in the chain at all, or None."""
    checks = (
        ("seq", int),
        ("prev", str),
        ("hash", str),
        ("type", str),
        ("incident", str),
        ("mode", str),
        ("v", int),
    )
    for name, kind in checks:
        value = record.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{name!r} is missing or not a{'n integer' if kind is int else ' string'}"
    return None


def verify_path(
    path: str | Path,
    *,
    key: bytes | None = None,
    head: str | None = None,
    runbook_hashes: Mapping[str, str | None] | None = None,
) -> VerifyReport:
    """Verify a whole log file (see ``Verifier``); raises ``LogUnreadable`` if it cannot be read."""
    verifier = Verifier(str(path), key=key, head=head)
    for batch in read_batches(path):
        verifier.feed_batch(batch)
    return verifier.finish(runbook_hashes)


def _series_as_nodes(lang: str) -> bool:
    """Whether ``lang``'s results name series rather than the nodes it started on.

    A language this console does not know (a log from a newer one) is held to its nodes.
    """
    try:
        return block_format(lang).series_as_nodes
    except KeyError:
        return False
