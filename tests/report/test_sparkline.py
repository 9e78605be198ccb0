"""One sparkline for status, the TUI and the Markdown postmortem; NaN and Infinity are skipped."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.journal.events import MetricSnapshot, PanelValue
from console.sparkline import sparkline
from console.telemetry.present import panel_sparkline
from tests.journal.conftest import new_log, run, write_events

NAN, INF = math.nan, math.inf


def test_a_value_that_is_not_finite_is_skipped() -> None:
    assert sparkline([1.0, NAN, 2.0, INF, 3.0, -INF]) == sparkline([1.0, 2.0, 3.0])
    assert sparkline([NAN, INF]) == ""


def test_status_draws_the_last_points_with_the_same_line() -> None:
    history = [float(i % 7) for i in range(50)] + [NAN]
    panel = PanelValue(title="lag", kind="lag", state="ok", history=history)
    assert panel_sparkline(panel) == sparkline(history[-21:-1])
    assert panel_sparkline(panel.model_copy(update={"kind": "quorum"})) == ""


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_export_of_a_log_with_nan_in_a_panel_history_works(tmp_path: Path, fmt: str) -> None:
    panel = PanelValue(
        title="Raft apply lag", kind="lag", state="ok", value=4.0, history=[1.0, NAN, 4.0, INF]
    )
    path = run(write_events(new_log(tmp_path), [MetricSnapshot(panels=[panel])]))
    result = CliRunner().invoke(cli, ["export", str(path), "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "md":
        assert f"Raft apply lag (lag): {sparkline([1.0, 4.0])} last 4" in result.stdout
    else:
        assert "nan" not in result.stdout.split("<h2>Metrics</h2>")[1].lower()
