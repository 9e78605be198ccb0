"""Walking an incident log event by event: the state as it stood at any event, cheaply.

``LogReplay`` is what ``incident-console review`` stands on. It holds the log's lines as read
(``refresh`` adds what another process appended since), parses an event only when it is
needed, and gives the state after any entry as the fold of the events up to it
(``console.journal.fold``, the same fold as the live console and the export): forward it
folds on from where it stands; backwards it starts again from the nearest checkpoint, a copy of
the state kept every ``CHECKPOINT_EVERY`` entries, never from the start.

``whole_fold`` folds the whole log once, a slice at a time between keys (so the first frame
does not wait for it): the final state, the checkpoints on the way, where the milestones are.
The milestones and TTD/TTA/TTM/TTR of the final state are ``report/milestones.py``'s, the
definition the export, the debrief and the console use.

``Remarks`` is the reviewer's file beside the log (``LOG.review.jsonl``): remarks about an
event, never written into the log itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from console.errors import Problem
from console.journal.events import Event, MilestoneSet
from console.journal.fold import IncidentState, OutputChunk
from console.journal.reader import (
    LineBatch,
    LogUnreadable,
    line_size,
    parse_event,
    parse_record,
    read_batches,
)
from console.journal.verify import VerifyReport

CHECKPOINT_EVERY = 1000
_MILESTONE_TYPE = b'"type":"milestone"'


@dataclass(frozen=True)
class BadLine:
    """A line of the log that is not an event: its line number and why."""

    line: int
    reason: str


Entry = Event | BadLine


# -- copying a state ----------------------------------------------------------------------------

_SHARED: set[type] = {str, int, float, bool, type(None), datetime, OutputChunk}
_MUTABLE: set[type] = {list, dict, set, tuple}


def _shared(kind: type) -> bool:
    """Whether values of ``kind`` are never changed once folded, so a copy may share them:
    scalars, frozen dataclasses (``Recorded``, ``Mark``), frozen pydantic payloads, and the
    fold's ``OutputChunk``, which it creates and never touches again. Learnt once per kind."""
    if kind in _SHARED:
        return True
    if kind in _MUTABLE:
        return False
    params = getattr(kind, "__dataclass_params__", None)
    frozen = (params is not None and params.frozen) or (
        issubclass(kind, BaseModel) and bool(kind.model_config.get("frozen"))
    )
    (_SHARED if frozen else _MUTABLE).add(kind)
    return frozen


def copy_state(value: Any) -> Any:
    """An independent copy of a folded state (or any part of it), sharing what never changes.

    ``copy.deepcopy`` of a big incident takes seconds; this copies the containers and the
    mutable records only, so a checkpoint costs milliseconds. A kind it does not know is an
    error, not a silent shallow copy: a new mutable record in the fold must be thought about.
    """
    kind = type(value)
    if kind in _SHARED or _shared(kind):
        return value
    if kind is list or kind is set:
        kinds = set(map(type, value))
        if kinds <= _SHARED or all(map(_shared, kinds)):
            return value.copy()
        return kind(map(copy_state, value))
    if kind is dict:
        kinds = set(map(type, value.values()))
        if kinds <= _SHARED or all(map(_shared, kinds)):
            return value.copy()
        return {k: copy_state(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(map(copy_state, value))
    if not dataclasses.is_dataclass(value):
        raise TypeError(f"copy_state: cannot copy a {kind.__name__}")
    fields = value.__dict__.copy()
    if isinstance(value, IncidentState):  # its runs are shared, copied on change (share_runs)
        fields["runs"] = value.share_runs()
        fields["_owned"] = set()
    for name, item in fields.items():
        if name == "runs" and kind is IncidentState:
            continue
        inner = type(item)
        if inner in _SHARED:
            continue
        if inner is list and set(map(type, item)) <= _SHARED:  # the common case, inline
            fields[name] = item.copy()
        else:
            fields[name] = copy_state(item)
    new = object.__new__(kind)
    new.__dict__.update(fields)
    return new


# -- the replay ---------------------------------------------------------------------------------


@dataclass
class FullPass:
    """The whole log folded once: the final state and what was learnt on the way."""

    state: IncidentState
    entries: int
    """How many entries are folded into ``state`` so far."""
    checkpoints: dict[int, IncidentState]
    milestone_entries: list[int]
    index_of_seq: dict[int, int]
    end: int = 0
    """Where the pass stops (entries appended later are the caller's to fold)."""


class LogReplay:
    """A log's lines, the events parsed from them on demand, and the state at any of them.

    Entry ``i`` is the log's ``i``-th complete line (line ``i + 1``). ``state_at(i)`` is the fold
    of the events of entries ``0..i``; lines that are not events are skipped by the fold and
    shown as ``BadLine``. ``whole_fold`` and ``advance`` fold the whole log beside it, a slice
    at a time, adding their checkpoints to the replay's.
    """

    def __init__(self, path: str | Path, *, every: int = CHECKPOINT_EVERY) -> None:
        self.path = Path(path)
        self.every = every
        self.lines: list[bytes] = []
        self.batches: list[LineBatch] = []
        """What was read, as verify wants it fed (complete lines only)."""
        self.pending: LineBatch | None = None
        """The bytes after the last newline: a line being written, or a torn tail."""
        self.shrunk = False
        """The file became shorter than what was read: rewritten or truncated under us."""
        self._entries: list[Entry | None] = []
        self._consumed = 0
        self._checkpoints: dict[int, IncidentState] = {0: IncidentState()}
        self._state = IncidentState()
        self._folded = 0  # entries folded into _state
        self._milestones: set[int] = set()

    def __len__(self) -> int:
        return len(self.lines)

    def refresh(self) -> list[LineBatch]:
        """Read what was appended since the last call; return it as new batches.

        Raises ``LogUnreadable`` if the file cannot be read.
        """
        try:
            size = os.stat(self.path).st_size
        except OSError as exc:
            raise LogUnreadable(
                f"{self.path}: cannot read the log: {exc.strerror or exc}"
            ) from None
        if size < self._consumed:
            self.shrunk = True
            return []
        if self.shrunk:
            return []
        new: list[LineBatch] = []
        self.pending = None
        for batch in read_batches(self.path, offset=self._consumed, number=len(self.lines) + 1):
            if batch.torn:
                self.pending = batch
                break
            new.append(batch)
            self.batches.append(batch)
            start = len(self.lines)
            self.lines.extend(batch.lines)
            self._entries.extend([None] * len(batch.lines))
            self._consumed = batch.offset + sum(map(line_size, batch.lines)) + len(batch.lines)
            self._milestones.update(
                start + i for i, line in enumerate(batch.lines) if _MILESTONE_TYPE in line
            )
        return new

    def entry(self, i: int) -> Entry:
        """Entry ``i``: its event, or why its line is not one (parsed once, then kept)."""
        known = self._entries[i]
        if known is None:
            try:
                known = parse_event(parse_record(self.lines[i]))
            except ValueError as exc:
                known = BadLine(i + 1, str(exc))
            self._entries[i] = known
        return known

    def problems(self, upto: int) -> list[Problem]:
        """Lines among the first ``upto`` entries that are not events, as problems."""
        out = []
        for i in range(min(upto, len(self.lines))):
            entry = self.entry(i)
            if isinstance(entry, BadLine):
                out.append(Problem(str(self.path), entry.line, entry.reason, code="journal"))
        return out

    def state_at(self, i: int) -> IncidentState:
        """The state after entry ``i`` (folded to it from where it stands or the nearest
        checkpoint). The caller must not change it; it changes with the next call."""
        target = min(i, len(self.lines) - 1) + 1
        nearest = max(k for k in tuple(self._checkpoints) if k <= target)
        if target < self._folded or nearest > self._folded:
            self._state = copy_state(self._checkpoints[nearest])
            self._folded = nearest
        self._fold_to(target)
        return self._state

    def _fold_to(self, target: int) -> None:
        while self._folded < target:
            entry = self.entry(self._folded)
            if isinstance(entry, Event):
                self._state.apply(entry)
            self._folded += 1
            if self._folded % self.every == 0 and self._folded not in self._checkpoints:
                self._checkpoints[self._folded] = copy_state(self._state)

    def whole_fold(self, upto: int | None = None) -> FullPass:
        """A fold of entries ``0..upto`` (default: all read so far), not started: ``advance``
        it, a slice at a time, so a screen can keep answering keys in between."""
        end = len(self.lines) if upto is None else upto
        return FullPass(IncidentState(), 0, {}, [], {}, end)

    def advance(self, result: FullPass, budget_s: float | None = None) -> bool:
        """Fold more of ``result``'s entries into its own state, keeping a checkpoint every
        ``every`` entries: to its end, or for about ``budget_s`` seconds. True once done.

        It touches no state of the replay's but the parse cache and the checkpoints it adds.
        """
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        state, done = result.state, result.entries
        while done < result.end:
            if done % self.every == 0 and done:
                result.checkpoints[done] = copy_state(state)
                self._checkpoints.setdefault(done, result.checkpoints[done])
            entry = self.entry(done)
            if isinstance(entry, Event):
                state.apply(entry)
                result.index_of_seq.setdefault(entry.seq, done)
                if isinstance(entry.data, MilestoneSet):
                    result.milestone_entries.append(done)
            done += 1
            if deadline is not None and done % 64 == 0 and time.perf_counter() > deadline:
                break
        result.entries = done
        return done >= result.end

    def full_pass(self, upto: int | None = None) -> FullPass:
        """The fold of entries ``0..upto`` (default: all), done at once."""
        result = self.whole_fold(upto)
        self.advance(result)
        return result

    def milestone_candidates(self) -> list[int]:
        """Entries whose line names a ``milestone`` event, as read (check with ``entry``)."""
        return sorted(self._milestones)


def split_batch(batch: LineBatch, size: int) -> list[LineBatch]:
    """``batch`` as batches of at most ``size`` lines (verify fed a slice at a time)."""
    out, number, offset = [], batch.number, batch.offset
    for start in range(0, len(batch.lines), size):
        lines = batch.lines[start : start + size]
        out.append(LineBatch(number, offset, lines, batch.torn))
        number += len(lines)
        offset += sum(map(line_size, lines)) + len(lines)
    return out


@dataclass(frozen=True)
class Banner:
    """The verify banner: ``ok``, ``warning``, ``error`` (or ``pending``), and its lines."""

    tone: str
    text: str


def verify_banner(report: VerifyReport, *, live: bool, wanted_head: str | None) -> Banner:
    """Whether the log's chain and head check out, in words, and the first problem found."""
    integrity = [f for f in report.findings if f.category == "integrity"]
    errors = [f for f in integrity if f.severity == "error"]
    other = [f for f in report.findings if f.category != "integrity" and f.severity != "info"]
    head = (report.head or "?")[:12]
    span = f"{report.events} events, seq 0-{report.last_seq}, head {head}, chain {report.chain}"
    where = " so far (live log)" if live else ""
    if not report.readable and live:
        return Banner("pending", "waiting for the first event of the log…")
    if not report.readable:
        return Banner("error", f"✘ NOT AN INCIDENT LOG{where}: no line of it holds an event")
    if errors:
        first = errors[0].describe(report.file)
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return Banner(
            "error", f"✘ NOT VERIFIED{where}: {len(errors)} integrity error(s): {first}{more}"
        )
    text = f"✔ chain verified{where}: {span}"
    if wanted_head:
        text += f"; reaches head {wanted_head[:12]}"
    if not live:
        text += "; closed" if report.closed else "; not closed"
    warnings = [f for f in integrity if f.severity == "warning"] + other
    if warnings:
        return Banner("warning", f"{text}\n⚠ {len(warnings)} finding(s): {warnings[0].message}")
    return Banner("ok", text)


# -- the reviewer's remarks -----------------------------------------------------------------------


class Remark(BaseModel):
    """A reviewer's remark about one event of the log (by its seq and hash)."""

    seq: int
    hash: str
    at: str
    actor: str
    text: str


@dataclass
class Remarks:
    """The remarks file beside a log: appended to, never the log itself."""

    path: Path
    items: list[Remark] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def beside(cls, log: Path) -> Remarks:
        """The remarks of ``log`` (``LOG.review.jsonl`` with the log's suffix replaced), read
        if the file exists; lines that are not remarks become problems."""
        path = log.with_suffix(".review.jsonl")
        if path == log:
            path = log.with_name(log.name + ".review.jsonl")
        remarks = cls(path)
        if not path.exists():
            return remarks
        try:
            batches = list(read_batches(path))
        except LogUnreadable as exc:
            remarks.problems.append(Problem(str(path), 1, str(exc), code="review"))
            return remarks
        for batch in batches:
            for number, data in enumerate(batch.lines, batch.number):
                try:
                    remarks.items.append(Remark.model_validate(parse_record(data)))
                except ValueError as exc:  # pydantic's ValidationError is one
                    reason = str(exc).splitlines()[0]
                    remarks.problems.append(Problem(str(path), number, reason, code="review"))
        return remarks

    def about(self, seq: int) -> list[Remark]:
        """The remarks on the event with ``seq``."""
        return [r for r in self.items if r.seq == seq]

    def add(self, event: Event, text: str, actor: str) -> Remark:
        """Append a remark on ``event`` to the file (created private, as logs are).

        Raises ``OSError`` if it cannot be written.
        """
        return self.add_about(event.seq, event.hash, text, actor)

    def add_about(self, seq: int, hash: str, text: str, actor: str) -> Remark:
        """Append a remark on the event with ``seq`` and ``hash`` ("" when it is not known, as
        in an export). Raises ``OSError`` if it cannot be written."""
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
        remark = Remark(seq=seq, hash=hash, at=now, actor=actor, text=text)
        line = json.dumps(remark.model_dump(), ensure_ascii=False, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.items.append(remark)
        return remark
