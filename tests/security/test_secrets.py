"""The console's own secrets (log key, source tokens) never reach a child, the log or the screen."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from console.cli import cli
from console.config import parse_config
from console.journal.reader import read_log
from console.journal.verify import verify_path
from console.secret_values import (
    MIN_LITERAL_LEN,
    read_secret_file,
    secret_env_names,
    secret_literals,
)
from tests.execute.conftest import fence

FRONT = "---\nid: secrets-test\n---\n# Secrets test\n\n## 1. Look\n\nLook around.\n\n"


def closed_port() -> int:
    """A loopback port nothing listens on, so the telemetry source fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_check(tmp_path: Path, body: str, config: str = "profile: dev\n") -> tuple[Result, Path]:
    """``incident-console run`` of one local check; the result and the incident log."""
    runbook = tmp_path / "rb.md"
    runbook.write_text(FRONT + fence("look", body, on_="local"))
    (tmp_path / "console.yaml").write_text(config)
    log = tmp_path / "incident.jsonl"
    result = CliRunner().invoke(
        cli,
        ["run", str(runbook), "--config", str(tmp_path / "console.yaml"), "--journal", str(log)],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert log.is_file(), result.output
    return result, log


@pytest.fixture
def log_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = secrets.token_hex(16)
    monkeypatch.setenv("INCIDENT_LOG_KEY", key)
    monkeypatch.setenv("CANARY_VISIBLE", "canary-seen")
    return key


def test_a_local_check_running_env_never_sees_the_log_key(tmp_path: Path, log_key: str) -> None:
    result, log = run_check(tmp_path, "env; echo ENV-LISTED")
    assert "canary-seen" in result.stdout and "ENV-LISTED" in result.stdout  # env did run
    assert "INCIDENT_LOG_KEY" not in result.stdout and log_key not in result.stdout
    raw = log.read_text()
    assert "canary-seen" in raw
    assert "INCIDENT_LOG_KEY=" not in raw and log_key not in raw
    report = verify_path(log, key=log_key.encode())  # still signed with the hidden key
    assert report.readable and not [f for f in report.findings if f.category == "integrity"]


def test_the_log_key_echoed_by_a_check_is_redacted_in_the_log(tmp_path: Path, log_key: str) -> None:
    leak = tmp_path / "leak.txt"
    leak.write_text(f"the key is {log_key} ok\n")
    _, log = run_check(tmp_path, f"cat {leak}")
    raw = log.read_text()
    assert log_key not in raw and "the key is [REDACTED] ok" in raw
    opened = read_log(log).events[0].data
    assert "literal:INCIDENT_LOG_KEY" in opened.redact_rules  # type: ignore[union-attr]


def test_the_log_key_echoed_by_a_check_is_redacted_in_run_output(
    tmp_path: Path, log_key: str
) -> None:
    leak = tmp_path / "leak.txt"
    leak.write_text(f"the key is {log_key} ok\n")
    result, _ = run_check(tmp_path, f"cat {leak}")
    assert log_key not in result.output and "the key is [REDACTED] ok" in result.output


def test_a_source_token_env_var_is_hidden_and_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("PROM_TOKEN", token)
    leak = tmp_path / "leak.txt"
    leak.write_text(f"token seen: {token} end\n")
    config = (
        f"profile: dev\nprometheus:\n  url: http://127.0.0.1:{closed_port()}\n"
        "  bearer_token_env: PROM_TOKEN\n  timeout: 0.5s\n"
    )
    result, log = run_check(tmp_path, f"env; echo ENV-LISTED; cat {leak}", config)
    assert "ENV-LISTED" in result.stdout and "PROM_TOKEN" not in result.stdout
    raw = log.read_text()
    assert token not in raw and "token seen: [REDACTED] end" in raw


def test_secret_env_names_cover_the_log_key_and_every_source_variable(tmp_path: Path) -> None:
    config = parse_config(
        "journal: {key_env: MY_LOG_KEY}\n"
        "prometheus: {url: 'http://127.0.0.1:9090', bearer_token_env: PROM_TOKEN}\n"
        "alertmanager:\n  url: 'http://127.0.0.1:9093'\n"
        "  basic_auth: {username: am, password_env: AM_PASSWORD}\n",
        tmp_path / "c.yaml",
    ).config
    assert secret_env_names(config) == {
        "INCIDENT_LOG_KEY",
        "MY_LOG_KEY",
        "PROM_TOKEN",
        "AM_PASSWORD",
    }


def test_secret_literals_read_env_values_and_secret_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-token-123456\n")
    (tmp_path / "pw").write_text("abc\n")  # too short to be a rule
    config = parse_config(
        "prometheus: {url: 'http://127.0.0.1:9090', bearer_token_file: token}\n"
        "alertmanager:\n  url: 'http://127.0.0.1:9093'\n"
        "  basic_auth: {username: am, password_file: pw}\n",
        tmp_path / "c.yaml",
    ).config
    found = secret_literals(config, {"INCIDENT_LOG_KEY": "log-key-value", "OTHER": "x" * 20})
    assert found == {
        "literal:INCIDENT_LOG_KEY": "log-key-value",
        "literal:prometheus.bearer_token_file": "file-token-123456",
    }
    assert len("abc") < MIN_LITERAL_LEN


def test_an_unreadable_or_huge_secret_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "ok").write_text("a-real-token-value\n")
    config = parse_config(
        "prometheus: {url: 'http://127.0.0.1:9090', bearer_token_file: ok}\n"
        "alertmanager: {url: 'http://127.0.0.1:9093', bearer_token_file: missing}\n",
        tmp_path / "c.yaml",
    ).config
    # The file grows past the bound after the config was checked: it is skipped, not read whole.
    (tmp_path / "ok").write_bytes(b"x" * (1 << 20))
    assert secret_literals(config, {}) == {}
    assert read_secret_file(tmp_path / "ok") is None
