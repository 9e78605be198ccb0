"""`resume`: a live incident run headless first is carried on in the console."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli
from console.config import load_config
from console.incident import Incident
from console.tui.app import ConsoleApp
from console.workspace import live_workspace

RUNBOOK = """---
id: local-check
title: Local check
nodes: local
---
# Local check

## 1. Look

```sh check
#| id: look
#| expect: {stdout: hello}
echo hello
```
"""


async def open_and_suspend(cfg: Path, path: Path) -> Path:
    incident = await Incident.open(load_config(cfg), "disk latency on m3", journal=path)
    await incident.suspend("hand-over")
    assert incident.path is not None
    return incident.path


async def work_in_the_console(cfg: Path, log: Path) -> None:
    ws = await live_workspace(load_config(cfg), title="", resume=log)
    assert ws.incident.state.resumes  # incident.resumed recorded
    ws.runbook = ws.library.by_id("local-check")
    app = ConsoleApp(ws)
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.pause(0.5)
        passed = [r for r in ws.incident.state.runs.values() if r.status == "pass"]
        assert len(passed) == 1  # the run before the resume is in the state
        await pilot.press("enter", "r")
        for _ in range(100):
            if len([r for r in ws.incident.state.runs.values() if r.status == "pass"]) == 2:
                break
            await pilot.pause(0.05)
        assert len([r for r in ws.incident.state.runs.values() if r.status == "pass"]) == 2
        await pilot.press("q")


def test_resume_a_suspended_incident_in_the_console(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "local.md").write_text(RUNBOOK)
    cfg = tmp_path / "console.yaml"
    cfg.write_text(f"runbooks: [{tmp_path / 'runbooks'}]\njournal: {{dir: {tmp_path / 'inc'}}}\n")
    first = CliRunner().invoke(
        cli, ["run", str(tmp_path / "runbooks" / "local.md"), "--config", str(cfg), "--json"]
    )
    assert first.exit_code == 0, first.output
    log = next((tmp_path / "inc").glob("*.jsonl"))
    # a closed log cannot be resumed; an open one can
    refused = CliRunner().invoke(cli, ["resume", str(log), "--config", str(cfg)])
    assert refused.exit_code == 2 and "closed" in refused.output

    open_log = asyncio.run(open_and_suspend(cfg, tmp_path / "open.jsonl"))
    book = str(tmp_path / "runbooks" / "local.md")
    second = CliRunner().invoke(
        cli, ["run", book, "--config", str(cfg), "--journal", str(open_log)]
    )
    assert second.exit_code == 0, second.output  # appended to the open incident, left open
    asyncio.run(work_in_the_console(cfg, open_log))
    verified = CliRunner().invoke(cli, ["verify", str(open_log)])
    assert verified.exit_code == 0, verified.output
    missing = CliRunner().invoke(cli, ["resume", str(log.parent / "nope.jsonl")])
    assert missing.exit_code == 2


async def warnings_on_screen(cfg: Path, log: Path) -> list[str]:
    ws = await live_workspace(load_config(cfg), title="", resume=log)
    ws.runbook = ws.library.by_id("local-check")
    app = ConsoleApp(ws)
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.pause(0.3)
        shown = [str(n.message) for n in app._notifications]
        assert app.screen is app.screen_stack[0]  # a runbook was given: no picker opened
        await pilot.press("q")
    return shown


def test_a_log_others_can_read_is_warned_about_on_screen(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "local.md").write_text(RUNBOOK)
    cfg = tmp_path / "console.yaml"
    cfg.write_text(f"runbooks: [{tmp_path / 'runbooks'}]\n")
    log = asyncio.run(open_and_suspend(cfg, tmp_path / "open.jsonl"))
    log.chmod(0o644)
    shown = asyncio.run(warnings_on_screen(cfg, log))
    assert any(str(log) in message and "read" in message for message in shown), shown
