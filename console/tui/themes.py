"""Themes: the files in ``themes/``, their registration, the saved choice, and their colours.

A theme file is YAML mapping to ``textual.theme.Theme`` (``name``, ``dark``, the base colours)
plus ``variables:`` for the console's own colours (``CONSOLE_VARIABLES``). Every colour on the
screen comes from the running theme: the stylesheet names ``$variables``; text a widget builds
itself takes its styles from ``tones_for(app)``. A theme that leaves a console variable out
(or one of Textual's built-in themes) gets it from the base colour named in
``CONSOLE_VARIABLES``.

Which theme runs: the one picked in the command palette (saved in the user's config folder,
``theme.yaml``), unless ``theme:`` in the config changed since that choice; then ``theme:``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from rich.style import Style
from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme

from console import DATA
from console.config import user_config_dir
from console.errors import ProblemList
from console.yamlsrc import load_yaml, read_source, validation_problems

BUNDLED_THEMES = DATA / "themes"
DEFAULT_THEME = "console-dark"
SAVED_THEME_FILE = "theme.yaml"

# The console's own theme variables, each with the base colour it falls back to.
CONSOLE_VARIABLES: dict[str, str] = {
    "verdict-pass": "success",
    "verdict-fail": "error",
    "verdict-error": "error",
    "verdict-indeterminate": "accent",
    "verdict-running": "primary",
    "verdict-stopped": "warning",  # cancelled, declined, refused, interrupted
    "state-healthy": "success",
    "state-degraded": "warning",
    "state-lost": "error",
    "state-stale": "accent",
    "focus-border": "accent",  # the border of the pane that has the keyboard
    "selected-block": "primary",  # the background of the block `r` runs
    "journal-fault": "error",  # the JOURNAL FAULT banner's background
    "drill-clock": "warning",
    "action-block": "error",  # the ⚠ action marker
    "trend": "primary",  # sparklines
    "stderr": "error",
    "notice": "accent",  # output past the cap, and other asides
    "timeline-alert": "warning",  # alert and drill lines in the timeline
}


def _colour(value: str) -> str:
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"not a colour: {value!r} (write it like #1f6feb)") from None
    return value


Colour = Annotated[str, AfterValidator(_colour)]


class ThemeFile(BaseModel):
    """One file of ``themes/``: the fields of ``textual.theme.Theme`` the console uses."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    dark: bool
    primary: Colour
    secondary: Colour
    accent: Colour
    warning: Colour
    error: Colour
    success: Colour
    background: Colour
    surface: Colour
    panel: Colour
    foreground: Colour
    variables: dict[str, Colour] = Field(default_factory=dict)

    def theme(self) -> Theme:
        """The Textual theme this file describes."""
        return Theme(**self.model_dump())


def load_theme_file(path: Path, problems: ProblemList) -> Theme | None:
    """The theme in ``path``; ``None`` once ``problems`` says why not (file:line [key])."""
    text = read_source(path, "theme", problems)
    doc = None if text is None else load_yaml(text, path, problems=problems)
    if doc is None:
        return None
    if not isinstance(doc.data, dict):
        problems.add(path, 1, "a theme must be a YAML mapping of keys", code="theme")
        return None
    try:
        model = ThemeFile.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, path, doc.lines, data=doc.data))
        return None
    known = [*CONSOLE_VARIABLES, *_textual_variables()]
    unknown = False
    for key in model.variables:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            line = doc.lines.line_for(("variables", key))
            problems.add(
                path, line, f"unknown theme variable {key!r}{hint}", key=f"variables.{key}"
            )
            unknown = True
    return None if unknown else model.theme()


def _textual_variables() -> list[str]:
    """The variables Textual's own colour system defines (a theme may set them too)."""
    return list(BUILTIN_THEMES["textual-dark"].to_color_system().generate())


def load_themes(folder: Path, problems: ProblemList) -> list[Theme]:
    """Every theme in ``folder`` (``*.yaml``, by name); a bad file is a problem, not a crash."""
    themes: dict[str, tuple[Theme, Path]] = {}
    for path in sorted(folder.glob("*.yaml")):
        theme = load_theme_file(path, problems)
        if theme is None:
            continue
        if theme.name in themes:
            first = themes[theme.name][1].name
            problems.add(path, 1, f"theme {theme.name!r} is also in {first}", key="name")
            continue
        themes[theme.name] = (theme, path)
    return [theme for theme, _ in themes.values()]


def console_variable_defaults(theme: Theme) -> dict[str, str]:
    """The console variables for ``theme``, each from its base colour (the theme may override)."""
    system = theme.to_color_system().generate()
    return {name: system[base] for name, base in CONSOLE_VARIABLES.items()}


# -- the saved choice -------------------------------------------------------------------------


@dataclass
class ThemeChoice:
    """Which theme to start with, and anything wrong on the way (shown, never fatal)."""

    name: str
    problems: list[str] = field(default_factory=list)


def saved_theme_path() -> Path:
    """Where a theme picked in the palette is kept."""
    return user_config_dir() / SAVED_THEME_FILE


def choose_theme(app: App[Any], configured: str, where: str) -> ThemeChoice:
    """The theme to start with: the saved palette choice, unless ``theme:`` changed since.

    ``where`` names the config's ``theme:`` (``console.yaml:12``) for the message when it names
    no theme the console has.
    """
    problems: list[str] = []
    name = configured
    saved = _read_saved(problems)
    if saved is not None and saved.get("config_theme") == configured:
        name = str(saved.get("theme"))
    if app.get_theme(name) is None or "," in name:
        choices = ", ".join(sorted(app.available_themes))
        problems.append(f"{where}: unknown theme {name!r}: choose one of {choices} [theme]")
        name = DEFAULT_THEME
    return ThemeChoice(name, problems)


def _read_saved(problems: list[str]) -> dict[str, Any] | None:
    path = saved_theme_path()
    if not path.exists():
        return None
    found = ProblemList()
    text = read_source(path, "saved theme", found, limit=4096)
    doc = None if text is None else load_yaml(text, path, problems=found)
    data = doc.data if doc is not None else None
    if not isinstance(data, dict) or not isinstance(data.get("theme"), str):
        problems.extend(str(p) for p in found)
        if not found:
            problems.append(f"{path}:1: not a saved theme choice; it is ignored [theme]")
        return None
    return data


def save_theme(name: str, configured: str) -> None:
    """Keep the palette's choice for the next start (one small file of its own)."""
    path = saved_theme_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({"theme": name, "config_theme": configured}, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("# the theme picked in the console's palette\n" + body)
    tmp.replace(path)


def start_themes(app: App[Any], configured: str, where: str) -> list[str]:
    """Register the console's themes with ``app`` and switch to the one to start with (see
    ``choose_theme``); the problems found, as lines for the screen."""
    problems = register_themes(app)
    choice = choose_theme(app, configured, where)
    app.theme = choice.name
    return problems + choice.problems


def register_themes(app: App[Any], folder: Path = BUNDLED_THEMES) -> list[str]:
    """Register every theme of ``folder`` with ``app``; the problems found, as lines."""
    problems = ProblemList()
    for theme in load_themes(folder, problems):
        app.register_theme(theme)
    return [str(p) for p in problems]


# -- colours for text the widgets build -------------------------------------------------------

VERDICT_TONE: dict[str, tuple[str, bool]] = {
    "pass": ("verdict-pass", False), "fail": ("verdict-fail", True),
    "error": ("verdict-error", False), "indeterminate": ("verdict-indeterminate", True),
    "running": ("verdict-running", False), "cancelled": ("verdict-stopped", False),
    "declined": ("verdict-stopped", False), "refused": ("verdict-stopped", False),
    "interrupted": ("verdict-indeterminate", False),
}  # fmt: skip
STATE_TONE: dict[str, tuple[str, bool]] = {
    "healthy": ("state-healthy", False), "ok": ("state-healthy", False),
    "degraded": ("state-degraded", False), "warn": ("state-degraded", False),
    "lost": ("state-lost", True), "crit": ("state-lost", True), "stale": ("state-stale", True),
}  # fmt: skip
MUTED = Style(dim=True)


class Tones:
    """Rich styles from a theme's variables, for the text widgets build themselves."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = variables
        self._styles: dict[tuple[str, bool, bool], Style] = {}

    def style(self, name: str, *, bold: bool = False, background: bool = False) -> Style:
        """The style of variable ``name`` (as the text colour, or the background)."""
        key = (name, bold, background)
        if key not in self._styles:
            colour = self._colour(name)
            if background and colour is not None:
                ink = Color.parse(self.variables[name]).get_contrast_text(alpha=1.0)
                self._styles[key] = Style(color=ink.rich_color, bgcolor=colour, bold=bold or None)
            else:
                self._styles[key] = Style(color=colour, bold=bold or None)
        return self._styles[key]

    def _colour(self, name: str) -> Any:
        value = self.variables.get(name)
        if value is None:
            return None
        try:
            return Color.parse(value).rich_color
        except ColorParseError:
            return None

    def verdict(self, verdict: str) -> Style:
        """A verdict's style; unknown and quiet ones (not run, skipped) are dim."""
        tone = VERDICT_TONE.get(verdict)
        return self.style(tone[0], bold=tone[1]) if tone else MUTED

    def state(self, state: str) -> Style:
        """A panel state's style (``healthy``, ``degraded``, ``lost``, ``stale``, …)."""
        tone = STATE_TONE.get(state)
        return self.style(tone[0], bold=tone[1]) if tone else MUTED


PLAIN = Tones({})
_tones: WeakKeyDictionary[App[Any], Tones] = WeakKeyDictionary()


def tones_for(app: App[Any]) -> Tones:
    """The running theme's tones (rebuilt when the theme, and so its variables, change)."""
    tones = _tones.get(app)
    if tones is None or tones.variables is not app.theme_variables:
        tones = _tones[app] = Tones(app.theme_variables)
    return tones
