"""Modal screens: confirm an action, give a variable, write a note, pick a runbook, help.

What a screen shows from a runbook, a node or an alert is built as Rich ``Text`` from
``shown`` (redacted, controls as pictures), never read as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ListItem, ListView, Static

from console.execute.session import ConfirmAnswer, ConfirmRequest
from console.journal.redact import Redactor
from console.runbook.model import Runbook, VarSpec
from console.tui.widgets import shown


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
        self, name: str, spec: VarSpec, problem: str | None, redactor: Redactor | None = None
    ) -> None:
        super().__init__()
        self.var_name = name
        self.spec = spec
        self.problem = problem
        self.redactor = redactor or Redactor()

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
            if self.problem:
                yield Static(Text(shown(self.redactor, self.problem)), classes="error")
            yield Input(value=self.spec.default or "", id="value")

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
            yield Label(self.title_text, id="dialog-title")
            yield Input(placeholder=self.placeholder, id="text")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RunbookPicker(ModalScreen[Runbook | None]):
    """Pick a runbook: those answering firing alerts first, with why."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker-cancel")]

    def __init__(
        self, choices: list[tuple[Runbook, str]], redactor: Redactor | None = None
    ) -> None:
        super().__init__()
        self.choices = choices
        self.redactor = redactor or Redactor()

    def _label(self, runbook: Runbook, why: str) -> Label:
        title = shown(self.redactor, runbook.title, one_line=True)
        detail = shown(self.redactor, f"{runbook.id} · {why}", one_line=True)
        return Label(Text.assemble(f"{title}  ", (detail, "dim")))

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label("Open a runbook", id="dialog-title")
            if not self.choices:
                yield Static("No runbooks found: check runbooks: in console.yaml (lint shows why).")
            items = [
                ListItem(self._label(rb, why), name=str(index))
                for index, (rb, why) in enumerate(self.choices)
            ]
            yield ListView(*items, id="runbooks")

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        index = int(event.item.name or 0)
        self.dismiss(self.choices[index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
[b]Keys[/b]
  ↑/↓          move in the focused list        tab        next pane
  escape       back to the steps
  enter        enter the step / run the block   r          run the selected block
  ctrl+x       cancel the running block (kills it on the nodes)
  s            skip the step (asks why)        o          open another runbook
  n            write a note                     S          metric snapshot now
  a / m / R    mark acknowledged / mitigated / resolved
  c            close the incident (anchors the log's head hash)
  p, +, -      drill: pause or resume, faster, slower
  q            quit (the incident stays open: resume LOG)
  ?            this help
"""


class HelpScreen(ModalScreen[None]):
    """The key bindings."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help-close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
