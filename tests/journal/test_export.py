"""Export: golden Markdown and JSON of the example incident, the HTML page, drills, excerpts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.journal.events import (
    BlockFinished,
    BlockOutput,
    BlockStarted,
    MetricSnapshot,
    MilestoneSet,
    NodeResult,
    Note,
    PanelValue,
)
from console.journal.reader import read_log
from console.report.html import to_html
from console.report.markdown import to_markdown
from console.report.postmortem import build_postmortem
from tests.journal.conftest import EXAMPLE_LOG, GOLDEN, new_log, run, write_events
from tests.journal.example import START, write_example

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def check_golden(path: Path, text: str) -> None:
    """Compare with the stored file; UPDATE_GOLDEN=1 rewrites it instead."""
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, (
        f"{path.name} differs from the export; if the change is intended, regenerate with "
        "UPDATE_GOLDEN=1 pytest tests/journal/test_export.py"
    )


@pytest.fixture(autouse=True)
def _away_from_runbooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drift is checked against runbooks/ relative to the cwd: keep the repo's out of it."""
    monkeypatch.chdir(tmp_path)


def export(fmt: str, log: Path = EXAMPLE_LOG) -> str:
    result = CliRunner().invoke(cli, ["export", str(log), "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_example_log_is_what_the_writer_writes(tmp_path: Path) -> None:
    written = run(write_example(tmp_path))
    check_golden(EXAMPLE_LOG, written.read_text(encoding="utf-8"))


def test_markdown_golden() -> None:
    check_golden(GOLDEN / "example.md", export("md"))


def test_json_golden() -> None:
    check_golden(GOLDEN / "example.json", export("json"))


def test_sample_postmortem_in_docs_is_current() -> None:
    check_golden(DOCS / "sample-postmortem.md", export("md"))


def test_markdown_has_the_sre_sections_in_order() -> None:
    text = export("md")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == [
        "Summary",
        "Impact",
        "Root causes",
        "Trigger",
        "Detection",
        "Resolution",
        "Figures",
        "Action items",
        "Lessons learned",
        "Timeline",
        "Actions and checks",
        "Notes",
        "Metrics",
        "Supporting information",
    ]


def test_figures_come_from_the_corrected_impact_start() -> None:
    figures = json.loads(export("json"))["figures"]
    assert figures["impact_started"] == "2026-11-22 10:08:01Z"
    values = {f["name"]: f["seconds"] for f in figures["figures"]}
    # impact 10:08:01.25 (corrected); the alert was first seen at 10:12:01.75 (derived
    # detected); acknowledged at 10:12:30.35; the alert ended at 10:15:21.25 (derived resolved)
    assert values["TTD"] == pytest.approx(240.5)
    assert values["TTA"] == pytest.approx(269.1)
    assert values["TTR"] == pytest.approx(440.0)


def test_long_output_is_cut_with_a_pointer_to_the_log() -> None:
    doc = json.loads(export("json"))
    journal = next(b for b in doc["blocks"] if b["block"] == "member-journal")
    excerpt = journal["results"][0]["output"][0]
    assert not excerpt["complete"] and excerpt["total_lines"] == 34
    assert len(excerpt["text"].splitlines()) == 20
    assert "showing 20 of 34 line(s)" in export("md")
    assert f"full text in log seq {excerpt['first_seq']}" in export("md")


def test_secrets_in_commands_are_not_in_the_postmortem() -> None:
    for fmt in ("md", "html", "json"):
        text = export(fmt)
        assert "Tr0ub4dor" not in text
        assert "root:[REDACTED]" in text


def test_html_is_self_contained_escaped_and_has_sparklines() -> None:
    page = export("html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert page.count('<svg class="spark"') == 3
    assert "&lt;see below&gt;" in page and "<see below>" not in page


def test_html_escapes_everything_from_the_log(tmp_path: Path) -> None:
    nasty = '<script>alert("x")</script> & <img src=x onerror=1>'
    log = new_log(tmp_path)
    path = run(
        write_events(
            log,
            [
                Note(text=nasty),
                BlockStarted(
                    run="r", block="b", kind="check", lang="sh", command=nasty, nodes=["<n>"]
                ),
                BlockOutput(run="r", block="b", node="<n>", stream="stdout", text=nasty),
                NodeResult(run="r", block="b", node="<n>", verdict="pass", reason=nasty),
                BlockFinished(run="r", block="b", verdict="pass"),
            ],
        )
    )
    page = to_html(build_postmortem(read_log(path).events, log_name=nasty))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page


def test_drill_logs_are_labelled_and_keep_figures_apart(tmp_path: Path) -> None:
    path = run(write_example(tmp_path, mode="drill"))
    doc = json.loads(export("json", path))
    assert doc["drill"] is True and doc["mode"] == "drill"
    assert doc["figures"] is None and doc["drill_figures"]["figures"]
    text = export("md", path)
    assert text.startswith("# DRILL — Postmortem: etcd member down")
    assert "## Drill figures" in text and "## Figures" not in text
    assert "DRILL" in export("html", path)


def test_indeterminate_is_never_shown_as_pass_or_fail(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    path = run(
        write_events(
            log,
            [
                BlockStarted(
                    run="r", block="restart", kind="check", lang="sh", command="x", nodes=["m1"]
                ),
                NodeResult(
                    run="r", block="restart", node="m1", verdict="indeterminate", reason="timed out"
                ),
                BlockFinished(run="r", block="restart", verdict="indeterminate"),
            ],
        )
    )
    text = to_markdown(build_postmortem(read_log(path).events, log_name="x.jsonl"))
    assert "INDETERMINATE (may or may not have taken effect)" in text
    assert "| m1 | pass" not in text and "| m1 | FAIL" not in text


def test_negative_orderings_refuse_the_figures(tmp_path: Path) -> None:
    # The writer refuses such orderings; a log from elsewhere may still hold one.
    from console.journal.events import Event
    from console.journal.sink import seal

    events: list[Event] = []
    for name, minutes in (("impact_started", 10), ("detected", 5)):
        payload = MilestoneSet(name=name, at=START.replace(minute=minutes))  # type: ignore[arg-type]
        events.append(
            seal(payload, seq=len(events), prev="0" * 64, incident="I", actor="a", mode="live")
        )
    pm = build_postmortem(events, log_name="x.jsonl")
    assert pm.figures is not None and pm.figures.refused
    assert all(f.seconds is None for f in pm.figures.figures)
    assert "Figures refused" in to_markdown(pm)


def test_metric_sparklines_follow_the_snapshots(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    path = run(
        write_events(
            log,
            [
                MetricSnapshot(panels=[PanelValue(title="q", kind="quorum", state="ok", value=v)])
                for v in (3, 2, 2, 3)
            ],
        )
    )
    pm = build_postmortem(read_log(path).events, log_name="x.jsonl")
    assert pm.metrics[0].values == [3, 2, 2, 3]
    assert "█▁▁█" in to_markdown(pm)


def test_export_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "pm.html"
    result = CliRunner().invoke(
        cli, ["export", str(EXAMPLE_LOG), "--format", "html", "-o", str(out)]
    )
    assert result.exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
