"""Events are folded as they are written: opening an incident never reads its log back, and
resuming reads it once (the screen's state and timeline come from that one pass)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot
from textual.widgets import RichLog

from console.cli import cli
from console.journal import reader
from console.journal.fold import fold
from console.journal.reader import read_log
from console.tui.app import ConsoleApp
from tests.tui.conftest import Autopilot
from tests.tui.test_console import until
from tests.tui.test_resume import RUNBOOK

QUIET = ("block.output", "metric.snapshot")  # not listed on the timeline


@pytest.fixture
def log_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the journal reader opens, in order (a spy on the reader's ``open``)."""
    opened: list[Path] = []

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(Path(path).resolve())
        return open(path, *args, **kwargs)

    monkeypatch.setattr(reader, "open", spy, raising=False)
    return opened


def test_open_reads_nothing_back_and_resume_reads_the_log_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    log_reads: list[Path],
    drive_console: Callable[[Autopilot], None],
) -> None:
    monkeypatch.delenv("INCIDENT_LOG_KEY", raising=False)
    (tmp_path / "runbooks").mkdir()
    book = tmp_path / "runbooks" / "local.md"
    book.write_text(RUNBOOK)
    cfg = tmp_path / "console.yaml"
    cfg.write_text(
        f"runbooks: [{tmp_path / 'runbooks'}]\nchecks: []\njournal: {{dir: {tmp_path}}}\n"
    )
    seen: dict[str, Any] = {}

    async def work_and_quit(pilot: Pilot[str]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await until(pilot, lambda: app.ws.session is not None)
        session = app.ws.session
        assert session is not None
        block = session.runbook.block("look")
        assert block is not None
        await session.run_block(block)
        state = app.ws.incident.state
        listed = app.query_one("#timeline", RichLog)
        shown = len([e for e in read_log(app.ws.incident.path or "").events if e.type not in QUIET])
        await until(pilot, lambda: len(listed.lines) == shown)  # the history, then what came
        seen.update(reads=list(log_reads[:-1]), state=state)  # (not this test's own read)
        await app.action_quit_console()

    drive_console(work_and_quit)
    opened = CliRunner().invoke(cli, ["open", str(book), "--config", str(cfg)])
    assert opened.exit_code == 0, opened.output
    assert seen["reads"] == [], "opening an incident read its log back"
    log = next(tmp_path.glob("INC-*.jsonl")).resolve()
    log_reads.clear()

    resumed = CliRunner().invoke(cli, ["resume", str(log), "--config", str(cfg)])
    assert resumed.exit_code == 0, resumed.output
    assert seen["reads"] == [log], "resume reads the log once"
    # what was folded on the way is what the log holds
    written = read_log(log).events
    state, again = seen["state"], fold(written)
    assert (state.head, state.events, state.problems) == (again.head, again.events, [])
    assert [r.status for r in state.runs.values()] == ["pass", "pass"]
