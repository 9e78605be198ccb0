"""Secrets are redacted on every path that shows output, as they are in the journal.

``run`` printed a check's output (text and ``--json``) unredacted although the log held it
redacted; the console's panels show live telemetry that never passes the journal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result
from textual.app import App, ComposeResult

from console.cli import cli
from console.config import Config
from console.journal.redact import REDACTED
from console.telemetry.alerts import Alert
from console.telemetry.state import TelemetryState
from console.tui.widgets import PanelsView
from tests.execute.conftest import fence

SECRETS = ("hunter2", "abc.def", "u:p@")
LEAKY = "echo password=hunter2; echo 'Authorization: Bearer abc.def'; echo https://u:p@127.0.0.1/"


def leaky_runbook(tmp_path: Path, config_text: str = "profile: dev\n") -> tuple[Path, Path]:
    runbook = tmp_path / "leaky.md"
    runbook.write_text(
        "---\nid: leaky\n---\n# Leaky\n\n## 1. Look\n\nLook.\n\n"
        + fence("look", LEAKY, on_="local")
    )
    config = tmp_path / "console.yaml"
    config.write_text(config_text + f"journal: {{dir: {tmp_path / 'inc'}}}\n")
    return runbook, config


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["run", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_run_text_output_is_redacted(tmp_path: Path) -> None:
    runbook, config = leaky_runbook(tmp_path)
    result = run(str(runbook), "--config", str(config))
    assert result.exit_code == 0, result.output
    for secret in SECRETS:
        assert secret not in result.output
    assert f"password={REDACTED}" in result.stdout
    assert f"https://u:{REDACTED}@127.0.0.1/" in result.stdout


def test_run_json_output_is_redacted_and_still_parses(tmp_path: Path) -> None:
    runbook, config = leaky_runbook(tmp_path)
    result = run(str(runbook), "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    stdout = out["steps"][0]["blocks"][0]["nodes"][0]["stdout"]
    assert f"password={REDACTED}" in stdout
    for secret in SECRETS:
        assert secret not in result.stdout


def test_run_applies_the_configured_redaction_regexes_too(tmp_path: Path) -> None:
    runbook, config = leaky_runbook(tmp_path, "profile: dev\nredact: ['127\\.0\\.0\\.1']\n")
    for args in ((), ("--json",), ("--no-journal",)):
        result = run(str(runbook), "--config", str(config), *args)
        assert result.exit_code == 0, result.output
        assert "127.0.0.1" not in result.stdout.replace(str(tmp_path), "")


class PanelsHarness(App[None]):
    def __init__(self, view: PanelsView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield self.view


async def test_console_panels_redact_live_alert_labels() -> None:
    """Telemetry reaches the panels without passing the journal: the panel redacts it."""
    from console.journal.redact import session_redactor

    config = Config.model_validate({"redact": ["s3cr3t-[a-z]+"]})
    alert = Alert(
        fingerprint="f",
        labels={
            "alertname": "Leak",
            "dsn": "postgres://app:pw0rd@127.0.0.1/db",
            "job": "s3cr3t-abc\x1b[2J",
        },
        state="active",
    )
    state = TelemetryState(
        at=0.0,
        wall=datetime.now(UTC),
        panels=(),
        alerts=(alert,),
        alerts_error=None,
        alert_source="alertmanager",
        sources=(),
        polls=1,
    )
    view = PanelsView(session_redactor(config))
    async with PanelsHarness(view).run_test() as pilot:
        view.show(state)
        await pilot.pause()
        shown = str(view.render())
    assert "Leak" in shown
    assert "pw0rd" not in shown and "s3cr3t-abc" not in shown
    assert "\x1b" not in shown and "␛[2J" in shown
