"""Themes: the files in themes/ load, a bad one says where, the choice is kept, and no widget
hard-codes a colour. Also what stays on screen when the terminal is narrow."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.style import Style
from textual.color import Color
from textual.widgets import Footer, Header
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast

from console.config import load_config
from console.errors import ProblemList
from console.tui.app import ConsoleApp
from console.tui.bars import Segment, StatusBar, fit_segments
from console.tui.themes import (
    BUNDLED_THEMES,
    CONSOLE_VARIABLES,
    VERDICT_TONE,
    load_theme_file,
    load_themes,
    saved_theme_path,
)
from console.tui.widgets import VERDICT_SYMBOL
from console.workspace import drill_workspace
from tests.tui.test_console import until

REPO = Path(__file__).resolve().parents[2]
THEMES = REPO / "themes"
TUI = REPO / "console" / "tui"


def test_every_theme_in_themes_loads_and_sets_every_console_colour() -> None:
    problems = ProblemList()
    themes = load_themes(THEMES, problems)
    assert not problems, [str(p) for p in problems]
    names = {t.name for t in themes}
    assert {"console-dark", "console-light", "console-high-contrast"} <= names
    assert len(themes) == len(list(THEMES.glob("*.yaml")))
    for theme in themes:
        assert set(CONSOLE_VARIABLES) <= set(theme.variables), theme.name
    light = next(t for t in themes if t.name == "console-light")
    assert not light.dark


def test_the_installed_copy_is_the_top_level_folder() -> None:
    """An installed console finds the same themes (console/data/themes is themes/)."""
    packaged = sorted(p.name for p in BUNDLED_THEMES.glob("*.yaml"))
    assert packaged == sorted(p.name for p in THEMES.glob("*.yaml"))
    for name in packaged:
        assert (BUNDLED_THEMES / name).read_bytes() == (THEMES / name).read_bytes()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ('primary: "#3B82F6"', 'primary: "#3B82FZ"'),
        ("  verdict-pass:", "  verdict-passs:"),
        ("dark: true", "dakr: true"),
    ],
    ids=["bad colour", "unknown variable", "unknown key"],
)
def test_a_bad_theme_file_names_its_line_and_key(
    tmp_path: Path, change: str, expected: str
) -> None:
    text = (THEMES / "console-dark.yaml").read_text()
    assert change in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(change, expected))
    line = text.splitlines().index(next(x for x in text.splitlines() if change in x)) + 1
    problems = ProblemList()
    assert load_theme_file(bad, problems) is None
    messages = [str(p) for p in problems]
    assert any(m.startswith(f"{bad}:{line}: ") for m in messages), messages
    key = expected.split(":")[0].strip()
    assert any(f"[{key}]" in m or f"[variables.{key}]" in m for m in messages), messages
    if "verdict" in key:
        assert any("did you mean 'verdict-pass'" in m for m in messages), messages


def test_a_hostile_theme_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- just\n- a list\n")
    (tmp_path / "binary.yaml").write_bytes(b"name: \x00\x01\n")
    (tmp_path / "folder.yaml").mkdir()
    problems = ProblemList()
    assert load_themes(tmp_path, problems) == []
    assert {Path(p.file).name for p in problems} == {"list.yaml", "binary.yaml", "folder.yaml"}


# -- no hard-coded colours -------------------------------------------------------------------

COLOUR = re.compile(
    r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b|\brgba?\(|\bhsl\(|\bcolor\(\d"
    r"|\b(red|green|yellow|blue|magenta|cyan|white|black|purple|orange|grey|gray|pink)\b",
    re.IGNORECASE,
)


def colours_in_python(source: str) -> list[str]:
    """Colour-looking string constants in ``source`` (docstrings are prose, not styles)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and COLOUR.search(node.value)
    ]


def colours_in_tcss(source: str) -> list[str]:
    """Declarations in a stylesheet that name a colour instead of a ``$variable``."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return [d for d in re.findall(r"[\w-]+\s*:[^;{}]+", source) if COLOUR.search(d.split(":")[1])]


def test_the_colour_scan_finds_what_it_looks_for() -> None:
    assert colours_in_python('STYLE = "bold red"\nX = Text("x", style="#ff0000")\n') == [
        "bold red",
        "#ff0000",
    ]
    assert colours_in_python('"""A red banner."""\nDIM = "dim"\n') == []
    assert colours_in_tcss("#a { color: red; }\n#b { border: round $primary; }") == ["color: red"]


def test_no_console_widget_hard_codes_a_colour() -> None:
    """Colours come from the theme: tui/themes.py maps names to theme variables only."""
    found = {}
    for path in sorted(TUI.glob("*.py")):
        if path.name == "themes.py":  # the loader's messages show how to write a colour
            continue
        if hits := colours_in_python(path.read_text()):
            found[path.name] = hits
    for path in sorted(TUI.glob("*.tcss")):
        if hits := colours_in_tcss(path.read_text()):
            found[path.name] = hits
    assert not found


def test_every_verdict_has_a_symbol_of_its_own() -> None:
    verdicts = [*VERDICT_TONE, "not run", "skipped"]
    symbols = {VERDICT_SYMBOL[v] for v in verdicts if v not in ("declined", "cancelled")}
    assert all(VERDICT_SYMBOL.get(v) for v in verdicts)
    assert len(symbols) == len(verdicts) - 2  # declined and cancelled share ⊘ (both stopped)


# -- the console with a theme ----------------------------------------------------------------


@pytest.fixture
async def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    """A user config folder of the test's own, so no real choice is read or written."""
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    yield folder


async def console_with(tmp_path: Path, config_text: str) -> ConsoleApp:
    path = tmp_path / "console.yaml"
    path.write_text(f"runbooks: []\nchecks: []\n{config_text}")
    ws = await drill_workspace(load_config(path), None, journal=tmp_path / "journal")
    return ConsoleApp(ws)


def rich_colour(value: str) -> object:
    return Color.parse(value).rich_color


def drill_clock_colour(app: ConsoleApp) -> object:
    """The colour the status bar gives the drill clock."""
    status = app.query_one(StatusBar).render()
    clock = next(s for s in status.spans if status.plain[s.start : s.end].startswith("DRILL"))
    assert isinstance(clock.style, Style)
    return clock.style.color


async def test_theme_in_the_config_colours_the_console(tmp_path: Path, user_config: Path) -> None:
    app = await console_with(tmp_path, "theme: console-light\n")
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "console-light"
        assert app.theme_variables["verdict-pass"] == "#1A7F37"
        assert drill_clock_colour(app) == rich_colour("#9A6700")
        await pilot.press("q")


async def test_an_unknown_theme_is_named_at_its_line_and_the_console_starts(
    tmp_path: Path, user_config: Path
) -> None:
    app = await console_with(tmp_path, "theme: solarised\n")
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "console-dark"
        messages = [n.message for n in app._notifications]
        expected = f"{tmp_path / 'console.yaml'}:3: unknown theme 'solarised'"
        assert any(m.startswith(expected) and m.endswith("[theme]") for m in messages), messages
        await pilot.press("q")


async def test_a_theme_picked_in_the_palette_is_kept_until_the_config_changes(
    tmp_path: Path, user_config: Path
) -> None:
    app = await console_with(tmp_path, "theme: console-dark\n")
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.press("ctrl+p", *"theme")
        await pilot.pause(0.5)
        await pilot.press("enter")  # Textual's "Change theme"
        await pilot.pause(0.5)
        await pilot.press(*"high-contrast")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.theme == "console-high-contrast"
        await pilot.pause(0.3)
        assert drill_clock_colour(app) == rich_colour("#FFFF00")  # the text was built again
        await pilot.press("q")
    saved = saved_theme_path()
    assert saved.is_relative_to(user_config) and "console-high-contrast" in saved.read_text()

    again = await console_with(tmp_path, "theme: console-dark\n")
    async with again.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        assert again.theme == "console-high-contrast"  # the palette's choice came back
        await pilot.press("q")
    changed = await console_with(tmp_path, "theme: console-light\n")
    async with changed.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        assert changed.theme == "console-light"  # theme: changed since: the config wins
        await pilot.press("q")


# -- narrow terminals ------------------------------------------------------------------------


def test_the_status_bar_keeps_fault_clock_head_and_count_longest() -> None:
    segments = [
        Segment(" JOURNAL FAULT: writes are being retried ", "", 0),
        Segment("DRILL T+65s", "", 1),
        Segment(" head 0123456789ab ", "", 2),
        Segment("42 events", "", 3),
        Segment("INC-20260115T031200Z-a-very-long-incident-name.jsonl", "", 5),
        Segment("speed 2x", "", 4),
    ]
    wide = fit_segments(segments, 200).plain
    assert "jsonl" in wide and "speed 2x" in wide
    narrow = fit_segments(segments, 80).plain
    assert narrow == " JOURNAL FAULT: writes are being retried  DRILL T+65s  head 0123456789ab "
    assert fit_segments(segments, 40).plain.startswith(" JOURNAL FAULT")
    order = [" JOURNAL", "DRILL", "head", "events"]
    middle = fit_segments(segments, 95).plain
    assert [middle.index(word) for word in order] == sorted(middle.index(w) for w in order)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (119, 40)])
async def test_under_120_columns_the_panels_are_a_strip_and_close_and_quit_stay(
    tmp_path: Path, user_config: Path, size: tuple[int, int]
) -> None:
    app = await console_with(tmp_path, "")
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        assert app.screen.has_class("-compact")
        assert not app.query_one("#left").display
        strip = app.query_one("#strip")
        assert strip.display and strip.region.width >= size[0] - 2
        center, right = app.query_one("#center").region, app.query_one("#right").region
        assert right.y >= center.bottom  # results and output below the steps
        assert app.query_one("#blocks").region.height >= 2  # the blocks `r` runs are visible
        footer = app.query_one(Footer)

        def shown_keys() -> set[str]:
            return {k.action for k in footer.query(FooterKey) if k.region.right <= size[0]}

        # The footer is composed again when the focus moves (the runbook opening): wait for it.
        await until(pilot, lambda: {"quit_console", "close_incident"} <= shown_keys())
        status = app.query_one(StatusBar).render().plain
        assert status.startswith("DRILL T+") and "head" in status and "events" in status
        assert app.query_one(Header).region.width == size[0]
        await pilot.press("q")


async def test_from_120_columns_the_panels_are_a_column(tmp_path: Path, user_config: Path) -> None:
    app = await console_with(tmp_path, "")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert app.screen.has_class("-wide")
        assert app.query_one("#left").display and not app.query_one("#strip").display
        assert app.query_one("#left").region.width >= 36
        await pilot.press("q")


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (130, 40), (200, 50)])
async def test_toasts_never_cover_the_results(
    tmp_path: Path, user_config: Path, size: tuple[int, int]
) -> None:
    """A refusal says why in the results pane: a toast must not sit on top of it."""
    app = await console_with(tmp_path, "")
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause(0.3)
        for index in range(3):
            app.notify(f"toast {index}", timeout=30)
        await pilot.pause(0.5)
        toasts = list(app.screen.query(Toast))
        assert len(toasts) == 3
        results = app.query_one("#results").region  # where the refusal is said
        assert results.height and all(not t.region.overlaps(results) for t in toasts)
        await pilot.press("q")


async def test_a_broken_saved_choice_is_a_warning_and_the_config_theme_runs(
    tmp_path: Path, user_config: Path
) -> None:
    saved = saved_theme_path()
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"theme: [\x1b]52;c;aGk=\x07\n")  # bad YAML with a terminal escape in it
    app = await console_with(tmp_path, "theme: console-light\n")
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "console-light"
        messages = [n.message for n in app._notifications]
        assert any(m.startswith(f"{saved}:1: ") for m in messages), messages
        assert not any("\x1b" in m for m in messages)
        await pilot.press("q")
