"""Messages engines post to the app: widgets never touch engine state from another task."""

from __future__ import annotations

from textual.message import Message

from console.journal.events import Event
from console.telemetry.state import TelemetryState


class EventRecorded(Message):
    """An event reached the journal (and the live state)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class TelemetryUpdated(Message):
    """A telemetry poll finished."""

    def __init__(self, state: TelemetryState) -> None:
        super().__init__()
        self.state = state
