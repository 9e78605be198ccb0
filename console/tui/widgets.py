"""Widgets that render state: they are given what to show and never fetch it themselves.

Text from outside (node output, alert labels, log fields, runbook titles) goes through
``shown``: the session's redactor, then control characters as pictures, into a Rich ``Text``
that is never read as markup, so a ``[link=...]`` or an escape sequence shows literally.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable, Label, ListItem, ListView, Static

from console.journal.events import PanelValue
from console.journal.fold import BlockRun, IncidentState
from console.journal.redact import Redactor
from console.runbook.model import Block, Step
from console.sanitize import visible
from console.telemetry.present import present_panel
from console.telemetry.render import labels_line
from console.telemetry.state import TelemetryState
from console.tui.themes import PLAIN, Tones, tones_for

# Each verdict has its symbol, so none relies on its colour alone.
VERDICT_SYMBOL = {
    "pass": "✔", "fail": "✘", "error": "!", "indeterminate": "?", "running": "…",
    "cancelled": "⊘", "declined": "⊘", "refused": "⊗", "interrupted": "↯", "not run": "·",
    "not-run": "·", "skipped": "↷",
}  # fmt: skip
STEP_MARK = {"done": "✔", "entered": "▸", "skipped": "↷", "todo": " "}


def shown(redactor: Redactor, text: str | None, *, one_line: bool = False) -> str:
    """Outside text ready for the screen: secrets redacted, control characters as pictures."""
    return visible(redactor.text(text or ""), one_line=one_line)


def verdict_text(verdict: str, tones: Tones = PLAIN) -> Text:
    """A verdict as its symbol and word, in its theme colour."""
    symbol = VERDICT_SYMBOL.get(verdict, "·")
    return Text(f"{symbol} {verdict}", style=tones.verdict(verdict))


def panel_text(panel: PanelValue, redactor: Redactor, tones: Tones = PLAIN) -> Text:
    """One panel as two or three coloured lines, laid out from ``present_panel``."""
    view = present_panel(panel, lambda text: shown(redactor, text, one_line=True))
    text = Text()
    text.append(f"{view.title}\n", style="bold")
    text.append(f" {view.label:<10}", style=tones.state(view.tone))
    text.append(f" {view.detail}")
    if view.trend:
        text.append(f"\n {view.trend}", style=tones.style("trend"))
    if view.error:
        text.append(f"\n ! {view.error}", style=tones.style("verdict-error"))
    return text


def panel_line(panel: PanelValue, redactor: Redactor, tones: Tones = PLAIN) -> Text:
    """One panel on one line (title, state, value, trend), for the compact strip."""
    view = present_panel(panel, lambda text: shown(redactor, text, one_line=True))
    text = Text()
    text.append(f"{view.title[:18]:<18} ", style="bold")
    text.append(f"{view.label:<9} ", style=tones.state(view.tone))
    text.append(f"{view.detail} ")
    if view.trend:
        text.append(view.trend, style=tones.style("trend"))
    if view.error:
        text.append(f" ! {view.error}", style=tones.style("verdict-error"))
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
            panel_line(panel, redactor, tones) for panel in state.panels if panel.kind != "alerts"
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
    """The runbook's steps with their status marks."""

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()

    def show(self, steps: list[Step], state: IncidentState) -> None:
        """Rebuild the list (keeps the highlighted index)."""
        index = self.index
        self.clear()
        for step in steps:
            status = state.step_status(step.slug) if step.slug in state.steps else "todo"
            mark = STEP_MARK.get(status, " ")
            title = shown(self.redactor, step.title, one_line=True)
            self.append(ListItem(Label(Text(f"{mark} {step.number}. {title}")), name=step.slug))
        if steps:
            self.index = min(index or 0, len(steps) - 1)


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
    reason = run.finished.data.reason if run.finished else ""
    return run.status, reason


class BlocksList(ListView):
    """The current step's executable blocks and their last verdicts."""

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()

    def show(self, blocks: list[Block], state: IncidentState) -> None:
        """Rebuild the list (keeps the highlighted index)."""
        index = self.index
        self.clear()
        tones = tones_for(self.app)
        for block in blocks:
            status, reason = block_status(state, block.id)
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
            body = block.body.strip()
            first = body.split("\n")[0] if body else block.options.use
            label.append(f"\n    {shown(self.redactor, first, one_line=True)}", style="dim")
            self.append(ListItem(Label(label), name=block.id))
        if blocks:
            self.index = min(index or 0, len(blocks) - 1)


class ResultsTable(DataTable[Text]):
    """Per-node verdicts of one block run."""

    def __init__(self, redactor: Redactor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redactor = redactor or Redactor()

    def on_mount(self) -> None:
        self.add_columns("node", "verdict", "exit", "time", "why")
        self.cursor_type = "row"

    def show(self, run: BlockRun | None) -> None:
        """Show ``run``'s node results (empty when the block has not run)."""
        self.clear()
        if run is None:
            return
        tones = tones_for(self.app)
        for name, node in sorted(run.nodes.items()):
            result = node.result.data if node.result else None
            verdict = result.verdict if result else "running"
            self.add_row(
                Text(shown(self.redactor, name, one_line=True)),
                verdict_text(verdict, tones),
                Text("" if result is None or result.exit is None else str(result.exit)),
                Text("" if result is None else f"{result.duration_s:.2f}s"),
                Text("" if result is None else shown(self.redactor, result.reason, one_line=True)),
                key=name,
            )


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
            text = node.text(stream)
            if len(text) > limit:
                text = text[:limit] + f"\n… {len(text) - limit} more characters in the log"
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
