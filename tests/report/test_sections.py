"""The Markdown and HTML postmortems of one log carry the same sections in the same order."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from console.journal.events import Note
from console.journal.reader import read_log
from console.report.html import to_html
from console.report.markdown import to_markdown
from console.report.postmortem import Postmortem, build_postmortem
from console.report.sections import SECTIONS
from tests.journal.conftest import EXAMPLE_LOG, new_log, run, write_events
from tests.journal.example import write_example


def _postmortem(path: Path) -> Postmortem:
    return build_postmortem(read_log(path).events, log_name=path.name)


def _example(tmp_path: Path) -> Path:
    return EXAMPLE_LOG


def _drill(tmp_path: Path) -> Path:
    path: Path = run(write_example(tmp_path, mode="drill"))
    return path


def _bare(tmp_path: Path) -> Path:
    """A log with no alert, block or metric: every section still appears, saying so."""
    path: Path = run(write_events(new_log(tmp_path), [Note(text="looked, found nothing")]))
    return path


def _md_headings(text: str, level: str) -> list[str]:
    return re.findall(rf"^{level} (.+)$", text, re.M)


def _html_headings(page: str, tag: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(rf"<{tag}>(.*?)</{tag}>", page)]


@pytest.mark.parametrize("make_log", [_example, _drill, _bare], ids=["example", "drill", "bare"])
def test_markdown_and_html_carry_the_same_sections_in_order(
    make_log: Callable[[Path], Path], tmp_path: Path
) -> None:
    pm = _postmortem(make_log(tmp_path))
    markdown, page = to_markdown(pm), to_html(pm)
    sections = [s.heading(pm) for s in SECTIONS]
    assert _md_headings(markdown, "##") == sections
    assert _html_headings(page, "h2") == sections


def test_drill_figures_have_their_own_heading_in_both(tmp_path: Path) -> None:
    pm = _postmortem(_drill(tmp_path))
    assert "Drill figures" in _md_headings(to_markdown(pm), "##")
    assert "Drill figures" in _html_headings(to_html(pm), "h2")
    assert "Figures" not in _html_headings(to_html(pm), "h2")


def test_the_lessons_to_fill_in_are_the_same_in_both() -> None:
    pm = _postmortem(EXAMPLE_LOG)
    lessons = next(s for s in SECTIONS if s.subsections).subsections
    md_h3 = [h for h in _md_headings(to_markdown(pm), "###") if h in lessons]
    html_h3 = [h for h in _html_headings(to_html(pm), "h3") if h in lessons]
    assert md_h3 == html_h3 == list(lessons)
