"""The command palette, the runbook picker's filter, the generated help, and variables
pre-filled from a firing alert: driven with Textual's pilot.

Silences and the alert that pre-fills a variable come from a real Alertmanager
(``prometheus-alertmanager``) started on loopback by the test; alerts are posted to it
directly, as Prometheus would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from textual.app import App, ComposeResult
from textual.command import CommandList, CommandPalette
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from console.config import Config, LoadedConfig, load_config
from console.journal.reader import read_log
from console.journal.redact import REDACTED, Redactor
from console.runbook.match import AlertValue
from console.runbook.model import VarSpec
from console.tui.app import ConsoleApp
from console.tui.palette import NO_SILENCES, console_commands, minutes_in
from console.tui.screens import HelpScreen, PromptScreen, RunbookPicker, TextScreen
from console.workspace import Workspace, drill_workspace, live_workspace
from tests.servers import Server
from tests.telemetry.conftest import alertmanager_server
from tests.tui.test_console import until

RUNBOOK = """---
id: member-down
title: Member down
alerts: [etcdMembersDown]
nodes: local
vars:
  member:
    prompt: "Which member is down?"
    pattern: "^m[0-9]+$"
    label: instance
---
# Member down

## 1. Look at the member

```sh check
#| id: look
echo checking {{member}}
```
"""


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = alertmanager_server(tmp_path_factory.mktemp("am"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def fire(alertmanager: Server, **labels: str) -> None:
    """Post a firing alert to Alertmanager, as Prometheus does (it lasts an hour)."""
    now = datetime.now(UTC)
    alert = {
        "labels": labels,
        "annotations": {"summary": "a member is down"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }
    reply = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[alert], timeout=5)
    assert reply.status_code == 200, reply.text


def opened(ws: Workspace) -> str | None:
    """The id of the runbook being worked."""
    return ws.runbook.id if ws.runbook is not None else None


def live_config(tmp_path: Path, alertmanager: Server) -> Path:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "member-down.md").write_text(RUNBOOK)
    cfg = tmp_path / "console.yaml"
    cfg.write_text(
        f"runbooks: [{tmp_path / 'runbooks'}]\n"
        f"journal: {{dir: {tmp_path / 'inc'}}}\n"
        "actor: alice@bastion1\n"
        "refresh: 0.3\n"
        f"alertmanager: {{url: '{alertmanager.url}', timeout: 2s}}\n"
        "panels: [{kind: alerts}]\n"
    )
    return cfg


async def test_silence_from_the_palette_is_in_alertmanager_and_the_journal(
    tmp_path: Path, alertmanager: Server
) -> None:
    fire(alertmanager, alertname="etcdMembersDown", instance="m3", job="palette-silence")
    ws = await live_workspace(load_config(live_config(tmp_path, alertmanager)), title="m3 down")
    app = ConsoleApp(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbookPicker))
        await pilot.press("escape")
        await until(
            pilot,
            lambda: (
                any(a.labels.get("job") == "palette-silence" for a in app.telemetry.firing)
                if app.telemetry
                else False
            ),
        )
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"silence etcdmemberdown 45")
        await pilot.pause(0.5)
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await pilot.press(*"m3 is being replaced", "enter")
        await until(pilot, lambda: bool(ws.incident.state.silences))
        (created,) = ws.incident.state.silences.values()
        listed = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=2).json()
        (in_am,) = [s for s in listed if s["id"] == created.data.id]
        assert in_am["status"]["state"] == "active"
        assert (in_am["createdBy"], in_am["comment"]) == ("alice@bastion1", "m3 is being replaced")
        matchers = {(m["name"], m["value"]) for m in in_am["matchers"]}
        labels = {("alertname", "etcdMembersDown"), ("instance", "m3"), ("job", "palette-silence")}
        assert matchers == labels
        starts = datetime.fromisoformat(in_am["startsAt"])
        ends = datetime.fromisoformat(in_am["endsAt"])
        assert abs((ends - starts) - timedelta(minutes=45)) < timedelta(seconds=2)
        await pilot.press("q")
    log = ws.incident.path
    assert log is not None
    types = [e.type for e in read_log(log).events]
    assert "silence.created" in types


async def test_variable_prefilled_from_the_alert_label_and_still_validated(
    tmp_path: Path, alertmanager: Server
) -> None:
    fire(alertmanager, alertname="etcdMembersDown", instance="m7", job="palette-prefill")
    loaded = load_config(live_config(tmp_path, alertmanager))
    ws = await live_workspace(loaded, title="m7 down")
    ws.runbook = ws.library.by_id("member-down")
    state = ws.incident.state
    app = ConsoleApp(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(
            pilot, lambda: any(a.firing.data.labels.get("instance") == "m7" for a in state.firing)
        )
        await pilot.press("enter", "r")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        prompt = app.screen
        assert prompt.query_one(Input).value == "m7"
        said = str(prompt.query_one("#filled-from", Static).render())
        assert "etcdMembersDown" in said and "instance=m7" in said
        # the pattern still applies: a value typed over the alert's is refused and asked again
        await pilot.press("ctrl+u", *"node-7", "enter")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen) and app.screen != prompt)
        assert app.screen.query_one(Input).value == "m7"
        await pilot.press("enter")
        await until(pilot, lambda: any(r.status == "pass" for r in state.runs.values()))
        (run,) = state.runs.values()
        assert "m7" in run.started.data.command
        await pilot.press("q")


async def test_palette_lists_runbooks_answering_the_page_first_and_opens_one(
    tmp_path: Path,
) -> None:
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=30, journal=tmp_path)
    app = ConsoleApp(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.telemetry is not None and bool(app.telemetry.firing))
        texts = [c.text for c in console_commands(app)]
        runbooks = [t for t in texts if t.startswith("Open runbook:")]
        assert runbooks[0] == "Open runbook: etcd member down"  # answers etcdMembersDown
        helps = {c.text: c.help for c in console_commands(app)}
        assert "answers etcdMembersDown" in helps[runbooks[0]]
        assert "Go to block disk-free (check, step 2)" in texts
        assert {"Mark acknowledged", "Snapshot the panels", "Write a note"} <= set(texts)
        assert "Export the postmortem (md)" in texts
        # a drill has no Alertmanager: the silence says so, and nothing is journalled
        silences = [c for c in console_commands(app, "silence 20") if c.text.startswith("Sil")]
        assert [c.text for c in silences] == ["Silence etcdMembersDown for 20 minutes"]
        assert NO_SILENCES in silences[0].help
        silences[0].run()
        await until(pilot, lambda: any(NO_SILENCES in n.message for n in app._notifications))
        assert not ws.incident.state.silences

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"go to block disk-free")
        await pilot.pause(0.5)
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.block is not None and app.block.id == "disk-free")
        assert app.step is not None and app.step.number == 2

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"open runbook dead-letter")
        await pilot.pause(0.5)
        await pilot.press("down", "enter")
        await until(pilot, lambda: opened(ws) == "dlq-backlog-growing")

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"export the postmortem md")
        await pilot.pause(0.5)
        await pilot.press("down", "enter")
        log = ws.incident.path
        assert log is not None
        written = log.with_name(f"{log.stem}.postmortem.md")
        await until(pilot, written.exists)
        assert "etcdMembersDown" in written.read_text()
        await pilot.press("q")


@pytest.mark.parametrize("way", ["palette", "ctrl+q"])
async def test_quit_from_the_palette_or_ctrl_q_takes_the_path_of_q(
    tmp_path: Path, way: str
) -> None:
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=30, journal=tmp_path)
    app = ConsoleApp(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        if way == "palette":
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*"quit")
            await pilot.pause(0.5)
            await pilot.press("down")
            options = app.screen.query_one(CommandList)
            for _ in range(20):  # runbook titles may match "quit" too: go to the Quit command
                index = options.highlighted
                if index is not None and "Quit" in str(options.get_option_at_index(index).prompt):
                    break
                await pilot.press("down")
            await pilot.press("enter")
        else:
            await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_value is not None)
    assert app.return_value  # the console's own farewell, not Textual's bare exit
    log = ws.incident.path
    assert log is not None
    events = read_log(log).events
    assert events[-1].type == "incident.suspended"


async def test_runbook_picker_filters_as_you_type(tmp_path: Path) -> None:
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=30, journal=tmp_path)
    app = ConsoleApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, RunbookPicker))
        picker = app.screen
        assert isinstance(picker, RunbookPicker)
        assert len(picker.shown_indexes) == len(ws.library.runbooks) >= 2
        await pilot.press(*"dlq-backlog-growing")  # one runbook's id
        await until(pilot, lambda: len(picker.shown_indexes) == 1)
        assert picker.choices[picker.shown_indexes[0]][0].id == "dlq-backlog-growing"
        await pilot.press(*" zzz")
        await until(pilot, lambda: not picker.shown_indexes)
        assert "none matches" in str(picker.query_one("#picker-count", Static).render())
        await pilot.press(*["backspace"] * 4)
        await until(pilot, lambda: len(picker.shown_indexes) == 1)
        await pilot.press("enter")
        await until(pilot, lambda: opened(ws) == "dlq-backlog-growing")
        await pilot.press("q")


async def test_help_lists_every_binding_and_scrolls_at_80x24(tmp_path: Path) -> None:
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=30, journal=tmp_path)
    app = ConsoleApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        text = help_screen.text().plain
        rows = [row for _, section in help_screen.sections for row in section]
        for binding in ConsoleApp.BINDINGS:
            assert not isinstance(binding, tuple)
            key = app.get_key_display(binding)
            found = [k for k, said in rows if said == binding.description and key in k.split(", ")]
            assert found, f"{binding.key} ({binding.description}) missing from help"
            assert f"  {found[0]}" in text
        for section in ("Runbook", "Incident log", "Drill", "Moving around", "Console"):
            assert f"{section}\n" in text
        assert "palette" in text  # Textual's ctrl+p is a binding too
        scroll = help_screen.query_one("#help", VerticalScroll)
        assert scroll.max_scroll_y > 0  # it does not fit 24 lines: it scrolls
        await pilot.press("end")
        await until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("q")


def test_minutes_in_a_query() -> None:
    assert minutes_in("silence etcd 45") == 45
    assert minutes_in("silence etcd for 2h") == 120
    assert minutes_in("silence etcd 90 minutes") == 90
    assert minutes_in("silence etcd") is None
    assert minutes_in("silence etcd 0") is None
    assert minutes_in("silence etcd999999") is None


HOSTILE = """---
id: hostile
title: "[red]Red[/red] \\e]52;c;QQ==\\a"
alerts: [etcdMembersDown]
---
# Hostile

## 1. [link=http://example.invalid]click[/link]

```sh check
#| id: look
#| on: local
echo hi
```
"""


async def test_palette_shows_runbook_text_literally(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "hostile.md").write_text(HOSTILE)
    config = Config(runbooks=[tmp_path / "runbooks"], checks=[])
    ws = await drill_workspace(
        LoadedConfig(config=config, path=None, sha256=None), journal=tmp_path
    )
    hostile = ws.library.by_id("hostile")
    assert hostile is not None
    ws.runbook = hostile
    app = ConsoleApp(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"red")
        await pilot.pause(0.5)
        listed = app.screen.query_one(CommandList)
        prompts = [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]
        (line,) = [p for p in prompts if p.startswith("Open runbook: [red]Red[/red]")]
        assert "\x1b" not in line and "␛]52;" in line
        await pilot.press(*["backspace"] * 3, *"click")
        await pilot.pause(0.5)
        prompts = [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]
        assert any("[link=http://example.invalid]click[/link]" in p for p in prompts)
        await pilot.press("escape", "q")


class PromptHarness(App[None]):
    """The variable prompt alone, pre-filled from ``filled``."""

    def __init__(self, filled: AlertValue) -> None:
        super().__init__()
        self.filled = filled

    def compose(self) -> ComposeResult:
        yield Static("console")

    def on_mount(self) -> None:
        spec = VarSpec(prompt="Which member?", label="instance")
        self.push_screen(PromptScreen("member", spec, None, Redactor(), filled=self.filled))


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("m2\x1b]52;c;QQ==\x07", "instance=m2␛]52;c;QQ==␇"),  # a control: shown as a picture
        ("password=hunter2", "instance=password=" + REDACTED),  # a secret: redacted
    ],
)
async def test_a_label_value_that_cannot_show_as_itself_is_not_prefilled(
    value: str, said: str
) -> None:
    app = PromptHarness(AlertValue(value, "etcdMembersDown", "instance"))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        assert app.screen.query_one(Input).value == ""
        assert said in str(app.screen.query_one("#filled-from", Static).render())
