"""The two bars at the bottom of the screen, which must say what matters at any width.

The status bar shows segments in a fixed order and, when the terminal is narrow, drops the
least important first: JOURNAL FAULT, the drill clock, the head hash and the event count stay
longest. The footer drops key hints the same way and always keeps Close and Quit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


@dataclass(frozen=True)
class Segment:
    """One piece of the status bar; ``rank`` 0 is kept longest."""

    text: str
    style: Style | str = ""
    rank: int = 99


def fit_segments(segments: Iterable[Segment], width: int) -> Text:
    """The segments that fit in ``width`` cells, in their order, dropping the highest rank first."""
    kept = [s for s in segments if s.text]
    while len(kept) > 1 and sum(len(s.text) + 1 for s in kept) > width:
        kept.remove(max(kept, key=lambda s: (s.rank, kept.index(s))))
    out = Text(no_wrap=True, overflow="ellipsis")
    for index, segment in enumerate(kept):
        if index:
            out.append(" ")
        out.append(segment.text, style=segment.style)
    out.truncate(max(width, 1), overflow="ellipsis")
    return out


class StatusBar(Widget):
    """One line under the timeline: the journal's health, the drill clock, the log's head."""

    DEFAULT_CSS = "StatusBar { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.segments: list[Segment] = []

    def show(self, segments: list[Segment]) -> None:
        """Show ``segments`` (fitted to the width at every paint)."""
        self.segments = segments
        self.refresh()

    def render(self) -> Text:
        return fit_segments(self.segments, self.size.width)


# The footer's key hints, most important first: what is not listed goes before all of these.
FOOTER_KEEP = [
    "quit_console",
    "close_incident",
    "help",
    "command_palette",
    "run_block",
    "cancel_block",
    "open_runbook",
    "skip_step",
    "note",
]


class ConsoleFooter(Footer):
    """Textual's footer, leaving out the least needed keys when they would not all fit."""

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        width = self.size.width or self.app.size.width

        def cells(key: FooterKey) -> int:
            return len(key.key_display) + len(key.description) + 3

        def keep_rank(key: FooterKey) -> int:
            return FOOTER_KEEP.index(key.action) if key.action in FOOTER_KEEP else len(FOOTER_KEEP)

        shown = list(keys)
        while len(shown) > 2 and sum(cells(k) for k in shown) > width:
            shown.remove(max(shown, key=keep_rank))
        self.styles.grid_size_columns = len(shown) + len(widgets) - len(keys)
        yield from (w for w in widgets if not isinstance(w, FooterKey) or w in shown)

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)
