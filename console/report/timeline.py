"""A plain-text timeline of an incident log: one line an event, output indented below.

``describe`` says what one event means in a few words (export reuses it); ``Timeline`` turns
events into lines with T+ offsets from the incident's opening and UTC times, one event at a time
so ``timeline --follow`` can print a log as it grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from console.journal.events import BlockOutput, Event
from console.journal.milestones import parse_ts
from console.sanitize import visible


def offset_text(seconds: float) -> str:
    """``T+01:02:03`` (or ``T-...`` before the reference moment)."""
    sign = "-" if seconds < 0 else "+"
    whole = int(abs(seconds))
    hours, rest = divmod(whole, 3600)
    return f"T{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def describe(event: Event) -> str:
    """What ``event`` means, in one line (no output text: that is shown separately).

    The words are the payload's own (``Payload.describe``); here fields from outside (alert
    labels, notes, reasons) have their control characters shown as pictures and their newlines
    as ``␤``, so no field can move the cursor or forge a line.
    """
    return visible(event.data.describe(event.mode), one_line=True)


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
