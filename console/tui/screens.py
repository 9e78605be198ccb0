"""Modal screens: confirm an action, give a variable, write a note, pick a runbook, help.

What a screen shows from a runbook, a node or an alert is built as Rich ``Text`` from
``shown`` (redacted, controls as pictures), never read as markup.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ListItem, ListView, Static

from console.execute.session import ConfirmAnswer, ConfirmRequest
from console.journal.redact import Redactor
from console.runbook.match import AlertValue
from console.runbook.model import Runbook, VarSpec
from console.tui.text import shown


class ConfirmScreen(ModalScreen[ConfirmAnswer]):
    """Asks for an action's confirmation: y/n, or the block id typed in full."""

    BINDINGS = [Binding("escape", "decline", "Decline", id="confirm-decline")]

    def __init__(self, request: ConfirmRequest, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.request = request
        self.redactor = redactor or Redactor()

    def compose(self) -> ComposeResult:
        req = self.request
        stage = {"canary": " (canary)", "rest": " (the rest, after the canary)"}.get(req.stage, "")
        block_id = shown(self.redactor, req.block.id, one_line=True)
        nodes = shown(self.redactor, ", ".join(req.nodes), one_line=True)
        with Vertical(id="dialog", classes="danger"):
            yield Label(
                Text.assemble("Run action ", (block_id, "bold"), f"{stage}?"), id="dialog-title"
            )
            yield Static(Text(f"on {len(req.nodes)} node(s): {nodes}"))
            yield Static(Text(shown(self.redactor, req.command)), id="command")
            if req.typed:
                yield Label(
                    Text.assemble("Type ", (block_id, "bold"), " to confirm, Escape to decline:")
                )
                yield Input(placeholder=block_id, id="typed")
            else:
                with Horizontal(id="buttons"):
                    yield Button("Run it (y)", variant="error", id="yes")
                    yield Button("Decline (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        if self.request.typed:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#no", Button).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.request.block.id:
            self.dismiss(ConfirmAnswer(True, how="typed"))
        else:
            event.input.value = ""
            block_id = shown(self.redactor, self.request.block.id, one_line=True)
            self.notify(f"that is not {block_id!r}", severity="warning", markup=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.dismiss(ConfirmAnswer(True, how="yes"))
        else:
            self.action_decline()

    def key_y(self) -> None:
        if not self.request.typed:
            self.dismiss(ConfirmAnswer(True, how="yes"))

    def key_n(self) -> None:
        if not self.request.typed:
            self.action_decline()

    def action_decline(self) -> None:
        self.dismiss(ConfirmAnswer(False, reason="declined by the operator"))


class PromptScreen(ModalScreen[str | None]):
    """Asks for a runbook variable's value."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt-cancel")]

    def __init__(
        self,
        name: str,
        spec: VarSpec,
        problem: str | None,
        redactor: Redactor | None = None,
        *,
        filled: AlertValue | None = None,
    ) -> None:
        super().__init__()
        self.var_name = name
        self.spec = spec
        self.problem = problem
        self.redactor = redactor or Redactor()
        self.filled = filled
        """The firing alert's label value the input starts with (``label:`` in ``vars:``)."""

    def compose(self) -> ComposeResult:
        question = self.spec.prompt or f"Value for {{{{{self.var_name}}}}}"
        with Vertical(id="dialog"):
            yield Label(Text(shown(self.redactor, question)), id="dialog-title")
            hints = []
            if self.spec.pattern:
                hints.append(f"must match {self.spec.pattern}")
            if self.spec.choices:
                hints.append(f"one of {', '.join(self.spec.choices)}")
            if hints:
                yield Static(Text(shown(self.redactor, "; ".join(hints))))
            if self.filled is not None:
                yield Static(Text(shown(self.redactor, str(self.filled))), id="filled-from")
            if self.problem:
                yield Static(Text(shown(self.redactor, self.problem)), classes="error")
            yield Input(value=self._start_value(), id="value")

    def _start_value(self) -> str:
        """The alert's value if it shows as itself (no control or redacted text), else the
        default: what the engineer cannot see is never put in the input."""
        filled = self.filled
        if filled is not None and shown(self.redactor, filled.value, one_line=True) == filled.value:
            return filled.value
        return self.spec.default or ""

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[str | None]):
    """Asks for a line of text (a note, a reason)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="text-cancel")]

    def __init__(self, title: str, placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text), id="dialog-title")  # may name an alert
            yield Input(placeholder=self.placeholder, id="text")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RunbookPicker(ModalScreen[Runbook | None]):
    """Pick a runbook: those answering firing alerts first, with why; typing filters the list.

    Every word typed must appear (in any case) in the runbook's title, id, file name, alerts,
    tags, service, owner or in why it is offered. Enter opens the highlighted runbook (the
    first shown when none is), up and down move in the list while the filter keeps focus.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker-cancel"),
        Binding("down", "move(1)", "Next", show=False, id="picker-next"),
        Binding("up", "move(-1)", "Previous", show=False, id="picker-previous"),
    ]

    def __init__(
        self, choices: list[tuple[Runbook, str]], redactor: Redactor | None = None
    ) -> None:
        super().__init__()
        self.choices = choices
        self.redactor = redactor or Redactor()
        self.shown_indexes: list[int] = list(range(len(choices)))
        """Indexes into ``choices`` of the runbooks the filter lets through, in order."""

    def _label(self, runbook: Runbook, why: str) -> Label:
        title = shown(self.redactor, runbook.title, one_line=True)
        detail = shown(self.redactor, f"{runbook.id} · {why}", one_line=True)
        return Label(Text.assemble(f"{title}  ", (detail, "dim")))

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label("Open a runbook", id="dialog-title")
            if not self.choices:
                yield Static("No runbooks found: check runbooks: in console.yaml (lint shows why).")
            yield Input(placeholder="type to filter: title, id, alert, tag, service", id="filter")
            yield ListView(id="runbooks")
            yield Static(id="picker-count")

    async def on_mount(self) -> None:
        await self._refill("")
        self.query_one("#filter", Input).focus()

    @staticmethod
    def matches(runbook: Runbook, why: str, query: str) -> bool:
        """Whether every word of ``query`` appears in what the picker knows of ``runbook``."""
        meta = runbook.meta
        fields = [runbook.title, runbook.id, runbook.file.rsplit("/", 1)[-1], why]
        fields += [*meta.alerts, *meta.tags, meta.service or "", meta.owner or ""]
        haystack = " ".join(fields).lower()
        return all(word in haystack for word in query.lower().split())

    async def _refill(self, query: str) -> None:
        self.shown_indexes = [
            i for i, (rb, why) in enumerate(self.choices) if self.matches(rb, why, query)
        ]
        runbooks = self.query_one("#runbooks", ListView)
        await runbooks.clear()
        await runbooks.extend(
            ListItem(self._label(*self.choices[i]), name=str(i)) for i in self.shown_indexes
        )
        runbooks.index = 0 if self.shown_indexes else None
        count = f"{len(self.shown_indexes)} of {len(self.choices)} runbook(s)"
        if self.choices and not self.shown_indexes:
            count += f": none matches {shown(self.redactor, query, one_line=True)!r}"
        self.query_one("#picker-count", Static).update(Text(count, style="dim"))

    async def on_input_changed(self, event: Input.Changed) -> None:
        await self._refill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        index = self.query_one("#runbooks", ListView).index
        if index is not None and index < len(self.shown_indexes):
            self.dismiss(self.choices[self.shown_indexes[index]][0])

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        self.dismiss(self.choices[int(event.item.name or 0)][0])

    def action_move(self, by: int) -> None:
        runbooks = self.query_one("#runbooks", ListView)
        if self.shown_indexes:
            current = runbooks.index or 0
            runbooks.index = max(0, min(current + by, len(self.shown_indexes) - 1))

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Runbook", ("run-block", "cancel-block", "skip-step", "open-runbook", "focus-steps")),
    ("Incident log", ("note", "mark-*", "snapshot", "close-incident")),
    ("Drill", ("drill-*",)),
)
"""Sections of the help, by binding id (``fnmatch`` patterns); other app keys are "Console",
keys of the screen and the focused list are "Moving around"."""
MOVING = "Moving around"
CONSOLE = "Console"

HelpSections = list[tuple[str, list[tuple[str, str]]]]


def _help_group(binding: Binding, on_app: bool) -> str:
    if not on_app:
        return MOVING
    for group, patterns in HELP_GROUPS:
        if binding.id and any(fnmatch(binding.id, p) for p in patterns):
            return group
    return CONSOLE


def help_sections(app: App[Any]) -> HelpSections:
    """Every binding active on the current screen with its description, grouped; the keys
    of one description in one group share a row (``q, ctrl+q  Quit``)."""
    rows: dict[tuple[str, str], list[str]] = {}
    for active in app.active_bindings.values():
        binding = active.binding
        if not binding.description:  # a system binding with nothing to say (ctrl+c)
            continue
        group = _help_group(binding, active.node is app)
        keys = rows.setdefault((group, binding.description), [])
        key = app.get_key_display(binding)
        if key not in keys:
            keys.append(key)
    order = [g for g, _ in HELP_GROUPS] + [MOVING, CONSOLE]
    return [
        (group, [(", ".join(keys), text) for (g, text), keys in rows.items() if g == group])
        for group in order
        if any(g == group for g, _ in rows)
    ]


class HelpScreen(ModalScreen[None]):
    """Every key binding, generated from the bindings themselves; scrolls on a small terminal."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help-close")]

    def __init__(self, sections: HelpSections) -> None:
        super().__init__()
        self.sections = sections

    def text(self) -> Text:
        """The help as shown: a bold heading per group, a key column, the description."""
        out = Text()
        width = max((len(k) for _, rows in self.sections for k, _ in rows), default=0)
        for group, rows in self.sections:
            out.append(f"{group}\n", style="bold")
            for keys, description in rows:
                out.append(f"  {keys:<{width}}  ", style="bold")
                out.append(f"{description}\n")
            out.append("\n")
        out.append("Scroll with up/down or the mouse; escape, q or ? closes.", style="dim")
        return out

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(self.text(), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
