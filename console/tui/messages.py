"""Messages engines post to the app (widgets never touch engine state from another task), and
the guard that drops an engine's report once the app has begun to stop."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from textual.app import App
from textual.message import Message

if TYPE_CHECKING:
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


P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A", bound=App[str])


def while_running(handler: Callable[Concatenate[A, P], R]) -> Callable[Concatenate[A, P], R | None]:
    """Drop a report (message, timer, worker's result) that comes once the app has begun to stop.

    The screens are taken down before the app's own messages, timers and workers end, so a
    telemetry poll, an output redraw or a clock tick landing in between would find its panes
    gone and end the app with an error on its way out."""

    @wraps(handler)
    def guarded(app: A, *args: P.args, **kwargs: P.kwargs) -> R | None:
        if not app.is_running:
            return None
        return handler(app, *args, **kwargs)

    return guarded
