"""One incident (or drill) being worked: its journal, its live state, and who listens.

Everything the engines do goes through ``IncidentSink``: the event is written to the journal
first (durably, for decisions), then folded into ``IncidentState`` and handed to listeners
(the TUI). The screen therefore never shows what the log does not hold. ``run``,
``open``, ``resume`` and ``drill`` all start here.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.config import LoadedConfig
from console.errors import Problem
from console.journal.events import (
    BlockCancelled,
    ConfigLoaded,
    ErrorRecorded,
    Event,
    JournalFault,
    Mode,
    Payload,
    RiskAccepted,
    RunbookLoaded,
)
from console.journal.fold import IncidentState
from console.journal.log import JournalLog
from console.journal.redact import Redactor, session_redactor
from console.journal.sink import EventSink, MemorySink
from console.runbook.model import Runbook

Listener = Callable[[Event], None]

QUIET_TYPES = frozenset({"block.output", "metric.snapshot"})  # too many for the timeline
TIMELINE_EVENTS = 2000  # the latest events the console's timeline shows when it opens


class IncidentSink:
    """Journal first, then the live state, then the listeners."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self.state = IncidentState()
        self.timeline: deque[Event] = deque(maxlen=TIMELINE_EVENTS)  # the latest, not quiet
        self._listeners: list[Listener] = []

    def fold(self, event: Event) -> None:
        """Fold an event the journal holds into the state, as it is written or read on resume.

        Nothing reads the log back: the state is always the fold of what went through here.
        """
        self.state.apply(event)
        if event.type not in QUIET_TYPES:
            self.timeline.append(event)

    async def emit(self, payload: Payload) -> Event:
        """Record ``payload``; once it is in the journal, show it."""
        event = await self.inner.emit(payload)
        self.fold(event)
        for listener in list(self._listeners):
            listener(event)
        return event

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)


def journal_key(loaded: LoadedConfig) -> bytes | None:
    """The HMAC key from the environment variable the config names, if it is set."""
    name = loaded.config.journal.key_env
    value = os.environ.get(name) if name else None
    return value.encode() if value else None


@dataclass
class Incident:
    """An open incident: where its events go and what they add up to."""

    sink: IncidentSink
    log: JournalLog | None = None
    faults: list[JournalFault] = field(default_factory=list)
    redactor: Redactor = field(default_factory=Redactor)

    @property
    def state(self) -> IncidentState:
        """The live state, folded from every event so far."""
        return self.sink.state

    @property
    def path(self) -> Path | None:
        """The journal file, if the incident has one."""
        return self.log.path if self.log else None

    @property
    def warnings(self) -> list[str]:
        """What opening the log warned about (who else can read or write it)."""
        return self.log.warnings if self.log else []

    @property
    def incident_id(self) -> str:
        """The incident's id (``INC-...``)."""
        return self.state.incident

    @classmethod
    async def open(
        cls,
        loaded: LoadedConfig,
        title: str,
        *,
        mode: Mode = "live",
        journal: Path | None = None,
        runbook: Runbook | None = None,
        scenario: str | None = None,
        accepted: list[Problem] | None = None,
        accept_reason: str | None = None,
        in_memory: bool = False,
        redactor: Redactor | None = None,
        on_fault: Callable[[JournalFault], None] | None = None,
    ) -> Incident:
        """Start a new incident log (or an in-memory one) and record how it was started.

        ``redactor`` is the session's (default: built from the config); the journal and every
        screen that shows the incident use it. ``on_fault`` hears of every journal fault as it
        starts, repeats and clears.
        """
        config = loaded.config
        redactor = redactor or session_redactor(config)
        faults: list[JournalFault] = []
        log: JournalLog | None = None
        inner: EventSink
        opening: Event | None
        if in_memory:
            inner = MemorySink(incident="INC-dry-run", actor=config.actor or "dry-run", mode=mode)
            opening = await inner.emit(_opened(title, config.profile, runbook, scenario))
        else:
            log = JournalLog.create(
                journal or config.journal.dir,
                None,
                title,
                actor=config.actor,
                mode=mode,
                profile=config.profile,
                runbook=str(Path(runbook.file).resolve()) if runbook else None,
                scenario=scenario,
                key=journal_key(loaded),
                fsync=config.journal.fsync,
                redactor=redactor,
                on_fault=_fault_listener(faults, on_fault),
            )
            inner, opening = log, log.opening
        incident = cls(IncidentSink(inner), log, faults, redactor)
        if opening is not None:
            incident.sink.fold(opening)
        await incident.sink.emit(
            ConfigLoaded(
                path=str(loaded.path) if loaded.path else None,
                sha256=loaded.sha256,
                profile=config.profile,
            )
        )
        if accepted or accept_reason is not None:
            await incident.sink.emit(
                RiskAccepted(
                    reason=accept_reason or "", violations=[str(v) for v in accepted or []]
                )
            )
        if runbook is not None:
            await incident.record_runbook(runbook)
        return incident

    @classmethod
    async def resume(
        cls,
        loaded: LoadedConfig,
        path: Path,
        *,
        mode: Mode = "live",
        redactor: Redactor | None = None,
        on_fault: Callable[[JournalFault], None] | None = None,
    ) -> Incident:
        """Reopen an incident's log for appending; the state is the fold of what it holds.

        The log is read once, as it is verified, and folded on the way.

        ``mode`` is what will be recorded: a log of the other mode (a drill's log for a live
        run, a live log for a drill) is refused with ``JournalError`` before anything runs.
        """
        config = loaded.config
        redactor = redactor or session_redactor(config)
        faults: list[JournalFault] = []
        sink = IncidentSink(MemorySink())  # the log's events are folded here while it is read
        log = JournalLog.open_for_append(
            path,
            key=journal_key(loaded),
            actor=config.actor,
            redactor=redactor,
            on_fault=_fault_listener(faults, on_fault),
            mode=mode,
            profile=config.profile,
            on_event=sink.fold,
        )
        sink.inner = log
        return cls(sink, log, faults, redactor)

    async def record_runbook(self, runbook: Runbook) -> Event:
        """Record which runbook (and which version of it) is being worked."""
        path = str(Path(runbook.file).resolve())
        return await self.sink.emit(
            RunbookLoaded(path=path, sha256=runbook.sha256, id=runbook.id, title=runbook.title)
        )

    async def close(self, summary: str = "") -> str | None:
        """Close the incident (anchoring the head hash); returns the head hash."""
        if self.log is None:
            return None
        event = await self.log.close(summary)
        self.sink.fold(event)
        return event.hash

    async def record_error(self, where: str, exc: BaseException) -> None:
        """Journal an error that stopped ``where`` (a run, a block, the console), and cancel
        the blocks it left running, so the log says how each of them ended."""
        await self.sink.emit(ErrorRecorded(where=where, error=error_text(exc)))
        for run in [r for r in self.state.runs.values() if r.status == "running"]:
            started = run.started.data
            pending = [n for n in started.nodes if n not in run.nodes or not run.nodes[n].result]
            await self.sink.emit(
                BlockCancelled(
                    run=started.run,
                    block=started.block,
                    reason=f"stopped by an error in {where}",
                    nodes_pending=pending,
                )
            )

    async def stop_on_error(self, where: str, exc: BaseException, *, close: bool) -> None:
        """Journal the error, then close the log (``close``: a drill, a run's new log) or
        suspend it for ``resume``; the log is never left open without a word."""
        await self.record_error(where, exc)
        if close:
            await self.close(f"stopped by an error in {where}")
        else:
            await self.suspend(f"stopped by an error in {where}")

    async def suspend(self, reason: str = "") -> None:
        """Stop working the incident but leave it open for ``resume``."""
        if self.log is not None:
            event = await self.log.suspend(reason)
            self.sink.fold(event)


def error_text(exc: BaseException) -> str:
    """``RuntimeError: what``; an exception group (a task group's) as its first error."""
    others = 0
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        others += len(exc.exceptions) - 1
        exc = exc.exceptions[0]
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text + (f" (and {others} more)" if others else "")


def _fault_listener(
    faults: list[JournalFault], also: Callable[[JournalFault], None] | None
) -> Callable[[JournalFault], None]:
    """Keep every fault in ``faults`` (the TUI shows them) and pass it on to ``also``."""

    def heard(fault: JournalFault) -> None:
        faults.append(fault)
        if also is not None:
            also(fault)

    return heard


def _opened(title: str, profile: str, runbook: Runbook | None, scenario: str | None) -> Payload:
    from console.journal.events import IncidentOpened

    return IncidentOpened(
        title=title,
        profile=profile,
        runbook=str(Path(runbook.file).resolve()) if runbook else None,
        scenario=scenario,
        fsync="never",
    )
