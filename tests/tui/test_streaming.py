"""Output streaming into the console: the output pane keeps up without redrawing per chunk.

The figures (three nodes, 10,000 lines a second, a minute) are ``tests/bench/stream.py``'s;
these tests pin the behaviour that makes them possible, on the bundled drill.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rich.text import Text
from textual.css.query import NoMatches

from console.incident import IncidentSink
from console.journal.events import BlockOutput, BlockStarted, NodeResult
from console.runbook.model import Block
from console.tui import app as app_module
from console.tui.app import ConsoleApp
from console.tui.messages import EventRecorded, TelemetryUpdated
from console.tui.widgets import OutputLog, ResultsTable
from tests.tui.test_console import until
from tests.tui.test_selection import drill_console, output

LINE = "x" * 79 + "\n"


def count_redraws(app: ConsoleApp) -> list[str]:
    """The texts the output pane is given from now on, in order."""
    pane = app.query_one("#output", OutputLog)
    drawn: list[str] = []
    real_replace = pane.replace

    def replace(text: Text) -> None:
        drawn.append(str(text))
        real_replace(text)

    pane.replace = replace  # type: ignore[method-assign]
    return drawn


async def start_run(sink: IncidentSink, run: str, block: Block, command: str) -> None:
    """Journal ``block.started`` for ``block`` on m1, as the runner would."""
    await sink.emit(
        BlockStarted(
            run=run, block=block.id, kind=block.kind, lang=block.lang, command=command, nodes=["m1"]
        )
    )


async def test_a_burst_of_output_is_drawn_a_few_times_and_ends_exact(tmp_path: Path) -> None:
    async with drill_console(tmp_path) as (app, pilot):
        block = app.block
        assert block is not None
        sink = app.ws.incident.sink
        drawn = count_redraws(app)
        await start_run(sink, "burst", block, "tail -f app.log")
        began = time.monotonic()
        chunks = 400
        for number in range(chunks):
            await sink.emit(
                BlockOutput(run="burst", block=block.id, node="m1", stream="stdout", text=LINE)
            )
            if number % 50 == 0:
                await pilot.pause()  # let the screen take its messages meanwhile
        took = time.monotonic() - began
        total = chunks * len(LINE)
        more = f"… {total - 4000} more characters in the log"
        await until(pilot, lambda: more in output(app))
        windows = (time.monotonic() - began) / app_module.OUTPUT_REDRAW_S
        assert len(drawn) <= windows + 2, (len(drawn), took)  # per chunk it was 400 redraws
        assert drawn[-1].count(LINE) == 4000 // len(LINE)  # the head: its first 4000 characters
        await sink.emit(NodeResult(run="burst", block=block.id, node="m1", verdict="pass", exit=0))
        header = "── m1 "
        await until(
            pilot,
            lambda: any(h.startswith(header) and "pass" in h for h in output(app).split("\n")),
        )


async def test_output_for_another_block_leaves_the_pane_alone(tmp_path: Path) -> None:
    async with drill_console(tmp_path) as (app, pilot):
        block = app.block
        assert block is not None
        others = [b for b in app.ws.runbook.blocks() if b.id != block.id] if app.ws.runbook else []
        other = others[0]
        drawn = count_redraws(app)
        sink = app.ws.incident.sink
        await start_run(sink, "elsewhere", other, "true")
        await pilot.pause()
        drawn.clear()
        for _ in range(50):
            await sink.emit(
                BlockOutput(run="elsewhere", block=other.id, node="m1", stream="stdout", text=LINE)
            )
        await pilot.pause(app_module.OUTPUT_REDRAW_S * 3)
        assert drawn == []  # the selected block's pane did not change: it is not wrapped again


async def test_a_streaming_node_gets_its_running_row_with_its_first_output(
    tmp_path: Path,
) -> None:
    """Output redraws leave the results table alone, except when a node's first output adds
    it to the run: a long check shows its nodes as running while they stream."""
    async with drill_console(tmp_path) as (app, pilot):
        block = app.block
        assert block is not None
        sink = app.ws.incident.sink
        await start_run(sink, "rows", block, "tail -f app.log")
        table = app.query_one(ResultsTable)
        await pilot.pause()
        assert table.row_count == 0  # block.started names no node's record yet
        for _ in range(3):
            await sink.emit(
                BlockOutput(run="rows", block=block.id, node="m1", stream="stdout", text=LINE)
            )
        await until(pilot, lambda: table.row_count == 1)
        row = [str(cell) for cell in table.get_row("m1")]
        assert row[0] == "m1" and "running" in row[1]


async def test_reports_that_land_while_the_console_stops_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quitting while output streams and telemetry polls: the screens go before the app's own
    messages and timers end, so an output redraw still owed, a telemetry poll, a journalled
    event or the clock's tick can land with the panes gone. Each is dropped, instead of ending
    the console with an error on its way out (seen on a loaded machine)."""
    async with drill_console(tmp_path) as (app, pilot):
        block = app.block
        assert block is not None
        sink = app.ws.incident.sink
        await until(pilot, lambda: app.telemetry is not None)
        await start_run(sink, "late", block, "tail -f app.log")
        await sink.emit(
            BlockOutput(run="late", block=block.id, node="m1", stream="stdout", text=LINE)
        )
        await until(pilot, lambda: "x" * 20 in output(app))  # drawn; its window may be open
        telemetry, event = app.telemetry, sink.timeline[-1]
        assert telemetry is not None

        def panes_gone(*_args: object, **_kwargs: object) -> None:  # fault: as while stopping
            raise NoMatches("No nodes match 'PanelsView'")

        with monkeypatch.context() as stopping:
            stopping.setattr(ConsoleApp, "is_running", property(lambda _app: False))
            stopping.setattr(app, "query_one", panes_gone)
            app._output_waiting = True  # more output came in the window: a redraw is owed
            app._output_window_ended()  # and comes due
            app.on_telemetry_updated(TelemetryUpdated(telemetry))
            app.on_event_recorded(EventRecorded(event))
            app._tick()
        assert app._output_timer is None and not app._output_waiting
        await pilot.pause()
    assert app._exception is None
