"""Outside text reaches the operator's screen only as visible pictures, never raw.

Node output, alert labels and log fields can carry escape sequences (OSC 52 sets the clipboard,
``ESC[2J`` clears the screen), bare CRs and bidi controls. Every surface (``run``, ``timeline``,
the Markdown and HTML exports, ``status`` and the TUI) must show them, not act on them.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text
from textual.widgets import RichLog

from console.cli import cli
from console.config import load_config
from console.incident import Incident
from console.sanitize import visible
from console.tui.app import ConsoleApp
from console.workspace import live_workspace
from tests.execute.conftest import fence
from tests.servers import wait_until
from tests.telemetry.conftest import alertmanager_server

OSC52 = "\x1b]52;c;aGVsbG8=\x1b\\"
HOSTILE = r"printf '\033]52;c;aGVsbG8=\033\\'; printf '\033[2J'; printf 'safe\rFORGED\n'; "
HOSTILE += "echo '[bold]x[/]'; printf 'a\\342\\200\\256b\\302\\233c\\n'"

# What must never reach a terminal raw: C0 but \t \n, DEL, C1, bidi controls, surrogates.
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


# -- visible ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (OSC52, "␛]52;c;aGVsbG8=␛\\"),
        ("\x1b[2J", "␛[2J"),
        ("safe\rFORGED", "safe␍FORGED"),
        ("\x00\x07\x08\x0b\x0c\x1f", "␀␇␈␋␌␟"),
        ("\x7f", "␡"),
        ("\x85\x9b31m", "⟨U+0085⟩⟨U+009B⟩31m"),
        ("a\u202eb\u2066c\u200fd\u061ce", "a⟨U+202E⟩b⟨U+2066⟩c⟨U+200F⟩d⟨U+061C⟩e"),
        ("x\ud800y", "x⟨U+D800⟩y"),
        ("tab\there\nnext", "tab\there\nnext"),
    ],
)
def test_visible_shows_every_kind_of_control(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_one_line_mode_turns_newline_and_tab_into_pictures() -> None:
    assert visible("job=etcd\nseverity=none\tx", one_line=True) == "job=etcd␤severity=none␉x"


def _is_unsafe(char: str, one_line: bool) -> bool:
    if char in "\n\t":
        return one_line
    return unicodedata.category(char) in ("Cc", "Cs") or bool(UNSAFE.match(char))


@given(st.text(), st.booleans())
def test_visible_never_lets_a_control_through(text: str, one_line: bool) -> None:
    out = visible(text, one_line=one_line)
    assert not any(_is_unsafe(c, one_line) for c in out)


@given(
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Cf"), blacklist_characters="\u2028\u2029")
    )
)
def test_clean_text_is_returned_unchanged(text: str) -> None:
    assert visible(text) == text
    assert visible(text, one_line=True) == text


# -- run, timeline, export -------------------------------------------------------------------


def hostile_runbook(tmp_path: Path) -> tuple[Path, Path]:
    """A runbook whose local check prints escape sequences, and a config journalling to tmp."""
    runbook = tmp_path / "hostile.md"
    runbook.write_text(
        "---\nid: hostile\n---\n# Hostile\n\n## 1. Look\n\nLook.\n\n"
        + fence("look", HOSTILE, on_="local")
    )
    config = tmp_path / "console.yaml"
    config.write_text(f"profile: dev\njournal: {{dir: {tmp_path / 'inc'}}}\n")
    return runbook, config


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def assert_shown_not_raw(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text and "\x9b" not in text
    assert "\u202e" not in text
    assert not UNSAFE.search(text)


def test_run_shows_escape_sequences_as_pictures(tmp_path: Path) -> None:
    runbook, config = hostile_runbook(tmp_path)
    result = invoke("run", str(runbook), "--config", str(config))
    assert result.exit_code == 0, result.output
    assert_shown_not_raw(result.stdout)
    assert "␛]52;c;aGVsbG8=" in result.stdout
    assert "␛[2J" in result.stdout
    assert "safe␍FORGED" in result.stdout
    assert "[bold]x[/]" in result.stdout
    assert "a⟨U+202E⟩b⟨U+009B⟩c" in result.stdout


def test_timeline_and_exports_of_the_log_hold_no_raw_escape(tmp_path: Path) -> None:
    runbook, config = hostile_runbook(tmp_path)
    assert invoke("run", str(runbook), "--config", str(config)).exit_code == 0
    log = next((tmp_path / "inc").glob("*.jsonl"))
    assert "\\u001b]52" in log.read_text()  # the log keeps what the node sent
    timeline = invoke("timeline", str(log))
    assert timeline.exit_code == 0, timeline.output
    assert_shown_not_raw(timeline.stdout)
    assert "␛]52;c;aGVsbG8=" in timeline.stdout and "safe␍FORGED" in timeline.stdout
    for fmt in ("md", "html"):
        out = tmp_path / f"pm.{fmt}"
        exported = invoke("export", str(log), "--format", fmt, "-o", str(out))
        assert exported.exit_code == 0, exported.output
        text = out.read_text(encoding="utf-8")
        assert_shown_not_raw(text)
        assert "␛]52;c;aGVsbG8=" in text
        printed = invoke("export", str(log), "--format", fmt)
        assert_shown_not_raw(printed.stdout)


# -- status ----------------------------------------------------------------------------------


@pytest.mark.prometheus
def test_status_shows_a_hostile_alert_on_one_line(tmp_path: Path) -> None:
    am = alertmanager_server(tmp_path)
    am.start()
    try:
        alert = {
            "labels": {
                "alertname": "Evil",
                "severity": "critical",
                "instance": "m1\x1b]52;c;aGk=\x07\nfake=line",
            },
            "annotations": {"summary": "disk \x1b[2J full\r\n  severity: none"},
        }
        httpx.post(f"{am.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
        wait_until(
            lambda: bool(httpx.get(f"{am.url}/api/v2/alerts", timeout=2).json()), 10, "the alert"
        )
        config = tmp_path / "console.yaml"
        config.write_text(f"alertmanager: {{url: {am.url}}}\n")
        result = invoke("status", "--config", str(config))
    finally:
        am.stop()
    assert result.exit_code == 1, result.output
    assert_shown_not_raw(result.stdout)
    (line,) = [x for x in result.stdout.splitlines() if "Evil" in x]
    assert "instance=m1␛]52;c;aGk=␇␤fake=line" in line
    assert not any(x.startswith("fake=") for x in result.stdout.splitlines())
    assert "␛[2J" in result.stdout


# -- the TUI ---------------------------------------------------------------------------------


def rendered(log: RichLog) -> str:
    return "\n".join("".join(seg.text for seg in strip) for strip in log.lines)


async def resume_and_read(config: Path, log: Path) -> tuple[str, str]:
    ws = await live_workspace(load_config(config), title="", resume=log)
    ws.runbook = ws.library.by_id("hostile")
    app = ConsoleApp(ws)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.5)
        output = rendered(app.query_one("#output", RichLog))
        timeline = rendered(app.query_one("#timeline", RichLog))
        await pilot.press("q")
    return output, timeline


def test_console_shows_resumed_hostile_output_as_pictures(tmp_path: Path) -> None:
    runbook, config = hostile_runbook(tmp_path)
    config.write_text(config.read_text() + f"runbooks: [{tmp_path}]\n")

    async def open_log() -> Path:
        incident = await Incident.open(load_config(config), "hostile [link=x]", journal=tmp_path)
        await incident.suspend("hand-over")
        assert incident.path is not None
        return incident.path

    log = asyncio.run(open_log())
    ran = invoke("run", str(runbook), "--config", str(config), "--journal", str(log))
    assert ran.exit_code == 0, ran.output
    output, timeline = asyncio.run(resume_and_read(config, log))
    assert_shown_not_raw(output)
    assert "␛]52;c;aGVsbG8=" in output and "safe␍FORGED" in output
    assert "[bold]x[/]" in output  # shown literally, not read as markup
    assert_shown_not_raw(timeline)


def test_shown_text_is_never_markup() -> None:
    from console.journal.redact import Redactor
    from console.tui.text import shown

    text = Text(shown(Redactor(), "[link=https://127.0.0.1/]click[/link]\x1b[31m"))
    assert text.plain == "[link=https://127.0.0.1/]click[/link]␛[31m"
