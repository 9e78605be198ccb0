"""`verify`, `export` and `timeline` on the command line: exit codes and messages."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from console.cli import cli
from console.journal.events import BlockOutput, BlockStarted, Note
from tests.journal.conftest import EXAMPLE_LOG, new_log, run, write_events


@pytest.fixture(autouse=True)
def _away_from_runbooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLE_LOG, tmp_path / EXAMPLE_LOG.name))


def tamper(path: Path, old: bytes, new: bytes) -> Path:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    return path


def head_of(path: Path) -> str:
    return str(json.loads(path.read_bytes().splitlines()[-1])["hash"])


def test_verify_a_clean_log(example: Path) -> None:
    result = invoke("verify", str(example))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{example}:4: seq 3: info: runbook runbooks/etcd-member-down.md is no longer there: "
        "drift cannot be checked [policy/runbook-gone]",
        f"{example}: OK: 44 events, seq 0-43, head {head_of(example)[:12]}, chain sha256, closed",
    ]


def test_verify_reports_tampering_with_file_line_and_seq(example: Path) -> None:
    tamper(example, b"systemctl restart etcd", b"systemctl restart etcc")
    result = invoke("verify", str(example))
    assert result.exit_code == 1
    assert f"{example}:26: seq 25: error: hash does not match the content" in result.stdout
    assert "1 error(s), 0 warning(s)" in result.stdout


def test_verify_json(example: Path) -> None:
    tamper(example, b'"text":"DLQ backlog peaked at 1.8k"', b'"text":"DLQ backlog peaked at 2k"')
    result = invoke("verify", str(example), "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["ok"] is False
    assert [(f["code"], f["seq"], f["line"]) for f in report["findings"]] == [
        ("runbook-gone", 3, 4),
        ("hash-mismatch", 41, 42),
    ]


def test_verify_head(example: Path) -> None:
    head = head_of(example)[:12]
    assert invoke("verify", str(example), "--head", head).exit_code == 0
    lines = example.read_bytes().splitlines(keepends=True)
    example.write_bytes(b"".join(lines[:-1]))
    result = invoke("verify", str(example), "--head", head.upper())
    assert result.exit_code == 1
    assert f"seq 43: error: the log does not reach head {head}" in result.stdout


def test_verify_rejects_a_malformed_head(example: Path) -> None:
    result = invoke("verify", str(example), "--head", "xyz")
    assert result.exit_code == 2 and "7 to 64 hex digits" in result.stderr


def test_verify_a_torn_tail_says_so(example: Path) -> None:
    data = example.read_bytes()
    example.write_bytes(data[:-40])
    result = invoke("verify", str(example))
    assert result.exit_code == 1
    assert "warning: torn tail" in result.stdout and "not tampering" in result.stdout


def test_verify_with_a_key(tmp_path: Path) -> None:
    path = run(write_events(new_log(tmp_path, key=b"sekrit"), [Note(text="x")]))
    env = {"MY_KEY": "sekrit"}
    assert invoke("verify", str(path), "--key-env", "MY_KEY", env=env).exit_code == 0
    assert invoke("verify", str(path), env={"INCIDENT_LOG_KEY": "sekrit"}).exit_code == 0
    missing = invoke("verify", str(path))
    assert missing.exit_code == 1 and "no key was given" in missing.stdout
    wrong = invoke("verify", str(path), "--key-env", "MY_KEY", env={"MY_KEY": "guess"})
    assert wrong.exit_code == 1 and "or the key is wrong" in wrong.stdout
    unset = invoke("verify", str(path), "--key-env", "NOT_SET_ANYWHERE")
    assert unset.exit_code == 2 and "NOT_SET_ANYWHERE is not set" in unset.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the log: No such file or directory"),
        (b"", "not an incident log"),
        (b"hello\nworld\n", "not an incident log"),
        (b"\x00\xff\xfe binary", "not an incident log"),
    ],
)
@pytest.mark.parametrize("command", ["verify", "export", "timeline"])
def test_unreadable_logs_exit_2_without_a_traceback(
    tmp_path: Path, content: bytes | None, message: str, command: str
) -> None:
    path = tmp_path / "INC-x.jsonl"
    if content is not None:
        path.write_bytes(content)
    extra = ["--format", "md"] if command == "export" else []
    result = invoke(command, str(path), *extra)
    assert result.exit_code == 2
    assert result.stderr.startswith("incident-console: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_export_of_a_damaged_log_warns_and_says_so(example: Path) -> None:
    tamper(example, b"systemctl restart etcd", b"rm -rf / --no-preserve")
    result = invoke("export", str(example), "--format", "md")
    assert result.exit_code == 0
    assert "has 1 verify finding(s)" in result.stderr
    assert "Integrity: 1 finding(s): run" in result.stdout


def test_timeline(example: Path) -> None:
    result = invoke("timeline", str(example))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "-- 2026-11-22 (UTC) --"
    assert lines[1].startswith("T+00:00:00  10:12:01Z  #0     alice@bastion1  incident opened")
    assert any("m2 stderr | Error: context deadline exceeded" in line for line in lines)
    quiet = invoke("timeline", str(example), "--no-output").stdout
    assert "m2 stderr |" not in quiet and "#43" in quiet


def test_timeline_notes_a_torn_tail(example: Path) -> None:
    example.write_bytes(example.read_bytes()[:-10])
    result = invoke("timeline", str(example))
    assert result.exit_code == 0 and "torn tail" in result.stderr


def test_timeline_follow_stops_at_the_close(example: Path) -> None:
    result = invoke("timeline", str(example), "--follow")
    assert result.exit_code == 0 and "incident closed" in result.stdout.splitlines()[-1]


def test_timeline_follow_prints_events_as_they_are_appended(tmp_path: Path) -> None:
    log = new_log(tmp_path)

    async def later() -> None:
        try:
            await asyncio.sleep(0.3)
            await log.emit(
                BlockStarted(run="r", block="b", kind="check", lang="sh", command="c", nodes=["n"])
            )
            await log.emit(
                BlockOutput(run="r", block="b", node="n", stream="stdout", text="live!\n")
            )
            await asyncio.sleep(0.3)
        finally:  # whatever happens, the close ends the follow
            await log.close("over")

    writer = threading.Thread(target=run, args=(later(),))
    writer.start()
    result = invoke("timeline", str(log.path), "--follow")
    writer.join()
    assert result.exit_code == 0
    last = result.stdout.splitlines()[-1]
    assert "n stdout | live!" in result.stdout
    assert "incident closed" in last and last.endswith("): over")
