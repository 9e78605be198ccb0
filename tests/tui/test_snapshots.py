"""What the engineer sees when asked to confirm an action: pinned as a snapshot."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from console.execute.session import ConfirmRequest
from console.runbook.model import Block, BlockOptions
from console.tui.screens import ConfirmScreen

RESTART = Block(
    id="restart",
    kind="action",
    lang="sh",
    body="systemctl restart etcd",
    options=BlockOptions(confirm="typed"),
    file="runbooks/etcd-member-down.md",
    line=62,
    body_line=68,
    step=3,
)


class ConfirmHarness(App[None]):
    """Shows the confirmation dialog over a placeholder screen."""

    CSS_PATH = "../../console/tui/console.tcss"

    def __init__(self, typed: bool, stage: str) -> None:
        super().__init__()
        self.request = ConfirmRequest(
            RESTART,
            "r1",
            ["m2"],
            stage,
            typed,
            "systemctl restart etcd",  # type: ignore[arg-type]
        )

    def compose(self) -> ComposeResult:
        yield Static("console")

    def on_mount(self) -> None:
        self.push_screen(ConfirmScreen(self.request))


def test_typed_confirmation_dialog(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(ConfirmHarness(typed=True, stage="all"), press=["r", "e", "s"])


def test_canary_confirmation_dialog(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(ConfirmHarness(typed=False, stage="canary"))
