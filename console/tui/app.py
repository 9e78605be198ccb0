"""The incident console: panels, the runbook, per-node results and the timeline on one screen.

Engines run in workers and report through messages; handlers own the widgets. Every change
the screen shows comes from an event that the journal already holds (``EventRecorded``) or from
a telemetry poll (``TelemetryUpdated``).
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, ListView, Markdown, RichLog, Static

from console.execute.session import ConfirmAnswer, ConfirmRequest
from console.incident import QUIET_TYPES
from console.journal.events import (
    DrillInject,
    Event,
    MilestoneSet,
    Note,
    StepEntered,
    StepSkipped,
)
from console.report.timeline import describe
from console.runbook.match import rank_runbooks
from console.runbook.model import Block, Runbook, Step, VarSpec
from console.sanitize import visible
from console.telemetry.state import TelemetryState
from console.tui.messages import EventRecorded, TelemetryUpdated
from console.tui.screens import (
    ConfirmScreen,
    HelpScreen,
    PromptScreen,
    RunbookPicker,
    TextScreen,
)
from console.tui.widgets import (
    BlocksList,
    PanelsView,
    ResultsTable,
    StepsList,
    last_run,
    output_text,
    shown,
)
from console.workspace import Workspace


class ConsoleApp(App[str]):
    """The console for one incident or drill."""

    CSS_PATH = "console.tcss"
    TITLE = "incident-console"
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help"),
        Binding("r", "run_block", "Run", id="run-block"),
        Binding("escape", "focus_steps", "Steps", show=False, id="focus-steps"),
        Binding("ctrl+x", "cancel_block", "Cancel", id="cancel-block"),
        Binding("s", "skip_step", "Skip step", id="skip-step"),
        Binding("n", "note", "Note", id="note"),
        Binding("a", "milestone('acknowledged')", "Ack", id="mark-acknowledged"),
        Binding("m", "milestone('mitigated')", "Mitigated", id="mark-mitigated"),
        Binding("R", "milestone('resolved')", "Resolved", show=False, id="mark-resolved"),
        Binding("S", "snapshot", "Snapshot", show=False, id="snapshot"),
        Binding("o", "open_runbook", "Runbooks", id="open-runbook"),
        Binding("p", "drill_pause", "Pause drill", show=False, id="drill-pause"),
        Binding("plus", "drill_speed(2.0)", "Faster", show=False, id="drill-faster"),
        Binding("minus", "drill_speed(0.5)", "Slower", show=False, id="drill-slower"),
        Binding("c", "close_incident", "Close", id="close-incident"),
        Binding("q", "quit_console", "Quit", id="quit"),
    ]

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.ws = workspace
        self.telemetry: TelemetryState | None = None
        self.step: Step | None = None
        self.block: Block | None = None
        self._block_task: asyncio.Task[object] | None = None
        self._unsubscribe = workspace.incident.sink.subscribe(self._on_event)
        self.redactor = workspace.incident.redactor

    def shown(self, text: str | None, *, one_line: bool = False) -> str:
        """Outside text for the screen: the session's redaction, controls as pictures."""
        return shown(self.redactor, text, one_line=one_line)

    def _on_event(self, event: Event) -> None:
        self.post_message(EventRecorded(event))

    def _on_telemetry(self, state: TelemetryState) -> None:
        self.post_message(TelemetryUpdated(state))

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Horizontal(id="body"):
            with VerticalScroll(id="left"):
                yield PanelsView(self.redactor, id="panels")
            with Vertical(id="center"):
                yield StepsList(self.redactor, id="steps")
                with VerticalScroll(id="prose"):
                    yield Markdown(id="step-text")
                yield BlocksList(self.redactor, id="blocks")
            with Vertical(id="right"):
                yield ResultsTable(self.redactor, id="results")
                yield RichLog(id="output", wrap=True, markup=False)
        yield RichLog(id="timeline", wrap=False, markup=False, max_lines=2000)
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        state = self.ws.incident.state
        mode = "DRILL" if state.mode == "drill" else "LIVE"
        self.title = f"{mode} · {self.shown(state.title, one_line=True)}"
        self.sub_title = (
            f"{self.shown(state.incident, one_line=True)} · profile {self.ws.config.profile}"
        )
        timeline = self.query_one("#timeline", RichLog)
        for line in self._history():
            timeline.write(line)
        self.query_one(PanelsView).show(None)
        if self.ws.poller is not None:
            self.ws.poller.subscribe(self._on_telemetry)
            self.run_worker(self.ws.poller.run(), name="telemetry", group="engines")
        if self.ws.drill is not None:
            self.run_worker(self.ws.drill.run(), name="drill", group="engines")
        if self.ws.runbook is not None:
            self.open_runbook(self.ws.runbook)
        else:
            self.call_later(self.action_open_runbook)
        for warning in self.ws.incident.warnings:
            self.notify(self.shown(warning), title="Incident log", severity="warning", markup=False)
        self._status()

    def _history(self) -> list[Text]:
        """The timeline so far, as folded while it was written (the log is not read again)."""
        return [self._line(e) for e in self.ws.incident.sink.timeline]

    # -- engine reports ----------------------------------------------------------------------

    def on_event_recorded(self, message: EventRecorded) -> None:
        event = message.event
        if event.type not in QUIET_TYPES:
            self.query_one("#timeline", RichLog).write(self._line(event))
        if isinstance(event.data, DrillInject) and event.data.description:
            description = self.shown(event.data.description)
            self.notify(description, title="Drill", timeout=12, markup=False)
        if event.type == "journal.fault":
            self.notify(
                self.shown(describe(event)),
                title="JOURNAL",
                severity="error",
                timeout=30,
                markup=False,
            )
        if event.type.startswith(("block.", "node.", "step.", "action.", "output.")):
            self._refresh_runbook()
        self._status()

    def on_telemetry_updated(self, message: TelemetryUpdated) -> None:
        self.telemetry = message.state
        self.query_one(PanelsView).show(message.state)

    def _line(self, event: Event) -> Text:
        text = Text()
        text.append(event.ts[11:19] + " ", style="dim")
        style = (
            "bold red"
            if event.type in ("journal.fault", "source.down")
            else ("yellow" if event.type.startswith(("alert.", "drill.")) else "")
        )
        text.append(self.shown(describe(event), one_line=True), style=style)
        return text

    def _status(self) -> None:
        state = self.ws.incident.state
        text = Text()
        text.append(f" log head {state.head[:12]} ", style="reverse")
        path = self.ws.incident.path
        where = self.shown(path.name, one_line=True) if path else "in memory"
        text.append(f" {where} · {state.events} events")
        if self.ws.incident.faults:
            text.append("  JOURNAL FAULT: writes are being retried ", style="bold white on red")
        if self.ws.drill is not None:
            clock = self.ws.drill.clock
            paused = " PAUSED" if clock.paused else ""
            drill = f"  drill T+{clock.elapsed():.0f}s speed {clock.speed:g}x{paused}"
            text.append(drill, style="bold yellow")
        self.query_one("#status", Static).update(text)

    # -- runbook -----------------------------------------------------------------------------

    @work(exclusive=True, group="runbook")
    async def open_runbook(self, runbook: Runbook) -> None:
        """Make ``runbook`` the one being worked."""
        await self.ws.open_runbook(runbook, confirm=self._confirm, prompt=self._prompt)
        incident = self.ws.incident.state.incident
        self.sub_title = self.shown(f"{incident} · {runbook.title}", one_line=True)
        self._refresh_runbook(rebuild_steps=True)
        if runbook.steps:
            self._show_step(runbook.steps[0])
        self.query_one(StepsList).focus()

    def _refresh_runbook(self, rebuild_steps: bool = True) -> None:
        runbook = self.ws.runbook
        if runbook is None:
            return
        state = self.ws.incident.state
        if rebuild_steps:
            self.query_one(StepsList).show(runbook.steps, state)
        if self.step is not None:
            self.query_one(BlocksList).show(self.step.blocks, state)
        self._show_block()

    def _show_step(self, step: Step) -> None:
        self.step = step
        prose = "\n".join(
            line for line in step.markdown.split("\n") if not line.lstrip().startswith("#|")
        )
        intro = f"## {step.number}. {step.title}\n\n{prose}"
        self.query_one("#step-text", Markdown).update(visible(intro))
        self.query_one(BlocksList).show(step.blocks, self.ws.incident.state)
        self.block = step.blocks[0] if step.blocks else None
        self._show_block()

    def _show_block(self) -> None:
        run = last_run(self.ws.incident.state, self.block.id) if self.block else None
        self.query_one(ResultsTable).show(run)
        log = self.query_one("#output", RichLog)
        log.clear()
        log.write(output_text(run, self.redactor))

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        runbook = self.ws.runbook
        if runbook is None or event.item is None:
            return
        if event.list_view.id == "steps":
            step = runbook.step(event.item.name or "")
            if step is not None and step is not self.step:
                self._show_step(step)
        elif event.list_view.id == "blocks":
            self.block = runbook.block(event.item.name or "")
            self._show_block()

    async def on_list_view_selected(self, event: ListView.Selected) -> None:
        if event.list_view.id == "steps" and self.step is not None:
            await self._enter_step(self.step)
            self.query_one(BlocksList).focus()
        elif event.list_view.id == "blocks":
            self.action_run_block()

    async def _enter_step(self, step: Step) -> None:
        await self.ws.incident.sink.emit(
            StepEntered(step=step.slug, number=step.number, title=step.title)
        )
        await self._snapshot("step")

    async def _snapshot(self, reason: str) -> None:
        if self.ws.poller is not None and self.telemetry is not None:
            await self.ws.poller.record_snapshot(reason)

    # -- actions -----------------------------------------------------------------------------

    def action_run_block(self) -> None:
        if self.block is None or self.ws.session is None:
            self.notify("no block selected", severity="warning")
            return
        if self._block_task is not None and not self._block_task.done():
            self.notify("a block is still running (ctrl+x cancels it)", severity="warning")
            return
        self._run_block(self.block)

    @work(group="blocks")
    async def _run_block(self, block: Block) -> None:
        session = self.ws.session
        assert session is not None
        self._block_task = asyncio.current_task()
        try:
            if self.step is not None and not self.ws.incident.state.steps.get(self.step.slug):
                await self._enter_step(self.step)
            await session.ask_vars([block])
            run = await session.run_block(block)
            if block.is_action:
                await self._snapshot("action")
            self.notify(
                self.shown(f"{block.id}: {run.verdict}"),
                severity="information" if run.passed else "warning",
                markup=False,
            )
        except asyncio.CancelledError:
            self.notify(self.shown(f"{block.id}: cancelled"), severity="warning", markup=False)
            raise
        except Exception as exc:  # a runbook or target problem: show it, keep the console up
            self.notify(
                self.shown(f"{block.id}: {exc}"),
                title="could not run",
                severity="error",
                timeout=20,
                markup=False,
            )
        finally:
            self._block_task = None

    def action_focus_steps(self) -> None:
        self.query_one(StepsList).focus()

    def action_cancel_block(self) -> None:
        if self._block_task is not None and not self._block_task.done():
            self._block_task.cancel()
        else:
            self.notify("nothing is running")

    @work
    async def action_skip_step(self) -> None:
        step = self.step
        if step is None:
            return
        reason = await self.push_screen_wait(TextScreen(f"Skip step {step.number}: why?"))
        if reason:
            await self.ws.incident.sink.emit(
                StepSkipped(step=step.slug, number=step.number, title=step.title, reason=reason)
            )

    @work
    async def action_note(self) -> None:
        text = await self.push_screen_wait(TextScreen("Note for the incident log"))
        if text:
            await self.ws.incident.sink.emit(Note(text=text))

    async def action_milestone(self, name: str) -> None:
        try:
            await self.ws.incident.sink.emit(MilestoneSet(name=name))
        except Exception as exc:  # an ordering the journal refuses
            self.notify(
                self.shown(str(exc)), title="milestone refused", severity="error", markup=False
            )
            return
        self.notify(f"marked {name}")

    async def action_snapshot(self) -> None:
        await self._snapshot("manual")

    @work
    async def action_open_runbook(self) -> None:
        choices = self._ranked_runbooks()
        runbook = await self.push_screen_wait(RunbookPicker(choices, self.redactor))
        if runbook is not None:
            self.open_runbook(runbook)

    def _ranked_runbooks(self) -> list[tuple[Runbook, str]]:
        runbooks = self.ws.library.runbooks
        out: list[tuple[Runbook, str]] = []
        seen: set[str] = set()
        for alert in self.telemetry.firing if self.telemetry else []:
            for match in rank_runbooks(alert, runbooks):
                if match.runbook.file not in seen:
                    seen.add(match.runbook.file)
                    verb = "answers" if match.answers else "may answer"  # a case-only near miss
                    out.append(
                        (match.runbook, f"{verb} {alert.alertname}: " + "; ".join(match.reasons))
                    )
        out.extend((rb, "in the library") for rb in runbooks if rb.file not in seen)
        return out

    async def action_drill_pause(self) -> None:
        if self.ws.drill is None:
            return
        await self.ws.drill.control("resume" if self.ws.drill.clock.paused else "pause")
        self._status()

    async def action_drill_speed(self, factor: float) -> None:
        if self.ws.drill is None:
            return
        speed = min(max(self.ws.drill.clock.speed * factor, 0.25), 64.0)
        await self.ws.drill.control(f"speed={speed:g}")
        self._status()

    @work
    async def action_close_incident(self) -> None:
        summary = await self.push_screen_wait(
            TextScreen("Close the incident: one-line summary (Escape to keep it open)")
        )
        if summary is None:
            return
        await self._stop_engines()
        head = await self.ws.incident.close(summary)
        self.exit(f"closed; head hash {head}")

    async def action_quit_console(self) -> None:
        await self._stop_engines()
        await self.ws.incident.suspend("console quit")
        path = self.ws.incident.path
        self.exit(f"suspended; resume with: incident-console resume {path}" if path else "")

    async def action_help(self) -> None:
        await self.push_screen(HelpScreen())

    async def _stop_engines(self) -> None:
        if self._block_task is not None and not self._block_task.done():
            self._block_task.cancel()
        self.workers.cancel_group(self, "engines")
        self._unsubscribe()
        await self.ws.aclose()

    # -- callbacks the session calls (from the block worker) ---------------------------------

    async def _confirm(self, request: ConfirmRequest) -> ConfirmAnswer:
        return await self.push_screen_wait(ConfirmScreen(request, self.redactor))

    async def _prompt(self, name: str, spec: VarSpec, problem: str | None) -> str | None:
        return await self.push_screen_wait(PromptScreen(name, spec, problem, self.redactor))


async def run_app(workspace: Workspace) -> str | None:
    """Run the console until the engineer quits or closes; returns the farewell line.

    It runs on the running loop, which must be the one ``workspace`` was built on.
    """
    return await ConsoleApp(workspace).run_async()
