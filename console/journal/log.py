"""The incident log on disk: one writer, append-only JSON Lines, hash-chained.

``JournalLog`` implements ``EventSink``. Each emitted payload is redacted, sealed (seq, times,
prev, hash), written with one ``write`` and, by the fsync policy recorded in the log:

- ``always``: decisions (``Payload.DECISION``) are fsynced before ``emit`` returns; everything
  else is fsynced by a group commit that starts at most ``group_commit_ms`` after the write;
- ``group``: every event is group-committed, decisions included;
- ``never``: nothing is fsynced after creation (tests, scratch logs).

Writes reach the kernel before ``emit`` returns, so a crash of the console loses nothing; the
policy says what a crash of the machine may lose. A failing write or fsync is reported at once
through ``on_fault`` (and ``fault``), retried with back-off, and recorded as a ``journal.fault``
event when it clears. A decision that cannot be made durable raises ``JournalWriteError``: the
caller must not act on it (the recovery event lists its seq in ``failed_seqs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import getpass
import hashlib
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from console import __version__
from console.errors import ConsoleError
from console.journal import events
from console.journal.chain import GENESIS, body_hash, canonical_json, join_line
from console.journal.events import (
    Event,
    JournalFault,
    MilestoneSet,
    Mode,
    Payload,
)
from console.journal.milestones import MilestoneBook, MilestoneError, parse_ts
from console.journal.reader import LineBatch, parse_event, parse_record, read_batches
from console.journal.redact import Redactor
from console.journal.verify import Verifier

FsyncPolicy = Literal["always", "group", "never"]
_MODES: dict[str, Mode] = {"live": "live", "drill": "drill", "test": "test"}


class JournalError(ConsoleError):
    """The incident log cannot be created, opened or appended to."""


class JournalWriteError(JournalError):
    """A write or fsync kept failing: the event is not durable. Do not act on it."""

    def __init__(self, message: str, fault: JournalFault) -> None:
        super().__init__(message)
        self.fault = fault


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing write or fsync is retried."""

    attempts: int = 5
    first_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th failure (exponential, capped)."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(attempt - 1, 0)))


def slugify(title: str) -> str:
    """A file-name-safe slug of ``title``: ``etcd member down`` gives ``etcd-member-down``."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:48].rstrip("-") or "incident"


def make_incident_id(title: str, now: datetime | None = None) -> str:
    """``INC-<UTC yyyymmddTHHMMSSZ>-<slug>``, the incident's id and its log's name."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"INC-{moment:%Y%m%dT%H%M%SZ}-{slugify(title)}"


def log_filename(incident_id: str) -> str:
    """The log's file name for an incident id."""
    return f"{incident_id}.jsonl"


def default_actor() -> str:
    """``user@host``, who is at the keyboard."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname().split('.')[0]}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(
            f"{path} is already being written by another console (it holds the lock): only "
            "one writer per log; follow it read-only with `incident-console timeline --follow`"
        ) from None


def _describe(err: OSError) -> str:
    name = errno.errorcode.get(err.errno or 0, "")
    return f"{err.strerror or err} ({name})" if name else str(err)


def exposure(fd: int, path: Path, *, strict: bool) -> list[str]:
    """Warnings naming the log (open as ``fd``) or its folder when others may read or write them.

    A log holds command output and hostnames, so only its owner should read it; one that others
    can write, or that sits in a folder others can write (not sticky: they could swap the file),
    could be rewritten behind the writer's back. ``strict`` (the ``prod`` profile) refuses
    those with ``JournalError`` instead of warning.
    """
    warnings, refused = [], []
    mode = os.fstat(fd).st_mode
    if mode & 0o022:
        refused.append(f"{path} can be written by others (mode {stat.S_IMODE(mode):04o})")
    elif mode & 0o044:
        warnings.append(
            f"{path} can be read by others (mode {stat.S_IMODE(mode):04o}): it holds command "
            f"output; run `chmod 600 {path}`"
        )
    folder = path.parent
    try:
        folder_mode = os.stat(folder).st_mode
    except OSError:
        folder_mode = 0
    if folder_mode & 0o022 and not folder_mode & stat.S_ISVTX:
        refused.append(
            f"the journal folder {folder} can be written by others "
            f"(mode {stat.S_IMODE(folder_mode):04o}, not sticky): they could replace the log"
        )
    if refused and strict:
        raise JournalError(
            "; ".join(refused) + ": refused under the prod profile (make it the owner's only)"
        )
    return warnings + refused


class JournalLog:
    """The single writer of one incident log. Create with ``create`` or ``open_for_append``."""

    def __init__(
        self,
        path: Path,
        fd: int,
        *,
        incident: str,
        actor: str,
        mode: Mode,
        key: bytes | None,
        fsync: FsyncPolicy,
        group_commit_ms: int,
        redactor: Redactor,
        next_seq: int = 0,
        head: str = GENESIS,
        milestones: MilestoneBook | None = None,
        on_fault: Callable[[JournalFault], None] | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use ``create`` or ``open_for_append``; this only wires an open, locked fd."""
        self.path = path
        self.incident = incident
        self.actor = actor
        self.mode: Mode = mode
        self.fsync: FsyncPolicy = fsync
        self.group_commit_ms = group_commit_ms
        self.redactor = redactor
        self.on_fault = on_fault
        self.fault: JournalFault | None = None
        self.warnings: list[str] = []  # who else can read or write the log (see ``exposure``)
        self.opening: Event | None = None  # the incident.opened or .resumed this writer wrote
        self._fd = fd
        self._key = key
        self._seq = next_seq
        self._head = head
        self._milestones = milestones or MilestoneBook()
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._monotonic = monotonic
        self._pending = bytearray()
        self._queued = 0
        self._written = 0
        self._synced = 0
        self._failed_seqs: list[int] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._retrying: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # where the timer and tasks live
        self._tasks: set[asyncio.Task[None]] = set()
        self._ending: Event | None = None
        self._closed = False

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        dir_or_path: str | Path,
        incident_id: str | None,
        title: str,
        *,
        actor: str | None = None,
        mode: Mode = "live",
        profile: str = "dev",
        runbook: str | None = None,
        scenario: str | None = None,
        key: bytes | None = None,
        fsync: FsyncPolicy = "always",
        group_commit_ms: int = 200,
        redact: Sequence[str] = (),
        redactor: Redactor | None = None,
        on_fault: Callable[[JournalFault], None] | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> JournalLog:
        """Create a new log (mode 0600) and write ``incident.opened``, fsyncing file and folder.

        ``dir_or_path`` is a folder (the file is named ``INC-<UTC time>-<slug>.jsonl``) or a
        ``.jsonl`` path. ``incident_id`` defaults to one made from ``title`` and the time.
        ``redact`` are extra regexes on top of the built-in rules; a ``redactor`` given (the
        session's, see ``session_redactor``) is used instead. Raises ``JournalError``.
        """
        redactor = redactor or Redactor(redact)
        title = redactor.text(title)
        incident = incident_id or make_incident_id(title, clock())
        target = Path(dir_or_path)
        named = target.suffix == ".jsonl" and not target.is_dir()
        folder = target.parent if named else target
        for attempt in range(1, 100):
            if not named:
                # Two incidents opened in the same second with the same title get -2, -3, ...
                unique = incident if attempt == 1 else f"{incident}-{attempt}"
                target = folder / log_filename(unique)
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            except FileExistsError:
                if named:
                    raise JournalError(
                        f"{target} already exists: resume it with "
                        f"`incident-console resume {target}`"
                    ) from None
                continue
            except OSError as exc:
                raise JournalError(f"{target}: cannot create the log: {_describe(exc)}") from None
            if not named and attempt > 1:
                incident = f"{incident}-{attempt}"
            break
        else:
            raise JournalError(f"{folder}: cannot find a free log name for {incident}")
        _lock(fd, target)
        try:
            warnings = exposure(fd, target, strict=profile == "prod")
        except JournalError:
            os.close(fd)
            target.unlink(missing_ok=True)
            raise
        log = cls(
            target,
            fd,
            incident=incident,
            actor=actor or default_actor(),
            mode=mode,
            key=key,
            fsync=fsync,
            group_commit_ms=group_commit_ms,
            redactor=redactor,
            on_fault=on_fault,
            retry=retry,
            clock=clock,
            monotonic=monotonic,
        )
        log.warnings = warnings
        opened = events.IncidentOpened(
            title=title,
            profile=profile,
            runbook=runbook,
            fsync=fsync,
            group_commit_ms=group_commit_ms,
            chain="hmac-sha256" if key else "sha256",
            console_version=__version__,
            scenario=scenario,
            redact_rules=redactor.names,
        )
        try:
            log.opening = log._write_now_durably(opened)
            _fsync_dir(target.parent)
        except OSError as exc:
            os.close(fd)
            target.unlink(missing_ok=True)
            raise JournalError(f"{target}: cannot write the log: {_describe(exc)}") from None
        return log

    @classmethod
    def open_for_append(
        cls,
        path: str | Path,
        *,
        key: bytes | None = None,
        actor: str | None = None,
        fsync: FsyncPolicy | None = None,
        group_commit_ms: int | None = None,
        redactor: Redactor | None = None,
        on_fault: Callable[[JournalFault], None] | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        mode: Mode | None = None,
        profile: str | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> JournalLog:
        """Resume an open incident's log and record ``incident.resumed``.

        The whole log is verified first: damage anywhere before the last line refuses it. A torn
        last line is moved to ``<log>.broken``, cut off, and recorded. ``fsync`` defaults to the
        policy the log was opened with. ``mode``: what the caller will record (``live`` or
        ``drill``); a log of another mode is refused, so simulated and real results never mix.
        ``profile``: the config's (``prod`` refuses a log or folder others can write).
        ``on_event`` is handed every event as the log is verified, then ``incident.resumed``,
        so the caller can fold the log without reading it again (discard what it got if this
        raises). ``redactor``: the session's (the built-in rules if none is given). Raises
        ``JournalError`` with the findings, before anything is written.
        """
        target = Path(path)
        try:
            fd = os.open(target, os.O_RDWR | os.O_APPEND)
        except OSError as exc:
            raise JournalError(f"{target}: cannot open the log: {_describe(exc)}") from None
        _lock(fd, target)
        try:
            warnings = exposure(fd, target, strict=profile == "prod")
            verifier = Verifier(str(target), key=key)
            for batch in read_batches(target):
                verifier.feed_batch(batch)
                if on_event is not None and not batch.torn:
                    _hand_on(batch, on_event)
            report = verifier.finish()
            damage = [
                f for f in report.findings if f.category == "integrity" and f.code != "torn-tail"
            ]
            if not report.readable or report.incident is None:
                raise JournalError(f"{target}:1: not an incident log (no line holds an event)")
            if damage:
                listed = "\n".join(f"  {f.describe(str(target))}" for f in damage[:10])
                more = f"\n  ... and {len(damage) - 10} more" if len(damage) > 10 else ""
                raise JournalError(
                    f"{target} is damaged before its last line, so it is refused for appending "
                    f"(run `incident-console verify {target}`):\n{listed}{more}"
                )
            if mode is not None and report.mode != mode:
                drill = report.mode == "drill"  # the simulated cluster went with the drill
                raise JournalError(
                    f"{target} is a {report.mode} log and this is a {mode} run: {mode} results "
                    f"are never appended to a {report.mode} log (nothing was run or written; "
                    "give a folder to start a new log)"
                    + (
                        "; a drill cannot be resumed: start a new one with `incident-console drill`"
                        if drill
                        else ""
                    )
                )
            if report.closed:
                raise JournalError(
                    f"{target}: the incident was closed (seq {report.last_seq}); a closed log "
                    "is never appended to"
                )
            opened = verifier.opened or {}
            policy: FsyncPolicy = fsync or opened.get("fsync", "always")
            commit_ms = group_commit_ms or int(opened.get("group_commit_ms", 200))
            redactor = redactor or Redactor()
            log = cls(
                target,
                fd,
                incident=report.incident,
                actor=actor or default_actor(),
                mode=_MODES[report.mode or "live"],
                key=key,
                fsync=policy,
                group_commit_ms=commit_ms,
                redactor=redactor,
                next_seq=report.last_seq + 1,
                head=report.head or GENESIS,
                milestones=verifier.milestones,
                on_fault=on_fault,
                retry=retry,
                clock=clock,
                monotonic=monotonic,
            )
            log.warnings = warnings
            resumed = events.IncidentResumed(
                after_crash=report.torn_tail is not None
                or verifier.last_type != "incident.suspended",
                fsync=policy,
                group_commit_ms=commit_ms,
                redact_rules=redactor.names,
            )
            if report.torn_tail is not None:
                resumed = log._set_torn_aside(report.torn_tail.offset, resumed)
            log.opening = log._write_now_durably(resumed)
            if on_event is not None:
                on_event(log.opening)
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"{target}: cannot append to the log: {_describe(exc)}") from None
        except BaseException:
            os.close(fd)
            raise
        return log

    def _set_torn_aside(
        self, offset: int, resumed: events.IncidentResumed
    ) -> events.IncidentResumed:
        """Copy the torn tail to ``<log>.broken``, cut it off the log, say so in ``resumed``."""
        size = os.fstat(self._fd).st_size
        torn = os.pread(self._fd, size - offset, offset)
        broken = self.path.with_name(self.path.name + ".broken")
        bfd = os.open(broken, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            broken_offset = os.fstat(bfd).st_size
            os.write(bfd, torn)
            os.fsync(bfd)
        finally:
            os.close(bfd)
        os.ftruncate(self._fd, offset)
        os.fsync(self._fd)
        _fsync_dir(self.path.parent)
        return resumed.model_copy(
            update={
                "torn_offset": offset,
                "torn_bytes": len(torn),
                "broken_file": broken.name,
                "broken_offset": broken_offset,
                "torn_sha256": hashlib.sha256(torn).hexdigest(),
            }
        )

    # -- emitting --------------------------------------------------------------------------

    @property
    def head(self) -> str:
        """The hash of the last event: what the status bar shows and ``verify --head`` checks."""
        return self._head

    @property
    def next_seq(self) -> int:
        """The seq the next event will get."""
        return self._seq

    @property
    def closed(self) -> bool:
        """Whether the log was closed or suspended (no more events)."""
        return self._closed

    def fileno(self) -> int:
        """The log's file descriptor (for tests that simulate a failing disk)."""
        return self._fd

    async def emit(self, payload: Payload) -> Event:
        """Append ``payload`` as the next event and return it, redacted and sealed.

        Decisions are durable on return under the ``always`` policy. Raises ``MilestoneError``
        for a milestone that would break the record (nothing written), ``JournalWriteError``
        when a decision cannot be made durable, ``JournalError`` once the log is closed.
        """
        if self._ending is not None or self._closed:
            raise JournalError(f"{self.path}: the log is closed; nothing more can be recorded")
        return await self._emit(payload)

    def _adopt_running_loop(self) -> None:
        """Forget a group-commit timer and background tasks left on another loop.

        They belong to the loop that was running when they were made; once that loop is closed
        or no longer runs they never fire, and a pending timer would block every later group
        commit. What they were for is still queued, so the next commit on this loop covers it.
        """
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._sync_task = None
        self._retrying = None
        self._tasks.clear()
        self._loop = loop

    async def _emit(self, payload: Payload) -> Event:
        self._adopt_running_loop()
        event = self._append(payload)
        if payload.DECISION and self.fsync == "always":
            try:
                await self._durable()
            except JournalWriteError:
                self._failed_seqs.append(event.seq)
                self._retry_in_background()
                raise
        else:
            if self._retrying is None or self._retrying.done():
                error = self._try_write()
                if error is not None:
                    self._note_fault("write", error)
                    self._retry_in_background()
            self._schedule_commit()
        return event

    def _append(self, payload: Payload) -> Event:
        """Redact and seal ``payload`` as the next event, and queue its line."""
        now = self._clock()
        payload = self.redactor.payload(payload)
        if isinstance(payload, MilestoneSet):
            problems = self._milestones.problems_with(payload, self._seq, parse_ts(_ts(now)))
            if problems:
                raise MilestoneError("milestone refused: " + "; ".join(problems))
        record = {
            "v": 1,
            "seq": self._seq,
            "ts": _ts(now),
            "mono": round(self._monotonic(), 6),
            "type": payload.TYPE,
            "incident": self.incident,
            "actor": self.actor,
            "mode": self.mode,
            "data": payload.model_dump(mode="json"),
            "prev": self._head,
        }
        body = canonical_json(record)
        digest = body_hash(body, self._key)
        record["hash"] = digest
        event = Event.model_validate(record)
        line = join_line(body, digest) + b"\n"
        if isinstance(payload, MilestoneSet):
            self._milestones.apply(payload, self._seq, parse_ts(event.ts))
        self._pending += line
        self._queued += len(line)
        self._seq += 1
        self._head = event.hash
        return event

    def _write_now_durably(self, payload: Payload) -> Event:
        """Write and fsync one event without an event loop (creation and resume)."""
        event = self._append(payload)
        while self._pending:
            written = os.write(self._fd, self._pending)
            del self._pending[:written]
            self._written += written
        os.fsync(self._fd)
        self._synced = self._written
        return event

    def _try_write(self) -> OSError | None:
        """Write what is queued; the error if the disk refused (what was written stays so)."""
        while self._pending:
            try:
                written = os.write(self._fd, self._pending)
            except OSError as exc:
                return exc
            del self._pending[:written]
            self._written += written
        return None

    async def _drain(self, attempts: int | None) -> None:
        """Write everything queued, retrying with back-off; give up after ``attempts``."""
        tries = 0
        while True:
            error = self._try_write()
            if error is None:
                self._recovered("write")
                if not self._pending:
                    return
                continue
            tries += 1
            fault = self._note_fault("write", error)
            if attempts is not None and tries >= attempts:
                raise JournalWriteError(
                    f"cannot write the incident log {self.path}: {fault.error} "
                    f"({fault.attempts} attempts); the event is not recorded, do not act on it",
                    fault,
                )
            await asyncio.sleep(self._retry.delay(fault.attempts))

    def _retry_in_background(self) -> None:
        """Keep retrying what is queued until the disk takes it (one retrier at a time)."""
        if self._retrying is None or self._retrying.done():
            self._retrying = self._spawn(self._drain_forever())

    async def _drain_forever(self) -> None:
        await asyncio.sleep(self._retry.delay(self.fault.attempts if self.fault else 1))
        await self._drain(None)
        self._schedule_commit()

    async def _durable(self) -> None:
        """Return once everything queued so far is written and fsynced."""
        target = self._queued
        await self._drain(self._retry.attempts)
        while self._synced < target:
            if self._sync_task is None:
                self._sync_task = asyncio.get_running_loop().create_task(self._fsync())
            await asyncio.shield(self._sync_task)

    async def _fsync(self) -> None:
        """One fsync covering everything written when it starts, retried on failure."""
        try:
            upto = self._written
            tries = 0
            while True:
                try:
                    await asyncio.to_thread(os.fsync, self._fd)
                    break
                except OSError as exc:
                    tries += 1
                    fault = self._note_fault("fsync", exc)
                    if tries >= self._retry.attempts:
                        raise JournalWriteError(
                            f"cannot fsync the incident log {self.path}: {fault.error} "
                            f"({fault.attempts} attempts); recent events may not be durable",
                            fault,
                        ) from None
                    await asyncio.sleep(self._retry.delay(fault.attempts))
            self._synced = max(self._synced, upto)
            self._recovered("fsync")
        finally:
            self._sync_task = None

    def _schedule_commit(self) -> None:
        """Start a group commit within ``group_commit_ms`` unless one is due already."""
        if self.fsync == "never" or self._timer is not None or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._timer = loop.call_later(self.group_commit_ms / 1000, self._commit_now)

    def _commit_now(self) -> None:
        self._timer = None
        if self._written > self._synced or self._pending:
            self._spawn(self._group_commit())

    async def _group_commit(self) -> None:
        # A failure is already reported through ``on_fault`` and stays in ``fault`` until a
        # later write or fsync succeeds; the next decision retries it.
        with contextlib.suppress(JournalWriteError):
            await self._durable()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- faults ----------------------------------------------------------------------------

    def _note_fault(self, operation: str, error: OSError) -> JournalFault:
        attempts = self.fault.attempts + 1 if self.fault else 1
        self.fault = JournalFault(operation=operation, error=_describe(error), attempts=attempts)
        if self.on_fault:
            self.on_fault(self.fault)
        return self.fault

    def _recovered(self, operation: str) -> None:
        """After a fault of ``operation``, record that it cleared (and which decisions were
        refused meanwhile)."""
        if self.fault is None or self.fault.operation != operation:
            return
        fault = self.fault.model_copy(
            update={"recovered": True, "failed_seqs": list(self._failed_seqs)}
        )
        self.fault = None
        self._failed_seqs = []
        self._append(fault)
        if self.on_fault:
            self.on_fault(fault)
        error = self._try_write()
        if error is not None:
            self._note_fault("write", error)

    # -- ending ----------------------------------------------------------------------------

    async def close(self, summary: str = "") -> Event:
        """Close the incident: write ``incident.closed`` (final seq and head), sync, release.

        Returns the closing event; its hash is the head to paste in the incident channel.
        """
        if self._ending is None:
            closing = events.IncidentClosed(
                final_seq=self._seq - 1, head_hash=self._head, summary=summary
            )
            self._ending = await self._emit(closing)
        await self._shutdown()
        return self._ending

    async def suspend(self, reason: str = "") -> Event:
        """Stop writing without closing the incident (a later resume is not after a crash)."""
        if self._ending is None:
            self._ending = await self._emit(events.IncidentSuspended(reason=reason))
        await self._shutdown()
        return self._ending

    async def _shutdown(self) -> None:
        if self._closed:
            return
        self._adopt_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._drain(self._retry.attempts)
        if self.fsync != "never":
            await self._durable()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._closed = True
        os.close(self._fd)


def _hand_on(batch: LineBatch, on_event: Callable[[Event], None]) -> None:
    """Parse ``batch``'s lines into events for ``on_event``; the verifier reports bad ones."""
    for data in batch.lines:
        try:
            event = parse_event(parse_record(data))
        except ValueError:
            continue
        on_event(event)


def _ts(moment: datetime) -> str:
    """``2026-11-22T10:15:03.123456Z``, the envelope's ``ts``."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
