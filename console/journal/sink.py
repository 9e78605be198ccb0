"""The one interface every engine emits events through.

The journal's file log implements it (durable, hash-chained); ``MemorySink`` keeps events in
memory for tests, dry runs and headless runs without a log.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from console.journal.chain import GENESIS, event_hash
from console.journal.events import Event, Mode, Payload


@runtime_checkable
class EventSink(Protocol):
    """Where events go. ``emit`` returns once the event is recorded (durably, for decisions)."""

    async def emit(self, payload: Payload) -> Event:
        """Record ``payload`` as the next event and return the sealed event."""
        ...


def utc_now_iso() -> str:
    """Wall-clock UTC with microseconds, as written in ``ts``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seal(
    payload: Payload,
    *,
    seq: int,
    prev: str,
    incident: str,
    actor: str,
    mode: Mode,
    key: bytes | None = None,
    ts: str | None = None,
    mono: float | None = None,
) -> Event:
    """Wrap a payload in its envelope and compute its chain hash."""
    record = {
        "v": 1,
        "seq": seq,
        "ts": ts or utc_now_iso(),
        "mono": round(time.monotonic() if mono is None else mono, 6),
        "type": payload.TYPE,
        "incident": incident,
        "actor": actor,
        "mode": mode,
        "data": payload.model_dump(mode="json"),
        "prev": prev,
    }
    record["hash"] = event_hash(record, key)
    return Event.model_validate(record)


class MemorySink:
    """An in-memory, chained event list: same envelopes as the file log, nothing on disk."""

    def __init__(self, incident: str = "INC-memory", actor: str = "test", mode: Mode = "test"):
        self.incident = incident
        self.actor = actor
        self.mode: Mode = mode
        self.events: list[Event] = []

    async def emit(self, payload: Payload) -> Event:
        """Append ``payload`` as the next event."""
        prev = self.events[-1].hash if self.events else GENESIS
        event = seal(
            payload,
            seq=len(self.events),
            prev=prev,
            incident=self.incident,
            actor=self.actor,
            mode=self.mode,
        )
        self.events.append(event)
        return event

    def of_type(self, type_: str) -> list[Event]:
        """The recorded events of one type, in order."""
        return [e for e in self.events if e.type == type_]
