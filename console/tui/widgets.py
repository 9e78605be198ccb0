"""Widgets that render state: they are given what to show and never fetch it themselves.

Text from outside (node output, alert labels, log fields, runbook titles) goes through
``shown``: the session's redactor, then control characters as pictures, into a Rich ``Text``
that is never read as markup, so a ``[link=...]`` or an escape sequence shows literally.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from rich.text import Text
from textual.widgets import DataTable, Label, ListItem, ListView, RichLog, Static

from console.execute.session import Retrying
from console.journal.events import PanelValue
from console.journal.fold import BlockRun, IncidentState, NodeRun
from console.journal.redact import Redactor
from console.runbook.model import Block, Step
from console.telemetry.present import present_panel
from console.telemetry.render import labels_line
from console.telemetry.state import TelemetryState
from console.tui.text import shown
from console.tui.themes import PLAIN, Tones, tones_for

# Each verdict has its symbol, so none relies on its colour alone.
VERDICT_SYMBOL = {
    "pass": "✔", "fail": "✘", "error": "!", "indeterminate": "?", "running": "…",
    "cancelled": "⊘", "declined": "⊘", "refused": "⊗", "interrupted": "↯", "not run": "·",
    "not-run": "·", "skipped": "↷",
}  # fmt: skip
STEP_MARK = {"done": "✔", "failed": "✘", "skipped": "↷", "todo": " "}
CURRENT_MARK = "▸"
SELECTED_MARK = "▶"
FAILED = ("fail", "error", "indeterminate")


def verdict_text(verdict: str, tones: Tones = PLAIN) -> Text:
    """A verdict as its symbol and word, in its theme colour."""
    symbol = VERDICT_SYMBOL.get(verdict, "·")
    return Text(f"{symbol} {verdict}", style=tones.verdict(verdict))


def panel_text(
    panel: PanelValue, redactor: Redactor, tones: Tones = PLAIN, *, one_line: bool = False
) -> Text:
    """One panel laid out from ``present_panel``: two or three coloured lines, or with
    ``one_line`` its title, state, value and trend on one line (the compact strip)."""
    view = present_panel(panel, lambda text: shown(redactor, text, one_line=True))
    gap = " " if one_line else "\n "
    text = Text()
    text.append(f"{view.title[:18]:<18} " if one_line else f"{view.title}\n", style="bold")
    state = f"{view.label:<9} " if one_line else f" {view.label:<10} "
    text.append(state, style=tones.state(view.tone))
    text.append(view.detail)
    if view.trend:
        text.append(gap)
        text.append(view.trend, style=tones.style("trend"))
    if view.error:
        text.append(f"{gap}! {view.error}", style=tones.style("verdict-error"))
    return text


class PanelsView(Static):
    """The telemetry panels and firing alerts; says loudly when a source is down."""

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()

    def show(self, state: TelemetryState | None) -> None:
        """Render a telemetry state (``None``: not polled yet)."""
        if state is None:
            self.update(Text("waiting for the first poll…", style="dim"))
            return
        out = Text()
        redactor = self.redactor
        tones = tones_for(self.app)
        for source in state.sources:
            if source.up is False:
                error = shown(redactor, source.error, one_line=True)
                out.append(f"{source.name} DOWN: {error}\n", style=tones.state("lost"))
        for panel in state.panels:
            if panel.kind == "alerts":
                continue
            out.append_text(panel_text(panel, redactor, tones))
            out.append("\n")
        firing = state.firing
        out.append(f"Firing alerts ({len(firing)})\n", style="bold")
        if state.alerts_error:
            error = shown(redactor, state.alerts_error, one_line=True)
            out.append(f" ! {error}\n", style=tones.style("verdict-error"))
        for alert in firing:
            style = tones.state("crit" if alert.severity == "critical" else "warn")
            out.append(f" {shown(redactor, alert.alertname, one_line=True)}", style=style)
            out.append(f" {shown(redactor, labels_line(alert))}\n", style="dim")
        if not firing and not state.alerts_error:
            out.append(" none\n", style="dim")
        self.update(out)


class PanelsStrip(Static):
    """The panels one line each, above the steps when the terminal is under 120 columns."""

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()

    def show(self, state: TelemetryState | None) -> None:
        """Render a telemetry state (``None``: not polled yet)."""
        out = Text(no_wrap=True, overflow="ellipsis")
        if state is None:
            out.append("waiting for the first poll…", style="dim")
            self.update(out)
            return
        redactor = self.redactor
        tones = tones_for(self.app)
        lines: list[Text] = []
        for source in state.sources:
            if source.up is False:
                error = shown(redactor, source.error, one_line=True)
                lines.append(Text(f"{source.name} DOWN: {error}", style=tones.state("lost")))
        lines.extend(
            panel_text(panel, redactor, tones, one_line=True)
            for panel in state.panels
            if panel.kind != "alerts"
        )
        firing = state.firing
        alerts = Text(f"{'Firing alerts':<18} ", style="bold")
        alerts.append(f"{len(firing)} ", style=tones.state("crit" if firing else "ok"))
        names = ", ".join(shown(redactor, a.alertname, one_line=True) for a in firing)
        alerts.append(names or "none")
        if state.alerts_error:
            error = shown(redactor, state.alerts_error, one_line=True)
            alerts.append(f" ! {error}", style=tones.style("verdict-error"))
        lines.append(alerts)
        self.update(Text("\n", no_wrap=True, overflow="ellipsis").join(lines))


class StepsList(ListView):
    """The runbook's steps: the current one (``▸``, one only) and each step's mark."""

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()
        self.steps: list[Step] = []
        self.labels: list[Label] = []
        self._loading = asyncio.Lock()

    async def load(self, steps: list[Step]) -> None:
        """Put ``steps`` in the list, the first highlighted (old items gone before new ones)."""
        async with self._loading:
            await self.clear()
            self.steps = list(steps)
            self.labels = [Label() for _ in steps]
            await self.extend(
                ListItem(label, name=step.slug)
                for step, label in zip(self.steps, self.labels, strict=True)
            )
            self.index = 0 if steps else None

    def show(self, state: IncidentState, waiting: Collection[str] = ()) -> None:
        """Redraw each step's marks from ``state`` (the items stay, and so does the highlight).

        ``waiting``: blocks between attempts, whose last failed attempt is not the last word.
        """
        for step, label in zip(self.steps, self.labels, strict=True):
            current = CURRENT_MARK if state.current_step == step.slug else " "
            mark = STEP_MARK[step_status(step, state, waiting)]
            title = shown(self.redactor, step.title, one_line=True)
            label.update(Text(f"{current}{mark} {step.number}. {title}"))


FENCE = re.compile(r"^(?P<lead> {0,3}(?:`{3,}|~{3,}))[ \t]*(?P<info>\S.*)$", re.MULTILINE)


@functools.cache
def _lexer_names() -> frozenset[str]:
    """The languages Pygments ships (no plugins: looking those up imports every installed one)."""
    from pygments.lexers import get_all_lexers

    lexers = get_all_lexers(plugins=False)
    return frozenset(alias for _, aliases, _, _ in lexers for alias in aliases)


def step_markdown(step: Step) -> str:
    """The step's text for the Markdown pane: its heading and prose, the blocks without their
    ``#|`` options, each fence naming only its language, or none when Pygments has no lexer for
    it. Handed ``sh check``, Textual asked Pygments for a lexer of that name, and a name it lacks
    has it scan every installed plugin: 0.4 s on the screen's loop (IPython imported, where
    installed) the first time a step was shown."""
    prose = "\n".join(
        line for line in step.markdown.split("\n") if not line.lstrip().startswith("#|")
    )

    def language_only(fence: re.Match[str]) -> str:
        language = fence["info"].split()[0].lower()
        return fence["lead"] + (language if language in _lexer_names() else "")

    return f"## {step.number}. {step.title}\n\n{FENCE.sub(language_only, prose)}"


def step_status(step: Step, state: IncidentState, waiting: Collection[str] = ()) -> str:
    """One meaning per mark: ``skipped`` (and not entered since), ``failed`` (a block's last
    run failed, errored or was indeterminate), ``done`` (every check in it passed in this
    incident, at least one ran; a step without checks: every action), else ``todo``."""
    entry = state.steps.get(step.slug)
    if entry and entry.skipped and (not entry.entered or entry.entered[-1] < entry.skipped.seq):
        return "skipped"
    runs = {block.id: last_run(state, block.id) for block in step.blocks}
    if any(r is not None and r.status in FAILED and b not in waiting for b, r in runs.items()):
        return "failed"
    judged = [b for b in step.blocks if not b.is_action] or step.blocks
    if judged and all((r := runs[b.id]) is not None and r.status == "pass" for b in judged):
        return "done"
    return "todo"


def last_run(state: IncidentState, block_id: str) -> BlockRun | None:
    """The most recent run of a block in this incident."""
    runs = [r for r in state.runs.values() if r.started.data.block == block_id]
    return max(runs, key=lambda r: r.started.seq) if runs else None


def block_status(state: IncidentState, block_id: str) -> tuple[str, str]:
    """The block's latest status and why: a run's verdict, or ``refused``/``declined``."""
    run = last_run(state, block_id)
    declined = [d for d in state.declined if d.data.block == block_id]
    last_declined = declined[-1] if declined else None
    if last_declined is not None and (run is None or last_declined.seq > run.started.seq):
        reason = last_declined.data.reason
        return ("refused" if reason.startswith("refused") else "declined"), reason
    if run is None:
        return "not run", ""
    if run.cancelled is not None:  # also after a finished attempt, when its retries were
        return "cancelled", run.cancelled.data.reason
    reason = run.finished.data.reason if run.finished else ""
    return run.status, reason


def attempt_text(waiting: Retrying, now: float) -> str:
    """``attempt 3 · next in 4s · gives up at 02:14:10`` (UTC, like the timeline)."""
    next_in = max(0, math.ceil(waiting.next_at - now))
    gives_up = datetime.fromtimestamp(waiting.gives_up_at, UTC).strftime("%H:%M:%S")
    return f"attempt {waiting.attempt} · next in {next_in}s · gives up at {gives_up}"


class BlocksList(ListView):
    """The current step's executable blocks and their last verdicts; ``▶`` marks the one
    highlighted, which is the one ``r`` runs."""

    DEFAULT_CSS = """
    BlocksList > ListItem.-highlight { text-style: bold; }
    """

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()
        self.blocks: list[Block] = []
        self.labels: list[Label] = []
        self._texts: list[Text] = []
        self._loading = asyncio.Lock()

    async def load(self, blocks: list[Block], select: str | None = None) -> None:
        """Put ``blocks`` in the list and highlight ``select`` (default: the first block).

        The old items are gone before the new ones come, so a highlight never points at a
        block of another step.
        """
        async with self._loading:
            await self.clear()
            self.blocks = list(blocks)
            self.labels = [Label() for _ in blocks]
            self._texts = [Text() for _ in blocks]
            await self.extend(
                ListItem(label, name=block.id)
                for block, label in zip(self.blocks, self.labels, strict=True)
            )
            ids = [b.id for b in blocks]
            self.index = ids.index(select) if select in ids else (0 if blocks else None)

    @property
    def selected(self) -> Block | None:
        """The highlighted block: the one the screen marks and ``r`` runs."""
        index = self.index
        if index is None or not 0 <= index < len(self.blocks):
            return None
        return self.blocks[index]

    def show(
        self, state: IncidentState, waiting: Mapping[str, Retrying] | None = None, now: float = 0
    ) -> None:
        """Redraw each block's status from ``state`` (the items and the highlight stay)."""
        waiting = waiting or {}
        self._texts = [self._text(b, state, waiting.get(b.id), now) for b in self.blocks]
        self._paint()

    def watch_index(self, old_index: int | None, new_index: int | None) -> None:
        """Move the ``▶`` marker with the highlight."""
        super().watch_index(old_index, new_index)
        self._paint()

    def _paint(self) -> None:
        for index, (label, text) in enumerate(zip(self.labels, self._texts, strict=True)):
            mark = SELECTED_MARK if index == self.index else " "
            label.update(Text.assemble(mark, text))

    def _text(
        self, block: Block, state: IncidentState, waiting: Retrying | None, now: float
    ) -> Text:
        status, reason = block_status(state, block.id)
        tones = tones_for(self.app)
        label = Text()
        label.append(
            "⚠ action " if block.is_action else "  check  ",
            style=tones.style("action-block", bold=True) if block.is_action else "",
        )
        label.append(f"{shown(self.redactor, block.id, one_line=True):<22} ")
        label.append_text(verdict_text(status, tones))
        if status in ("refused", "declined"):
            why = shown(self.redactor, reason, one_line=True)
            label.append(f" {why}", style=tones.verdict(status))
        run = last_run(state, block.id)
        if waiting is not None:
            label.append(f" · {attempt_text(waiting, now)}", style=tones.verdict("running"))
        elif status == "running" and run is not None and run.started.data.attempt > 1:
            attempt = f" · attempt {run.started.data.attempt}"
            label.append(attempt, style=tones.verdict("running"))
        body = block.body.strip()
        first = body.split("\n")[0] if body else block.options.use
        label.append(f"\n    {shown(self.redactor, first, one_line=True)}", style="dim")
        return label


class ResultsTable(DataTable[Text]):
    """Per-node verdicts of one block run."""

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()
        self._shown_rows: list[tuple[str, tuple[Text, ...]]] | None = None

    def on_mount(self) -> None:
        self.add_columns("node", "verdict", "attempt", "exit", "time", "why")
        self.cursor_type = "row"

    def show(self, run: BlockRun | None, waiting: Retrying | None = None, now: float = 0) -> None:
        """Show ``run``'s node results (empty when the block has not run); while the check
        waits for its next attempt, each node says when it comes. Rows the same as those shown
        are left alone: refilling lays the screen out again, and the columns' widths are only
        measured once the table is idle."""
        tones = tones_for(self.app)
        rows: list[tuple[str, tuple[Text, ...]]] = []
        if run is not None:
            rows = [
                (name, self._cells(run, name, node, waiting, now, tones))
                for name, node in sorted(run.nodes.items())
            ]
        if rows == self._shown_rows:
            return
        self.clear()
        for name, cells in rows:
            self.add_row(*cells, key=name)
        self._shown_rows = rows

    def _cells(
        self,
        run: BlockRun,
        name: str,
        node: NodeRun,
        waiting: Retrying | None,
        now: float,
        tones: Tones,
    ) -> tuple[Text, ...]:
        """One node's row: name, verdict, attempt (or when the next comes), exit, time, why."""
        result = node.result.data if node.result else None
        verdict = result.verdict if result else "running"
        attempt = str(run.started.data.attempt)
        if waiting is not None and waiting.run == run.started.data.run:
            attempt = attempt_text(waiting, now)
        return (
            Text(shown(self.redactor, name, one_line=True)),
            verdict_text(verdict, tones),
            Text(attempt),
            Text("" if result is None or result.exit is None else str(result.exit)),
            Text("" if result is None else f"{result.duration_s:.2f}s"),
            Text("" if result is None else shown(self.redactor, result.reason, one_line=True)),
        )


_RICHLOG_PRIVATE = ("_size_known", "_line_cache", "_start_line", "_widest_line_width")
"""What ``OutputLog.replace`` touches of ``RichLog`` (Textual 8.2): checked, not assumed."""


class OutputLog(RichLog):
    """The output pane: a ``RichLog`` whose whole text is replaced when the block's output
    grows. ``clear`` then ``write`` would shrink the scrollable size to nothing and back, and
    each change of that size lays the whole screen out again; ``replace`` changes it only when
    the new text is really taller or wider (see docs/performance.md, "Streaming output")."""

    def replace(self, text: Text) -> None:
        """Show ``text`` instead of what is shown (scrolled to its end, as ``write`` does)."""
        known = all(hasattr(self, name) for name in _RICHLOG_PRIVATE)
        if not known or not self._size_known:  # before the first layout RichLog defers writes
            self.clear()  # itself; and a Textual whose RichLog changed gets the plain way
            self.write(text)
            return
        # What RichLog.clear does, less setting virtual_size: write sets it once.
        self.lines.clear()
        self._line_cache.clear()
        self._start_line = 0
        self._widest_line_width = 0
        self.write(text)
        self.refresh()


def refusal_text(
    reason: str, first: list[tuple[str, Step | None]], redactor: Redactor, tones: Tones = PLAIN
) -> Text:
    """Why an action was refused or declined, what to run first (``first``: each required
    check with its step) and the key that jumps there."""
    out = Text()
    out.append(shown(redactor, reason), style=tones.verdict("refused"))
    out.append("\n")
    for block_id, step in first:
        where = (
            f" (step {step.number}. {shown(redactor, step.title, one_line=True)})" if step else ""
        )
        out.append(f"run first: {shown(redactor, block_id, one_line=True)}{where}\n")
    if first:
        out.append("press j to jump to it", style="bold")
    elif reason.startswith("refused"):
        out.append("what it requires has passed since: r runs it", style="dim")
    return out


def output_text(
    run: BlockRun | None, redactor: Redactor, limit: int = 4000, tones: Tones = PLAIN
) -> Text:
    """Each node's output, grouped by node and never interleaved, most of it per node."""
    out = Text()
    if run is None:
        out.append("not run yet", style="dim")
        return out
    data = run.started.data
    out.append(f"$ {shown(redactor, data.command)}\n", style="bold")
    if run.finished is not None:
        verdict = run.finished.data.verdict
        out.append("block verdict: ")
        out.append_text(verdict_text(verdict, tones))
        if run.finished.data.reason:
            out.append(f" ({shown(redactor, run.finished.data.reason, one_line=True)})")
        out.append("\n")
    for name, node in sorted(run.nodes.items()):
        out.append(f"── {shown(redactor, name, one_line=True)} ", style="bold")
        result = node.result.data if node.result else None
        if result:
            out.append_text(verdict_text(result.verdict, tones))
        out.append("\n")
        for stream in ("stdout", "stderr"):
            text, size = node.head(stream, limit)
            if size > limit:
                text += f"\n… {size - limit} more characters in the log"
            if text:
                text = shown(redactor, text)
                out.append(
                    text if text.endswith("\n") else text + "\n",
                    style=tones.style("stderr") if stream == "stderr" else "",
                )
        for cut in node.truncated:
            out.append(
                f"[{cut.data.dropped_bytes} bytes, {cut.data.dropped_lines} lines of "
                f"{cut.data.stream} past the cap were not kept]\n",
                style=tones.style("notice"),
            )
    return out
