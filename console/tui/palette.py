"""The console's commands in Textual's command palette (ctrl+p).

Runbooks (those answering firing alerts first, with why), the current runbook's steps and
blocks (jump to them), milestones, a metric snapshot, a note, silencing a firing alert for N
minutes in Alertmanager, and exporting the postmortem. Each command calls what the keys call,
so the palette adds no second path: the palette's Quit is Textual's, which the console routes
to its own quit (``ConsoleApp.action_quit``).

Every title, id and label shown here comes from outside (a runbook, an alert) and goes through
the console's ``shown`` first; the palette reads plain strings as markup, so each line is given
to it as ``Content`` and each help line escaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from console.journal.milestones import LABELS, ORDER
from console.report.export import RENDERERS
from console.telemetry.render import labels_line

if TYPE_CHECKING:
    from console.tui.app import ConsoleApp

SILENCE_MINUTES = (15, 30, 60, 120)
"""Durations offered for a silence when the query names none."""
MAX_SILENCE_MINUTES = 7 * 24 * 60
NO_SILENCES = "silences need Alertmanager: add alertmanager: {url: ...} to console.yaml"
_MINUTES = re.compile(r"(?<![\w.])(\d{1,5})\s*(m|min|mins|minutes?|h|hours?)?(?![\w.])", re.I)


@dataclass(frozen=True)
class PaletteCommand:
    """One line of the palette: what it says, a line of help, and what choosing it does."""

    text: str
    help: str
    run: Callable[[], Any]


def minutes_in(query: str) -> int | None:
    """The duration a query names (``45``, ``45m``, ``2h``), in minutes; ``None`` if none."""
    found = _MINUTES.search(query)
    if found is None:
        return None
    minutes = int(found.group(1)) * (60 if (found.group(2) or "m").lower().startswith("h") else 1)
    return minutes if 0 < minutes <= MAX_SILENCE_MINUTES else None


def console_commands(app: ConsoleApp, query: str = "") -> Iterator[PaletteCommand]:
    """Every palette command of the console as things stand; ``query`` may name a duration."""
    yield from _runbook_commands(app)
    yield from _step_commands(app)
    for name in ORDER:
        if name != "closed":  # closing has its own path (c): it asks for a summary
            label = LABELS[name]
            run = partial(app.action_milestone, name)
            yield PaletteCommand(f"Mark {label}", f"set the {label} milestone now", run)
    yield PaletteCommand(
        "Snapshot the panels", "journal every panel's value now", app.action_snapshot
    )
    yield PaletteCommand("Write a note", "a line for the incident log", app.action_note)
    yield from _silence_commands(app, minutes_in(query))
    for fmt in RENDERERS:
        yield PaletteCommand(
            f"Export the postmortem ({fmt})",
            f"written beside the incident log as <log>.postmortem.{fmt}",
            partial(app.export_postmortem, fmt),
        )


def _runbook_commands(app: ConsoleApp) -> Iterator[PaletteCommand]:
    for runbook, why in app.ranked_runbooks():
        title = app.shown(runbook.title, one_line=True)
        help_text = app.shown(f"{runbook.id} · {why}", one_line=True)
        yield PaletteCommand(
            f"Open runbook: {title}", help_text, partial(app.open_runbook, runbook)
        )


def _step_commands(app: ConsoleApp) -> Iterator[PaletteCommand]:
    runbook = app.ws.runbook
    if runbook is None:
        return
    for step in runbook.steps:
        title = app.shown(step.title, one_line=True)
        count = f"{len(step.blocks)} block(s)"
        yield PaletteCommand(
            f"Go to step {step.number}. {title}", count, partial(app.jump_to, step)
        )
        for block in step.blocks:
            block_id = app.shown(block.id, one_line=True)
            body = block.body.strip().split("\n")[0] if block.body.strip() else ""
            first = app.shown(body or block.options.use or "", one_line=True)
            yield PaletteCommand(
                f"Go to block {block_id} ({block.kind}, step {step.number})",
                first,
                partial(app.jump_to, step, block),
            )


def _silence_commands(app: ConsoleApp, minutes: int | None) -> Iterator[PaletteCommand]:
    firing = app.telemetry.firing if app.telemetry is not None else []
    can_silence = app.ws.poller is not None and app.ws.poller.silences is not None
    where = "in Alertmanager, journalled; asks why" if can_silence else NO_SILENCES
    for alert in firing:
        name = app.shown(alert.alertname, one_line=True)
        labels = app.shown(labels_line(alert), one_line=True)
        for each in [minutes] if minutes is not None else SILENCE_MINUTES:
            yield PaletteCommand(
                f"Silence {name} for {each} minutes",
                f"{labels} · {where}",
                partial(app.silence_alert, alert, each),
            )


def _highlight(matcher: Matcher, text: str) -> Content:
    """``text`` with the query's letters marked, as ``Matcher.highlight`` does, except that the
    text stays plain (``highlight`` reads it as markup)."""
    content = Content(text)
    _, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class ConsoleCommands(Provider):
    """The console's commands for Textual's command palette."""

    @property
    def console(self) -> ConsoleApp:
        """The console app (the palette only opens on it)."""
        return self.app  # type: ignore[return-value]

    async def discover(self) -> Hits:
        """Everything, in the order ``console_commands`` gives it, before anything is typed."""
        for command in console_commands(self.console):
            yield DiscoveryHit(Content(command.text), command.run, help=escape(command.help))

    async def search(self, query: str) -> Hits:
        """The commands whose text matches ``query`` (fuzzy, as Textual's own commands)."""
        matcher = self.matcher(query)
        for command in console_commands(self.console, query):
            score = matcher.match(command.text)
            if score > 0:
                highlighted = _highlight(matcher, command.text)
                help_text = escape(command.help)
                yield Hit(score, highlighted, command.run, text=command.text, help=help_text)
