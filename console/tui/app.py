"""The incident console: panels, the runbook, per-node results and the timeline on one screen.

Engines run in workers and report through messages; handlers own the widgets. Every change
the screen shows comes from an event that the journal already holds (``EventRecorded``) or from
a telemetry poll (``TelemetryUpdated``).

The console paints its first frame before it builds its workspace (``Opening``): this module
imports only Textual and the light parts of ``console.tui`` at the top, and the engines, the
journal and the widgets that show them once the first frame is out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.theme import Theme
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Header, Static

from console.tui.bars import ConsoleFooter, Segment, StatusBar
from console.tui.collector import freeze_built, screen_collector
from console.tui.messages import EventRecorded, TelemetryUpdated, while_running
from console.tui.text import shown
from console.tui.themes import (
    console_variable_defaults,
    save_theme,
    start_themes,
    tones_for,
)

if TYPE_CHECKING:
    from textual.widgets import ListView, Markdown, RichLog

    from console.config import LoadedConfig
    from console.errors import ConsoleError
    from console.execute.session import ConfirmAnswer, ConfirmRequest
    from console.journal.events import Event
    from console.runbook.match import AlertValue
    from console.runbook.model import Block, Runbook, Step, VarSpec
    from console.telemetry.alerts import Alert
    from console.telemetry.state import TelemetryState
    from console.tui.widgets import (
        BlocksList,
        OutputLog,
        PanelsStrip,
        PanelsView,
        ResultsTable,
        StepsList,
    )
    from console.workspace import Workspace

PROSE_DELAY_S = 0.06  # how long the highlight rests on a step before its text is drawn
OUTPUT_REDRAW_S = 0.2  # while output keeps arriving, the output pane is redrawn this often


@dataclass(frozen=True)
class Opening:
    """A console to open after its first frame: what it opens (said on that frame), the
    config in force (its theme is the first frame's), and how to build the workspace."""

    what: str
    loaded: LoadedConfig
    build: Callable[[], Awaitable[Workspace]]


@dataclass(frozen=True)
class Ended:
    """How a console run ended: its workspace and farewell line, or the error that kept the
    workspace from being built (nothing was started; the caller says why)."""

    workspace: Workspace | None
    farewell: str | None
    opening_error: ConsoleError | None = None


W = TypeVar("W", bound=Widget)


class _Pane(Generic[W]):
    """A pane of the app's screen by its id, typed, without importing its class (the app's
    module stays light enough to paint a first frame before the widgets are imported)."""

    def __init__(self, selector: str) -> None:
        self.selector = selector

    def __get__(self, app: App[str], owner: type | None = None) -> W:
        return cast(W, app.query_one(self.selector))


def _console_commands() -> type[Provider]:
    """The console's palette commands, imported when the palette first opens."""
    from console.tui.palette import ConsoleCommands

    return ConsoleCommands


class ConsoleApp(App[str]):
    """The console for one incident or drill."""

    CSS_PATH = "console.tcss"
    TITLE = "incident-console"
    COMMANDS = App.COMMANDS | {_console_commands}
    # Under 120 columns the panels become a strip above the steps (console.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-compact"), (120, "-wide")]
    # Under 40 rows the step's prose gives way to its blocks and results.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help"),
        Binding("r", "run_block", "Run", id="run-block"),
        Binding("escape", "focus_steps", "Steps", show=False, id="focus-steps"),
        Binding("ctrl+x", "cancel_block", "Cancel", id="cancel-block"),
        Binding("j", "jump_required", "Jump to required", show=False, id="jump-required"),
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

    def __init__(self, start: Workspace | Opening) -> None:
        super().__init__()
        self.opening = start if isinstance(start, Opening) else None
        self._open = self.opening is None  # the workspace is built, its panes shown
        self.opening_error: Exception | None = None  # the workspace could not be built
        self._loaded = start.loaded
        self._quit_asked = False  # quit while opening: quit as soon as it is open
        self.telemetry: TelemetryState | None = None
        self.step: Step | None = None
        self._quitting = False
        self._block_task: asyncio.Task[object] | None = None
        self._prose_timer: Timer | None = None
        self._output_timer: Timer | None = None
        self._output_waiting = False
        self._output_shown: Text | None = None
        self._table_rows: tuple[int, tuple[str, ...]] | None = None  # what the table shows
        self._theme_ready = False  # set once mounted: later changes are the engineer's choice
        self.theme_problems = start_themes(self, self._loaded.config.theme, self._theme_key())
        if self.opening is None:
            self._use(cast("Workspace", start))
        else:  # until the workspace's own: the same rules, from the config in force
            from console.journal.redact import session_redactor

            self.redactor = session_redactor(self._loaded.config)
            self._what = self.shown(self.opening.what, one_line=True)  # never markup either

    @property
    def is_open(self) -> bool:
        """Whether the workspace is built and the console shows it (not the opening frame)."""
        return self._open

    @property
    def built(self) -> Workspace | None:
        """The workspace once it is built (None while opening, or when it could not be)."""
        return self.ws if self.opening is None else None

    def _use(self, workspace: Workspace) -> None:
        """Make ``workspace`` the one this console shows."""
        self.ws = workspace
        self._unsubscribe = workspace.incident.sink.subscribe(self._on_event)
        self.redactor = workspace.incident.redactor

    def _theme_key(self) -> str:
        """Where ``theme:`` is set, for messages: ``console.yaml:12``, or the default."""
        loaded = self._loaded
        if loaded.path is None or "theme" not in loaded.config.model_fields_set:
            return "theme (default)"
        return f"{loaded.path}:{loaded.lines.line_for(('theme',))}"

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """The console's own theme variables for themes that leave them out."""
        return console_variable_defaults(self.current_theme)

    def watch_theme(self, name: str) -> None:
        if self._theme_ready:
            try:
                save_theme(name, self._loaded.config.theme)
            except OSError as exc:
                self.notify(f"could not save the theme: {exc}", severity="warning", markup=False)

    @while_running
    def _on_theme_changed(self, _theme: Theme) -> None:
        """Text the widgets built holds colours: build it again in the new theme's."""
        timeline = self._timeline
        timeline.clear()
        for line in self._history():
            timeline.write(line)
        self._panels_view.show(self.telemetry)
        self._panels_strip.show(self.telemetry)
        self._refresh_runbook()
        self._status()

    def shown(self, text: str | None, *, one_line: bool = False) -> str:
        """Outside text for the screen: the session's redaction, controls as pictures."""
        return shown(self.redactor, text, one_line=one_line)

    def _on_event(self, event: Event) -> None:
        self.post_message(EventRecorded(event))

    def _on_telemetry(self, state: TelemetryState) -> None:
        self.post_message(TelemetryUpdated(state))

    # -- layout ------------------------------------------------------------------------------

    # The panes, found by id: their classes are imported once the console is open.
    _steps_list: _Pane[StepsList] = _Pane("#steps")
    _blocks_list: _Pane[BlocksList] = _Pane("#blocks")
    _panels_view: _Pane[PanelsView] = _Pane("#panels")
    _panels_strip: _Pane[PanelsStrip] = _Pane("#strip")
    _results_table: _Pane[ResultsTable] = _Pane("#results")
    _output_log: _Pane[OutputLog] = _Pane("#output")
    _timeline: _Pane[RichLog] = _Pane("#timeline")

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        if self.opening is not None:
            yield Static(f"Opening {self._what}…", id="opening", markup=False)
            yield StatusBar(id="status")
            yield ConsoleFooter()
            return
        from textual import widgets as textual

        from console.tui import widgets

        with Horizontal(id="body"):
            yield widgets.PanelsStrip(self.redactor, id="strip")
            with VerticalScroll(id="left"):
                yield widgets.PanelsView(self.redactor, id="panels")
            with Vertical(id="center"):
                yield widgets.StepsList(self.redactor, id="steps")
                with VerticalScroll(id="prose"):
                    yield textual.Markdown(id="step-text")
                yield widgets.BlocksList(self.redactor, id="blocks")
            with Vertical(id="right"):
                yield widgets.ResultsTable(self.redactor, id="results")
                yield widgets.OutputLog(id="output", wrap=True, markup=False)
        yield textual.RichLog(id="timeline", wrap=False, markup=False, max_lines=2000)
        yield StatusBar(id="status")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        for problem in self.theme_problems:
            self.notify(self.shown(problem), title="Theme", severity="warning", markup=False)
        if self.opening is None:
            self._start()
            return
        self.sub_title = f"opening {self._what}"  # the header shows it as plain text
        self.call_after_refresh(self.run_worker, self._open_console(self.opening), name="opening")

    async def _open_console(self, opening: Opening) -> None:
        """Build the workspace once the first frame is out, then show it. An error ends the
        console; ``run_app`` returns it (the user's files) or raises it once the screen is
        gone. A quit asked meanwhile is held until the console is open (the log exists)."""
        try:
            workspace = await opening.build()
        except Exception as exc:
            self.opening_error = exc
            self.exit()
            return
        self._use(workspace)
        self.opening = None  # composed from now on: the console's panes
        if not self._quit_asked:  # asked while it was built: nothing to show or start
            await self.recompose()
        if self._quit_asked:  # (or while the screen filled in) the log exists: quit as usual
            await self._quit()
            return
        self._start()
        freeze_built()  # the workspace and the modules imported for it stay: collections skip them
        self._open = True
        self.refresh_bindings()  # the footer and palette offer every key from now on

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the console opens or quits, only quitting works (its panes and workspace are
        not there yet, or no longer)."""
        return (self.is_open and not self._quitting) or action in (
            "quit",
            "quit_console",
            "help_quit",
        )

    def _start(self) -> None:
        """Fill the screen from the workspace and start its engines."""
        state = self.ws.incident.state
        mode = "DRILL" if state.mode == "drill" else "LIVE"
        self.title = f"{mode} · {self.shown(state.title, one_line=True)}"
        self.sub_title = (
            f"{self.shown(state.incident, one_line=True)} · profile {self.ws.config.profile}"
        )
        timeline = self._timeline
        for line in self._history():
            timeline.write(line)
        self._panels_view.show(None)
        self._panels_strip.show(None)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._theme_ready = True
        if self.ws.poller is not None:
            self.ws.poller.subscribe(self._on_telemetry)
            self.run_worker(self.ws.poller.run(), name="telemetry", group="engines")
        if self.ws.drill is not None:
            self.run_worker(self.ws.drill.run(), name="drill", group="engines")
            self.run_worker(self._facilitator_channel(), name="channel", group="engines")
        if self.ws.runbook is not None:
            self.open_runbook(self.ws.runbook)
            self.call_after_refresh(self._read_library)
        else:
            self.call_later(self.action_open_runbook)
        for warning in self.ws.incident.warnings:
            self.notify(self.shown(warning), title="Incident log", severity="warning", markup=False)
        self._status()
        self.set_interval(1.0, self._tick)

    @while_running
    def _tick(self) -> None:
        """Once a second: the drill clock moves, and so do the countdowns of retried checks."""
        if self.ws.drill is not None:
            self._status()
        if self.ws.session is not None and self.ws.session.retrying:
            self._refresh_runbook()

    async def _facilitator_channel(self) -> None:
        """Let a facilitator attach from another terminal (``drill --facilitator``)."""
        from console.drill.control import ControlError, ControlServer

        if self.ws.drill is None or self.ws.scenario is None:
            return
        try:
            await ControlServer(self.ws.drill, self.ws.scenario, self.ws.incident).run()
        except (ControlError, OSError) as exc:  # the drill goes on without a facilitator
            self.notify(self.shown(f"no facilitator channel: {exc}"), markup=False)

    def _history(self) -> list[Text]:
        """The timeline so far, as folded while it was written (the log is not read again)."""
        return [self._line(e) for e in self.ws.incident.sink.timeline]

    # -- engine reports ----------------------------------------------------------------------

    @while_running
    def on_event_recorded(self, message: EventRecorded) -> None:
        from console.incident import QUIET_TYPES
        from console.journal.events import DrillInject
        from console.report.timeline import describe

        event = message.event
        if event.type not in QUIET_TYPES:
            self._timeline.write(self._line(event))
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
        if event.type in ("block.output", "output.truncated"):
            self._output_arrived()  # output changes no mark; the event count goes with it
            return
        if event.type.startswith(("block.", "node.", "step.", "action.")):
            self._refresh_runbook()
        self._status()

    @while_running
    def on_telemetry_updated(self, message: TelemetryUpdated) -> None:
        self.telemetry = message.state
        self._panels_view.show(message.state)
        self._panels_strip.show(message.state)

    def _line(self, event: Event) -> Text:
        from console.report.timeline import describe

        text = Text()
        text.append(event.ts[11:19] + " ", style="dim")
        tones = tones_for(self)
        style = (
            tones.state("lost")
            if event.type in ("journal.fault", "source.down")
            else (
                tones.style("timeline-alert") if event.type.startswith(("alert.", "drill.")) else ""
            )
        )
        text.append(self.shown(describe(event), one_line=True), style=style)
        return text

    def _status(self) -> None:
        """The status bar; when narrow it keeps JOURNAL FAULT, the drill clock, head, events."""
        state = self.ws.incident.state
        tones = tones_for(self)
        segments: list[Segment] = []
        if self.ws.incident.faults:
            fault = tones.style("journal-fault", bold=True, background=True)
            segments.append(Segment(" JOURNAL FAULT: writes are being retried ", fault, 0))
        if self.ws.drill is not None:
            clock = self.ws.drill.clock
            paused = " PAUSED" if clock.paused else ""
            drill = tones.style("drill-clock", bold=True)
            segments.append(Segment(f"DRILL T+{clock.elapsed():.0f}s{paused}", drill, 1))
        segments.append(Segment(f" head {state.head[:12]} ", "reverse", 2))
        segments.append(Segment(f"{state.events} events", "", 3))
        path = self.ws.incident.path
        where = self.shown(path.name, one_line=True) if path else "in memory"
        segments.append(Segment(where, "dim", 5))
        if self.ws.drill is not None:
            segments.append(Segment(f"speed {self.ws.drill.clock.speed:g}x", "", 4))
        self.query_one(StatusBar).show(segments)

    # -- runbook -----------------------------------------------------------------------------

    @work(exclusive=True, group="runbook")
    async def open_runbook(self, runbook: Runbook) -> None:
        """Make ``runbook`` the one being worked."""
        await self.ws.open_runbook(runbook, confirm=self._confirm, prompt=self._prompt)
        incident = self.ws.incident.state.incident
        self.sub_title = self.shown(f"{incident} · {runbook.title}", one_line=True)
        self.step = None
        steps = self._steps_list
        steps.focus()  # before the lists fill: a key pressed meanwhile keeps its pane
        await steps.load(runbook.steps)
        if runbook.steps:
            await self._show_step(runbook.steps[0])
        self._refresh_runbook()

    @property
    def block(self) -> Block | None:
        """The selected block: the one highlighted (``▶``) in the block list, which ``r`` runs."""
        return self._blocks_list.selected

    def _refresh_runbook(self) -> None:
        """Redraw marks, statuses and the selected block's results from the state."""
        if self.ws.runbook is None:
            return
        state = self.ws.incident.state
        waiting = self.ws.session.retrying if self.ws.session is not None else {}
        self._steps_list.show(state, waiting)
        self._blocks_list.show(state, waiting, time.time())
        self._show_block()

    async def _show_step(self, step: Step, select: str | None = None) -> None:
        """Show ``step`` with its first block (or ``select``) selected."""
        from console.sanitize import visible
        from console.tui.widgets import step_markdown

        self.step = step
        self._show_prose(visible(step_markdown(step)))
        blocks = self._blocks_list
        await blocks.load(step.blocks, select)
        if self.step is step:
            self._refresh_runbook()

    def _show_prose(self, text: str) -> None:
        """The step's text, once the highlight rests: Markdown is the costliest widget to draw,
        so moving through the steps repaints the list at once and the text when it stops."""
        if self._prose_timer is not None:
            self._prose_timer.stop()
        markdown = cast("Markdown", self.query_one("#step-text"))
        self._prose_timer = self.set_timer(PROSE_DELAY_S, partial(markdown.update, text))

    @while_running
    def _output_arrived(self) -> None:
        """New output: redraw the pane and the status bar at once after a quiet spell, then at
        most every ``OUTPUT_REDRAW_S`` while it keeps coming. Redrawn per chunk, three
        streaming nodes had the pane re-wrapped hundreds of times a second and keys waited
        seconds."""
        if self._output_timer is not None:
            self._output_waiting = True
            return
        self._show_block(output_only=True)
        self._status()
        self._output_timer = self.set_timer(OUTPUT_REDRAW_S, self._output_window_ended)

    def _output_window_ended(self) -> None:
        self._output_timer = None
        if self._output_waiting:
            self._output_waiting = False
            self._output_arrived()

    def _show_block(self, *, output_only: bool = False) -> None:
        """The selected block's results and output; ``output_only`` when only output came
        (it changes no node's row, and refilling the table costs the screen a layout)."""
        from console.tui.widgets import block_status, last_run, output_text, refusal_text

        block = self.block
        state = self.ws.incident.state
        table = self._results_table
        status, reason = block_status(state, block.id) if block else ("not run", "")
        if block is not None and status in ("refused", "declined"):
            if not output_only:
                table.show(None)
                self._table_rows = None
            self._show_output(
                refusal_text(reason, self._required_first(block), self.redactor, tones_for(self))
            )
            return
        run = last_run(state, block.id) if block else None
        session = self.ws.session
        waiting = session.retrying.get(block.id) if block and session else None
        rows = (id(run), tuple(run.nodes) if run else ())
        if not output_only or rows != self._table_rows:  # a node's first output adds its row
            table.show(run, waiting, time.time())
            self._table_rows = rows
        self._show_output(output_text(run, self.redactor, tones=tones_for(self)))

    def _show_output(self, text: Text) -> None:
        """Put ``text`` in the output pane, unless it is there already (wrapping it again is
        the costliest thing the screen does while output streams)."""
        if text == self._output_shown:
            return
        self._output_log.replace(text)
        self._output_shown = text

    def _required_first(self, block: Block) -> list[tuple[str, Step | None]]:
        """The checks ``block`` still needs to pass, each with its step."""
        runbook, session = self.ws.runbook, self.ws.session
        if runbook is None or session is None or not block.is_action:
            return []
        out: list[tuple[str, Step | None]] = []
        for check in session.unmet_requires(block):
            found = runbook.block(check)
            out.append((check, runbook.step(str(found.step)) if found else None))
        return out

    async def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        runbook = self.ws.runbook
        if runbook is None or event.item is None:
            return
        if event.list_view.id == "steps":
            step = runbook.step(event.item.name or "")
            if step is not None and step is not self.step:
                await self._show_step(step)
        elif event.list_view.id == "blocks":
            self._show_block()

    async def on_list_view_selected(self, event: ListView.Selected) -> None:
        if event.list_view.id == "steps" and self.step is not None:
            await self._enter_step(self.step)
            blocks = self._blocks_list
            blocks.index = 0 if blocks.blocks else None  # entering a step selects its first block
            blocks.focus()
        elif event.list_view.id == "blocks":
            self.action_run_block()

    async def _enter_step(self, step: Step) -> None:
        from console.journal.events import StepEntered

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
            step = session.runbook.step(str(block.step))
            if step is not None and step.slug not in self.ws.incident.state.steps:
                await self._enter_step(step)
            if await session.refuse_unmet(block) is not None:
                return  # the results pane says why and what to run first, before any prompt
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
        except Exception as exc:  # a runbook or target problem: journal it, show it, keep going
            await self.ws.incident.record_error(f"block {block.id}", exc)
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
        self._steps_list.focus()

    async def action_jump_required(self) -> None:
        """Go to the first check the selected action still needs to pass."""
        block, runbook = self.block, self.ws.runbook
        first = self._required_first(block) if block is not None else []
        if runbook is None or not first:
            self.notify("the selected block needs nothing run first")
            return
        check, step = first[0]
        if step is None:
            self.notify(self.shown(f"{check} is not in this runbook"), markup=False)
            return
        await self._show_step(step, select=check)
        self._steps_list.index = runbook.steps.index(step)
        self._blocks_list.focus()

    def action_cancel_block(self) -> None:
        if self._block_task is not None and not self._block_task.done():
            self._block_task.cancel()
        else:
            self.notify("nothing is running")

    @work
    async def action_skip_step(self) -> None:
        from console.journal.events import StepSkipped
        from console.tui.screens import TextScreen

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
        from console.journal.events import Note
        from console.tui.screens import TextScreen

        text = await self.push_screen_wait(TextScreen("Note for the incident log"))
        if text:
            await self.ws.incident.sink.emit(Note(text=text))

    async def action_milestone(self, name: str) -> None:
        from console.journal.events import MilestoneSet
        from console.report.milestones import marked_text

        try:
            await self.ws.incident.sink.emit(MilestoneSet(name=name))
        except Exception as exc:  # an ordering the journal refuses
            self.notify(
                self.shown(str(exc)), title="milestone refused", severity="error", markup=False
            )
            return
        self.notify(self.shown(marked_text(self.ws.incident.state, name)), markup=False)

    async def action_snapshot(self) -> None:
        await self._snapshot("manual")

    @work
    async def action_open_runbook(self) -> None:
        from console.tui.screens import RunbookPicker

        choices = self.ranked_runbooks()
        runbook = await self.push_screen_wait(RunbookPicker(choices, self.redactor))
        if runbook is not None:
            self.open_runbook(runbook)

    def _read_library(self) -> None:
        """Parse the rest of the library once the first frame is out, off the screen's thread,
        so the picker and the palette open at once (a library is parsed when first used)."""
        self.run_worker(lambda: self.ws.library.runbooks, thread=True, name="library")

    def ranked_runbooks(self) -> list[tuple[Runbook, str]]:
        """The library, runbooks answering firing alerts first, each with why it is offered."""
        from console.runbook.match import rank_runbooks

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
        from console.tui.screens import TextScreen

        summary = await self.push_screen_wait(
            TextScreen("Close the incident: one-line summary (Escape to keep it open)")
        )
        if summary is None:
            return
        await self._stop_engines()
        head = await self.ws.incident.close(summary)
        self.exit(f"closed; head hash {head}")

    async def action_quit_console(self) -> None:
        """Stop the engines, suspend the incident and say what can be done with its log."""
        if not self._open:  # its log is being started: quit once it is, as usual
            if not self._quit_asked:
                self._quit_asked = True
                self.notify(f"quitting once {self._what} is open", markup=False)
            return
        await self._quit()

    async def _quit(self) -> None:
        """Quit now (the workspace exists): from then on only quitting keys work."""
        if self._quitting:
            return
        self._quitting = True
        self.refresh_bindings()
        await self._stop_engines()
        await self.ws.incident.suspend("console quit")
        self.exit(self._farewell())

    async def action_quit(self) -> None:
        """Quit from anywhere (the palette's Quit, ctrl+q) takes the same path as ``q``."""
        await self.action_quit_console()

    def _farewell(self) -> str:
        """The line printed after the screen: how to carry on with (or use) the log."""
        path = self.ws.incident.path
        if path is None:
            return "console stopped (the log was in memory only)"
        if self.ws.incident.state.mode == "drill":
            return (
                f"console stopped; the drill's log is kept. Review it with: incident-console "
                f"review {path} · export it with: incident-console export {path} --format md"
            )
        return (
            f"console stopped; the incident stays open. Resume with: incident-console resume {path}"
        )

    async def jump_to(self, step: Step, block: Block | None = None) -> None:
        """Show ``step`` and, if given, select ``block`` in it, as moving there by keys would."""
        runbook = self.ws.runbook
        if runbook is None or step not in runbook.steps:
            return
        self._steps_list.index = runbook.steps.index(step)
        selected = block.id if block is not None and block in step.blocks else None
        await self._show_step(step, selected)
        if selected is None:
            self._steps_list.focus()
        else:
            self._blocks_list.focus()

    @work(group="silence")
    async def silence_alert(self, alert: Alert, minutes: int) -> None:
        """Silence ``alert`` (all its labels) in Alertmanager for ``minutes``; asks why first."""
        from console.journal.log import default_actor
        from console.tui.palette import NO_SILENCES
        from console.tui.screens import TextScreen

        silences = self.ws.poller.silences if self.ws.poller is not None else None
        name = self.shown(alert.alertname, one_line=True)
        if silences is None:
            self.notify(
                NO_SILENCES,
                title=f"cannot silence {name}",
                severity="error",
                markup=False,
            )
            return
        comment = await self.push_screen_wait(
            TextScreen(f"Silence {name} for {minutes} minutes: why?")
        )
        if not comment:
            return
        actor = self.ws.config.actor or default_actor()
        try:
            silence = await silences.create(
                alert, duration=minutes * 60, created_by=actor, comment=comment
            )
        except ConsoleError as exc:  # Alertmanager down or refusing, or no labels to match
            self.notify(
                self.shown(str(exc)), title=f"cannot silence {name}", severity="error", markup=False
            )
            return
        self.notify(self.shown(f"silence {silence.id}: {name} for {minutes} minutes"), markup=False)

    @work(group="export")
    async def export_postmortem(self, fmt: str) -> None:
        """Write the postmortem of this incident's log beside it, as ``export`` would."""
        from console.journal.reader import LogUnreadable
        from console.report.export import export_beside

        log = self.ws.incident.path
        if log is None:
            self.notify("nothing to export: this incident has no log", severity="warning")
            return
        state = self.ws.incident.state
        integrity = (
            f"written from the console with the incident {'closed' if state.closed else 'open'} "
            f"at head {state.head[:12]}; run `incident-console verify {log.name}`"
        )
        try:
            path = await asyncio.to_thread(
                export_beside, log, fmt, integrity=integrity, redactor=self.redactor
            )
        except (OSError, LogUnreadable) as exc:
            self.notify(self.shown(str(exc)), title="export failed", severity="error", markup=False)
            return
        self.notify(self.shown(f"wrote {path}"), title="postmortem", markup=False)

    async def action_help(self) -> None:
        from console.tui.screens import HelpScreen, help_sections

        await self.push_screen(HelpScreen(help_sections(self)))

    async def _stop_engines(self) -> None:
        if self._block_task is not None and not self._block_task.done():
            self._block_task.cancel()
        self.workers.cancel_group(self, "engines")
        self._unsubscribe()
        await self.ws.aclose()

    # -- callbacks the session calls (from the block worker) ---------------------------------

    async def _confirm(self, request: ConfirmRequest) -> ConfirmAnswer:
        from console.tui.screens import ConfirmScreen

        return await self.push_screen_wait(ConfirmScreen(request, self.redactor))

    async def _prompt(self, name: str, spec: VarSpec, problem: str | None) -> str | None:
        from console.tui.screens import PromptScreen

        filled = self._alert_values().get(name)
        screen = PromptScreen(name, spec, problem, self.redactor, filled=filled)
        return await self.push_screen_wait(screen)

    def _alert_values(self) -> dict[str, AlertValue]:
        """Variables pre-filled from the labels of firing alerts (as journalled) that the
        current runbook answers; alerts nobody has silenced first."""
        from console.runbook.match import values_from_alerts

        if self.ws.runbook is None:
            return {}
        firing = sorted(
            (a.firing.data for a in self.ws.incident.state.firing), key=lambda a: a.silenced
        )
        return values_from_alerts(self.ws.runbook, firing)


async def run_app(start: Workspace | Opening) -> Ended:
    """Run the console until the engineer quits or closes.

    It runs on the running loop, which must be the one the workspace is (or will be) built on.
    An error that stopped the console is journalled, the log ended in a drill, and the error
    raised here, after the screen is gone.
    """
    from console.errors import ConsoleError

    app = ConsoleApp(start)
    with screen_collector():
        farewell = await app.run_async()
    if isinstance(app.opening_error, ConsoleError):
        return Ended(None, None, app.opening_error)
    if app.opening_error is not None:
        raise app.opening_error  # not the user's files: a fault, with its own traceback
    workspace = app.built
    crash = app._exception  # Textual keeps an unhandled error here; run_async returns anyway
    if crash is not None:
        if workspace is not None:  # its cause goes in the log, which a drill ends
            await _journal_crash(workspace, crash)
        raise crash
    return Ended(workspace, farewell)


async def _journal_crash(workspace: Workspace, crash: BaseException) -> None:
    """Journal what stopped the console and end its log (closed in a drill, else suspended);
    a log that cannot take it any more (already ended) is noted on the error, not raised
    in its place."""
    try:
        drill = workspace.scenario is not None
        await workspace.incident.stop_on_error("the console", crash, close=drill)
    except Exception as exc:
        crash.add_note(f"the incident log could not record it: {exc}")
    try:
        await workspace.aclose()
    except Exception as exc:
        crash.add_note(f"its connections did not close cleanly: {exc}")
