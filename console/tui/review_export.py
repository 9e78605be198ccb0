"""``incident-console review EXPORT.json``: a postmortem export walked in the console.

An export (``export --format json``) holds no events and no hash chain, only what the
postmortem says: its timeline rows, block runs with their results and output excerpts, metric
series, milestones and figures. So this screen shows that, read-only: the timeline to move
through (one row at a time, or milestone to milestone), the block runs started by the row
under the cursor with their final results, the metric series, and the export's own milestones
and figures, with a banner saying the export cannot be verified here (and what verify said when
it was made). Remarks go to the same review file beside it as a log's.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Static

from console.journal.log import default_actor
from console.journal.redact import Redactor
from console.report.postmortem import BlockReport, Postmortem
from console.report.replay import Remarks
from console.sparkline import sparkline
from console.tui.screens import TextScreen
from console.tui.text import shown

PAGE = 20
# The keys of both review screens (the log's adds ``v``).
REVIEW_BINDINGS: list[BindingType] = [
    Binding("down,j", "move(1)", "Next", id="review-next"),
    Binding("up,k", "move(-1)", "Previous", id="review-previous"),
    Binding("pagedown", f"move({PAGE})", "Page down", show=False, id="review-page-down"),
    Binding("pageup", f"move(-{PAGE})", "Page up", show=False, id="review-page-up"),
    Binding("right_square_bracket", "milestone(1)", "Next milestone", id="review-next-mark"),
    Binding("left_square_bracket", "milestone(-1)", "Prev milestone", id="review-prev-mark"),
    Binding("home,g", "jump('home')", "Start", id="review-home"),
    Binding("end,G", "jump('end')", "End", id="review-end"),
    Binding("n", "remark", "Remark", id="review-remark"),
    Binding("q", "quit_review", "Quit", id="review-quit"),
]


def next_stop(stops: list[int], cursor: int, direction: int) -> int | None:
    """The first of ``stops`` after ``cursor`` (``direction`` 1) or the last before it (-1)."""
    if direction > 0:
        return next((s for s in stops if s > cursor), None)
    return next((s for s in reversed(stops) if s < cursor), None)


def farewell(path: Path, remarks: Remarks) -> str:
    """What ``review`` prints when it closes: the file, and where the remarks are."""
    count = len(remarks.items)
    where = f"; {count} remark(s) in {remarks.path}" if count else ""
    return f"review of {path} closed{where}"


def review_layout(banner: Widget, timeline: Widget, right: Widget) -> ComposeResult:
    """Both review screens' layout: the title and verify banner; the panels, the timeline with
    the event at the cursor, and ``right`` (steps and results); milestones, status, keys."""
    yield Static(id="review-title")
    yield banner
    with Horizontal(id="review-body"):
        with VerticalScroll(id="review-left"):
            yield Static(id="review-panels")
        with Vertical(id="review-center"):
            yield timeline
            yield Static(id="review-event")
        yield right
    yield Static(id="review-milestones")
    yield Static(id="status")
    yield Footer()


class ExportReviewApp(App[str]):
    """Read-only review of a postmortem export."""

    CSS_PATH = "review.tcss"
    TITLE = "incident-console review"
    BINDINGS = REVIEW_BINDINGS

    def __init__(self, path: Path, postmortem: Postmortem, *, redactor: Redactor | None = None):
        super().__init__()
        self.path = path
        self.pm = postmortem
        self.redactor = redactor or Redactor()
        self.remarks = Remarks.beside(path)
        self.cursor = 0

    def shown(self, text: str | None, *, one_line: bool = False) -> str:
        """Text from the export for the screen: redacted, controls as pictures."""
        return shown(self.redactor, text, one_line=one_line)

    def compose(self) -> ComposeResult:
        yield from review_layout(
            Static(id="banner", classes="warning"),
            Static(id="review-timeline"),
            VerticalScroll(Static(id="review-steps"), id="review-right"),
        )

    def on_mount(self) -> None:
        pm = self.pm
        title = Text()
        title.append(" REVIEW ", style="reverse bold")
        kind = "DRILL" if pm.drill else pm.mode.upper()
        title.append(
            self.shown(f" {kind} · {pm.title} · {pm.incident} · {self.path.name}", one_line=True)
        )
        title.append("  postmortem export, read-only", style="dim")
        self.query_one("#review-title", Static).update(title)
        facts = pm.log
        self.query_one("#banner", Static).update(
            Text(
                self.shown(
                    f"⚠ an export: no hash chain to verify here. When it was made, verify said: "
                    f"{facts.integrity} (log {facts.file}, {facts.events} events, head "
                    f"{facts.head[:12]}, chain {facts.chain}). Review the log itself to check it.",
                )
            )
        )
        self.query_one("#review-panels", Static).update(self._metrics())
        self.query_one("#review-milestones", Static).update(self._milestones())
        self._show()

    # -- moving --------------------------------------------------------------------------------

    def action_move(self, count: int) -> None:
        self._go(self.cursor + count)

    def action_jump(self, where: str) -> None:
        self._go(0 if where == "home" else len(self.pm.timeline) - 1)

    def action_milestone(self, direction: int) -> None:
        stops = [i for i, row in enumerate(self.pm.timeline) if row.type == "milestone"]
        target = next_stop(stops, self.cursor, direction)
        if target is None:
            self.notify("no milestone " + ("after" if direction > 0 else "before") + " this")
            return
        self._go(target)

    def _go(self, target: int) -> None:
        self.cursor = max(0, min(target, len(self.pm.timeline) - 1))
        self._show()

    @work
    async def action_remark(self) -> None:
        if not self.pm.timeline:
            return
        row = self.pm.timeline[self.cursor]
        text = await self.push_screen_wait(
            TextScreen(f"Remark on seq {row.seq} (saved in {self.remarks.path.name})")
        )
        if not text:
            return
        try:
            self.remarks.add_about(row.seq, "", self.redactor.text(text), default_actor())
        except OSError as exc:
            self.notify(self.shown(f"{self.remarks.path}: {exc.strerror or exc}"), severity="error")
            return
        self._show()

    def action_quit_review(self) -> None:
        self.exit(farewell(self.path, self.remarks))

    # -- drawing -------------------------------------------------------------------------------

    def _show(self) -> None:
        rows = self.pm.timeline
        timeline = self.query_one("#review-timeline", Static)
        width = max(timeline.size.width, 40)
        out = Text(no_wrap=True, overflow="ellipsis")
        start = max(0, self.cursor - 10)
        for i, row in enumerate(rows[start : start + 40], start):
            offset = self.shown(row.offset, one_line=True)
            line = Text(f"{'▶' if i == self.cursor else ' '} {offset} #{row.seq:<6} ")
            if self.remarks.about(row.seq):
                line.append("✎ ", style="bold")
            line.append(self.shown(row.text, one_line=True))
            if i == self.cursor:
                line.stylize("reverse")
            line.truncate(width, overflow="ellipsis")  # one row, one line
            out.append_text(line)
            out.append("\n")
        timeline.update(out)
        detail = Text()
        steps = Text()
        if rows:
            row = rows[self.cursor]
            head = self.shown(f"seq {row.seq} · {row.type} · {row.at} · ", one_line=True)
            detail.append(head, style="bold")
            detail.append(self.shown(row.actor, one_line=True))
            detail.append(f"\n{self.shown(row.text)}")
            for remark in self.remarks.about(row.seq):
                who = self.shown(f"{remark.actor} {remark.at}", one_line=True)
                detail.append(f"\n✎ {who}: ", style="bold")
                detail.append(self.shown(remark.text))
            started = [b for b in self.pm.blocks if b.seq <= row.seq]
            steps = self._block(started[-1]) if started else Text("no block run yet", style="dim")
        self.query_one("#review-event", Static).update(detail)
        self.query_one("#review-steps", Static).update(steps)
        status = f" row {self.cursor + 1}/{len(rows)} "
        remarks = f" · {len(self.remarks.items)} remark(s)" if self.remarks.items else ""
        self.query_one("#status", Static).update(
            Text.assemble(
                (status, "reverse"), " the export's rows; results as finally reported" + remarks
            )
        )

    def _block(self, block: BlockReport) -> Text:
        out = Text()
        out.append(f"{block.kind} {self.shown(block.block, one_line=True)}", style="bold")
        out.append(self.shown(f" (seq {block.seq}, {block.offset}): {block.status}", one_line=True))
        out.append(f"\n$ {self.shown(block.command)}\n")
        for result in block.results:
            out.append(f"── {self.shown(result.node, one_line=True)} ", style="bold")
            out.append(self.shown(f"{result.verdict} {result.reason}", one_line=True) + "\n")
            for excerpt in result.output:
                out.append(self.shown(excerpt.text))
                if not excerpt.complete:
                    out.append(
                        f"… (log seqs {excerpt.first_seq}-{excerpt.last_seq})\n", style="dim"
                    )
        return out

    def _metrics(self) -> Text:
        out = Text()
        out.append("metric series (the export keeps no snapshot per moment)\n", style="dim")
        for series in self.pm.metrics:
            out.append(f"{self.shown(series.title, one_line=True)}\n", style="bold")
            last = "n/a" if series.last_value is None else f"{series.last_value:g}"
            out.append(f" {self.shown(series.last_state, one_line=True)} {last}")
            out.append(f"\n {sparkline(series.values, 20)}\n")
        return out

    def _milestones(self) -> Text:
        out = Text()
        for row in self.pm.milestones:
            out.append(self.shown(f"◆ {row.label} {row.at[11:]} (seq {row.seq})  ", one_line=True))
        figures = self.pm.figures or self.pm.drill_figures
        out.append("\n" + ("drill figures: " if self.pm.drill else "figures: "), style="bold")
        if figures is None:
            out.append("none")
        elif figures.refused:
            out.append("refused: " + self.shown(figures.refused[0], one_line=True))
        else:
            out.append("  ".join(f"{f.name} {self.shown(f.text)}" for f in figures.figures))
        return out
