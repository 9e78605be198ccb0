"""The step's text pane: what the Markdown widget is handed, and that drawing it never has
Pygments scan installed plugins for a lexer (0.4 s on the screen's loop the first time, and it
imported IPython where installed)."""

from __future__ import annotations

import re
from pathlib import Path

import pygments.lexers
import pygments.plugin
import pytest

from console.runbook.model import Step
from console.runbook.parse import parse_runbook
from console.tui.widgets import StepsList, step_markdown
from tests.tui.test_console import until
from tests.tui.test_selection import drill_console

REPO = Path(__file__).resolve().parents[2]
BUNDLED = sorted((REPO / "runbooks").glob("*.md"))
OPENING = re.compile(r"^ {0,3}(?:`{3,}|~{3,})(.*)$", re.MULTILINE)


def step(markdown: str) -> Step:
    return Step(number=2, title="Look", slug="look", markdown=markdown, file="x.md", line=1)


def test_fences_name_only_a_language_pygments_ships() -> None:
    text = step_markdown(
        step(
            "Read first.\n\n```sh check\n#| id: a\nuptime\n```\n\n"
            "~~~ PromQL check\nup\n~~~\n\n```frobnicate action\nrm -rf /\n```\n\n```\nplain\n```"
        )
    )
    assert text.startswith("## 2. Look\n\nRead first.")
    assert "#|" not in text
    assert "```sh\nuptime\n```" in text
    assert "~~~promql\nup\n~~~" in text
    assert "```\nrm -rf /\n```" in text  # no lexer for it: a plain fence, the text kept
    assert "```\nplain\n```" in text


@pytest.mark.parametrize("file", BUNDLED, ids=[f.name for f in BUNDLED])
def test_every_bundled_step_names_a_shipped_lexer_or_none(
    file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runbook, problems = parse_runbook(file.read_text(encoding="utf-8"), file)
    assert runbook is not None, problems
    scanned: list[str] = []
    monkeypatch.setattr(
        pygments.plugin, "iter_entry_points", lambda group: scanned.append(group) or []
    )
    for each in runbook.steps:
        for info in OPENING.findall(step_markdown(each)):
            if info.strip():
                pygments.lexers.get_lexer_by_name(info.strip())  # raises when it has none
    assert scanned == []


async def test_moving_through_the_steps_never_scans_for_plugin_lexers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned: list[str] = []
    monkeypatch.setattr(
        pygments.plugin, "iter_entry_points", lambda group: scanned.append(group) or []
    )
    async with drill_console(tmp_path) as (app, pilot):
        runbook = app.ws.runbook
        assert runbook is not None and len(runbook.steps) > 2
        steps = app.query_one(StepsList)
        for number in range(1, len(runbook.steps) + 1):
            await until(pilot, lambda n=number: app.step is not None and app.step.number == n)
            await pilot.pause(0.2)  # the text is drawn once the highlight rests
            if number < len(runbook.steps):
                steps.focus()
                await pilot.press("down", "enter")
    assert scanned == []
