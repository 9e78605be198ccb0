"""One presenter decides what a panel shows; ``status`` and the TUI only lay it out."""

from __future__ import annotations

from console.journal.events import PanelValue
from console.journal.redact import Redactor
from console.telemetry.present import present_panel
from console.telemetry.render import _panel_lines
from console.tui.widgets import panel_text


def stale_panel(detail: str = "") -> PanelValue:
    return PanelValue(
        title="etcd\x1b[2Jquorum", kind="quorum", state="healthy", stale=True, age_s=190,
        detail=detail, error="timed out",
    )  # fmt: skip


def test_a_stale_panel_without_a_value_says_no_value_on_both_surfaces() -> None:
    panel = stale_panel()
    view = present_panel(panel)
    assert (view.label, view.tone, view.detail) == ("STALE 3m10s", "stale", "no value")
    status = "\n".join(_panel_lines(panel, 28))
    tui = panel_text(panel, Redactor()).plain
    for text in (status, tui):
        assert "STALE 3m10s" in text and "no value" in text and "! timed out" in text
        assert "\x1b" not in text and "etcd␛[2Jquorum" in text


def test_a_stale_panel_keeps_its_last_value_marked_on_both_surfaces() -> None:
    panel = stale_panel("3/3 up, need 2")
    assert present_panel(panel).detail == "last: 3/3 up, need 2"
    assert "last: 3/3 up, need 2" in "\n".join(_panel_lines(panel, 28))
    assert "last: 3/3 up, need 2" in panel_text(panel, Redactor()).plain


def test_a_live_panel_shows_its_state_detail_and_trend() -> None:
    panel = PanelValue(
        title="backlog", kind="backlog", state="warn", value=120, history=[1, 2, 3, 4],
        detail="120, +2/s growing",
    )  # fmt: skip
    view = present_panel(panel)
    assert (view.label, view.tone, view.error) == ("warn", "warn", "")
    assert view.trend and view.trend in panel_text(panel, Redactor()).plain
    line = _panel_lines(panel, 10)[0]
    assert line.startswith("backlog     warn        120, +2/s growing  ") and view.trend in line
