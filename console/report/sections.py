"""The sections of a postmortem, in order, and the wording both renderers share.

``SECTIONS`` is the one place a section is named and placed: the Markdown and the HTML renderer
each walk it and draw the body that the section's ``key`` names, so the two exports cannot carry
different sections or put them in a different order. A section with a ``placeholder`` has no
body from the log: it is left for the team to write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from console.durations import format_duration
from console.journal.events import result_text
from console.report.postmortem import (
    BlockReport,
    Excerpt,
    MilestoneRow,
    NodeReport,
    Postmortem,
    TimelineRow,
)

FILL_IN = "(fill in)"
TEAM_WRITES = "(To be written by the team.)"


@dataclass(frozen=True)
class Section:
    """One ``##`` section: the key of its body, its heading, and what the team fills in."""

    key: str
    title: str
    drill_title: str = ""  # the heading in a drill's postmortem, when it differs
    placeholder: str = ""  # no body from the log: this text, for the team to replace
    subsections: tuple[str, ...] = ()  # ``###`` headings, each with ``FILL_IN`` below

    def heading(self, pm: Postmortem) -> str:
        """The heading this section has in ``pm``'s postmortem."""
        return self.drill_title if pm.drill and self.drill_title else self.title


SECTIONS: tuple[Section, ...] = (
    Section("summary", "Summary"),
    Section("impact", "Impact"),
    Section("root_causes", "Root causes", placeholder=TEAM_WRITES),
    Section("trigger", "Trigger", placeholder=TEAM_WRITES),
    Section("detection", "Detection"),
    Section("resolution", "Resolution"),
    Section("figures", "Figures", drill_title="Drill figures"),
    Section("action_items", "Action items"),
    Section(
        "lessons",
        "Lessons learned",
        subsections=("What went well", "What went wrong", "Where we got lucky"),
    ),
    Section("timeline", "Timeline"),
    Section("blocks", "Actions and checks"),
    Section("notes", "Notes"),
    Section("metrics", "Metrics"),
    Section("log", "Supporting information"),
)

Body = Callable[[Postmortem], list[str]]
"""A format's drawing of one section's body from the postmortem."""


def section_bodies(
    pm: Postmortem, namespace: Mapping[str, object], blank: Callable[[Section], list[str]]
) -> Iterator[tuple[Section, list[str]]]:
    """Each of ``SECTIONS`` in order with its body as one format draws it.

    A format module draws section ``key`` with its function ``_key`` (looked up in its
    ``namespace``, i.e. its ``globals()``); a section it has no function for is drawn by
    ``blank``. Adding a section therefore means one entry above and one ``_key`` per format.
    """
    for section in SECTIONS:
        body = namespace.get(f"_{section.key}")
        yield section, body(pm) if callable(body) else blank(section)


# -- shared wording ---------------------------------------------------------------------------


def title(pm: Postmortem) -> str:
    """The page title, marked when the log is a drill's."""
    return f"{'DRILL — ' if pm.drill else ''}Postmortem: {pm.title}"


def facts(pm: Postmortem) -> list[tuple[str, str]]:
    """The header table: what the incident was, when, and who worked it."""
    return [
        ("Incident", pm.incident),
        ("Status", pm.status),
        ("Opened", pm.opened_at),
        ("Closed", pm.closed_at or "still open"),
        ("Profile", pm.profile),
        ("Responders", ", ".join(pm.responders)),
        ("Runbooks", "; ".join(pm.runbooks) or "none"),
    ]


def drill_banner(pm: Postmortem) -> str:
    """Why a drill's figures must not be counted with real incidents'."""
    return (
        f"This is a {pm.mode} log, not a real incident: its figures are drill figures and "
        "must not be counted with real incidents'."
    )


def excerpt_pointer(x: Excerpt) -> str:
    """Where the rest of a cut excerpt is, and what the output cap dropped (empty if neither)."""
    seqs = (
        f"log seq {x.first_seq}"
        if x.first_seq == x.last_seq
        else (f"log seq {x.first_seq}-{x.last_seq}")
    )
    parts = []
    if not x.complete:
        shown = len(x.text.splitlines())
        parts.append(
            f"showing {shown} of {x.total_lines} line(s), {x.total_bytes} bytes; "
            f"full text in {seqs}"
        )
    if x.dropped_bytes:
        parts.append(f"{x.dropped_bytes} more bytes were dropped at the source (output cap)")
    return "; ".join(parts)


def mark_origin(mark: MilestoneRow) -> str:
    """Where a milestone came from: its seq, and whether it was derived, backdated or fixed."""
    parts = [f"log seq {mark.seq}"]
    if mark.source != "set":
        parts.insert(0, mark.source)
    elif mark.backdated:
        parts.append("backdated")
    if mark.corrects is not None:
        parts.append(f"corrects seq {mark.corrects}")
    return ", ".join(parts)


def row_note(row: TimelineRow) -> str:
    """`` (recorded ...; corrected by seq N)`` for a backdated or corrected timeline row."""
    parts = []
    if row.recorded_at:
        parts.append(f"recorded {row.recorded_at}")
    if row.corrected_by is not None:
        parts.append(f"corrected by seq {row.corrected_by}")
    return f" ({'; '.join(parts)})" if parts else ""


def status_text(status: str) -> str:
    """A block run's status for people."""
    return {
        "running": "no end recorded",
        "interrupted": "interrupted by a crash",
        "not-run": "not run",
    }.get(status, result_text(status))


def num(value: float | None, unit: str) -> str:
    """A metric value with its unit, or ``n/a``."""
    return "n/a" if value is None else f"{value:g}{(' ' + unit) if unit else ''}"


def exit_text(result: NodeReport) -> str:
    """A node's exit code, with the signal that ended it if any."""
    text = "" if result.exit is None else str(result.exit)
    return f"{text} ({result.signal})".strip() if result.signal else text


def detail_text(result: NodeReport) -> str:
    """A node's reason and judged value, joined."""
    value = None if result.value is None else f"value {result.value:g}"
    return "; ".join(p for p in (result.reason, value) if p)


def started_text(block: BlockReport) -> str:
    """When and where in the log ``block`` started, how long it took and what it required."""
    return (
        f"Started {block.at} (log seq {block.seq}, run {block.run}"
        + (f", step {block.step}" if block.step else "")
        + (f", took {format_duration(block.duration_s)}" if block.duration_s else "")
        + ")."
        + (f" Requires: {', '.join(block.requires)}." if block.requires else "")
    )


RESULT_COLUMNS = ("Node", "Result", "Exit", "Time", "Detail")


def result_cells(result: NodeReport) -> tuple[str, str, str, str, str]:
    """One node's row of a block's results, in ``RESULT_COLUMNS`` order, as plain text."""
    took = "" if result.duration_s is None else format_duration(result.duration_s)
    return (
        result.node,
        result_text(result.verdict),
        exit_text(result),
        took,
        detail_text(result),
    )


Segment = tuple[str, bool]
"""A piece of a line: its text, and whether it is code (a file name, a command)."""


def log_lines(pm: Postmortem) -> list[list[Segment]]:
    """The supporting-information bullets: the log, its head and how to check it, faults."""
    log = pm.log
    verify = f"incident-console verify {log.file} --head {log.head[:12]}"
    counts = f", {log.events} events (seq 0-{log.last_seq}), chain {log.chain}, fsync {log.fsync}."
    head: list[Segment] = [("Head: ", False), (log.head, True), ("; check with ", False)]
    lines: list[list[Segment]] = [
        [("Log: ", False), (log.file, True), (counts, False)],
        [*head, (verify, True), (".", False)],
        [(f"Integrity: {log.integrity}.", False)],
    ]
    lines += [[(f"Journal fault: {fault}", False)] for fault in log.faults]
    lines += [[(f"Console resumed: {resume}", False)] for resume in log.resumes]
    return lines
