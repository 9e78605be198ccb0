"""Incident milestones and the figures computed from them (TTD, TTA, TTM, TTR).

A milestone is set by a ``milestone`` event; ``at`` backdates it, ``corrects`` points at the seq
of the mark it replaces (never an edit). Milestones the engineer did not set may be derived from
the log (first alert seen, all alerts resolved, incident closed). Every figure is measured from
the impact start, and an ordering that would make a duration negative is refused, not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import get_args

from console.durations import format_duration
from console.errors import ConsoleError
from console.journal.events import Milestone, MilestoneSet

ORDER: tuple[Milestone, ...] = get_args(Milestone)
LABELS: dict[str, str] = {
    "impact_started": "impact started",
    "detected": "detected",
    "acknowledged": "acknowledged",
    "mitigated": "mitigated",
    "resolved": "resolved",
    "closed": "closed",
}
FIGURES: tuple[tuple[str, Milestone], ...] = (
    ("TTD", "detected"),
    ("TTA", "acknowledged"),
    ("TTM", "mitigated"),
    ("TTR", "resolved"),
)
FUTURE_SLACK = timedelta(seconds=60)


class MilestoneError(ConsoleError):
    """A milestone that would make the record inconsistent; nothing was written."""


def parse_ts(ts: str) -> datetime:
    """An envelope ``ts`` (``...Z``) as an aware UTC datetime."""
    return as_utc(datetime.fromisoformat(ts))


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """``2026-11-22 10:15:03Z``: seconds are what people compare in a postmortem."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class Mark:
    """A milestone's value: the moment it refers to, and the event that says so."""

    name: Milestone
    at: datetime
    seq: int
    recorded: datetime
    source: str = "set"
    corrects: int | None = None

    @property
    def backdated(self) -> bool:
        """Whether the moment differs from when it was recorded."""
        return self.at != self.recorded


@dataclass
class MilestoneBook:
    """Every milestone event so far: the current mark per name and every mark by seq."""

    current: dict[str, Mark] = field(default_factory=dict)
    by_seq: dict[int, Mark] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)

    def problems_with(self, milestone: MilestoneSet, seq: int, recorded: datetime) -> list[str]:
        """Why recording ``milestone`` now would be refused (empty if it is fine)."""
        mark = _mark(milestone, seq, recorded)
        out = []
        label = LABELS[milestone.name]
        if milestone.corrects is not None:
            target = self.by_seq.get(milestone.corrects)
            if target is None or target.name != milestone.name:
                out.append(f"seq {milestone.corrects} is not a '{label}' milestone to correct")
        elif milestone.name in self.current:
            earlier = self.current[milestone.name]
            out.append(
                f"'{label}' is already set (seq {earlier.seq}, {utc_text(earlier.at)}); "
                f"record a correction pointing at seq {earlier.seq} instead"
            )
        if mark.at - recorded > FUTURE_SLACK:  # a difference never overflows; a sum may
            out.append(f"'{label}' at {utc_text(mark.at)} is in the future")
        out.extend(ordering_problems({**self.current, milestone.name: mark}))
        return out

    def apply(self, milestone: MilestoneSet, seq: int, recorded: datetime) -> None:
        """Record the milestone as the log says, noting what is wrong with it (fold is total)."""
        self.problems.extend((seq, p) for p in self.problems_with(milestone, seq, recorded))
        mark = _mark(milestone, seq, recorded)
        self.current[milestone.name] = mark
        self.by_seq[seq] = mark


def _mark(milestone: MilestoneSet, seq: int, recorded: datetime) -> Mark:
    at = as_utc(milestone.at) if milestone.at else recorded
    source = f"derived: {milestone.derived_from}" if milestone.derived_from else "set"
    return Mark(milestone.name, at, seq, recorded, source, milestone.corrects)


def ordering_problems(marks: Mapping[str, Mark]) -> list[str]:
    """Pairs of milestones out of order (each would make a figure or phase negative)."""
    present = [marks[name] for name in ORDER if name in marks]
    out = []
    for i, early in enumerate(present):
        for late in present[i + 1 :]:
            if late.at < early.at:
                out.append(
                    f"'{LABELS[late.name]}' ({utc_text(late.at)}, seq {late.seq}) is before "
                    f"'{LABELS[early.name]}' ({utc_text(early.at)}, seq {early.seq})"
                )
    return out


def effective_marks(
    explicit: Mapping[str, Mark], derived: Mapping[str, Mark]
) -> tuple[dict[str, Mark], list[str]]:
    """Explicit marks, filled in with derived ones that fit their order; notes on what was used.

    A derived mark that would contradict the engineer's marks is left out, with a note.
    """
    marks = dict(explicit)
    notes = []
    for name in ORDER:
        if name in marks or name not in derived:
            continue
        candidate = derived[name]
        if ordering_problems({**marks, name: candidate}):
            notes.append(
                f"derived '{LABELS[name]}' ({utc_text(candidate.at)}, {candidate.source}) "
                "ignored: it contradicts the milestones set"
            )
            continue
        marks[name] = candidate
        notes.append(f"'{LABELS[name]}' is {candidate.source} (seq {candidate.seq})")
    return marks, notes


@dataclass(frozen=True)
class Figures:
    """TTD/TTA/TTM/TTR in seconds from the impact start; ``refused`` says why none are given."""

    start: Mark | None
    seconds: dict[str, float | None]
    refused: list[str]

    def text(self, name: str) -> str:
        """A figure for people: ``12m30s``, or why it is missing."""
        if self.refused:
            return "refused"
        value = self.seconds.get(name)
        if value is None:
            return "n/a" if self.start else "n/a (impact start unknown)"
        return format_duration(value)


def figures(marks: Mapping[str, Mark]) -> Figures:
    """Compute the figures from effective marks, refusing orderings that make one negative."""
    problems = ordering_problems(marks)
    start = marks.get("impact_started")
    if problems:
        return Figures(start, {name: None for name, _ in FIGURES}, problems)
    seconds: dict[str, float | None] = {}
    for name, milestone in FIGURES:
        mark = marks.get(milestone)
        seconds[name] = (mark.at - start.at).total_seconds() if mark and start else None
    return Figures(start, seconds, [])
