"""``incident-console run``: exit codes, dry runs, JSON, declined actions, grouped output."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from console.cli import cli
from tests.execute.conftest import fence
from tests.execute.sshd import SshdCluster

FRONT = """---
id: cli-test
vars:
  member: {pattern: "^m[0-9]+$"}
---
# CLI test
"""


def write(tmp_path: Path, *steps: str, name: str = "rb.md") -> Path:
    text = FRONT
    for number, blocks in enumerate(steps, start=1):
        text += f"\n## {number}. Step {number}\n\nDo it.\n\n{blocks}"
    path = tmp_path / name
    path.write_text(text)
    return path


def invoke(tmp_path: Path, *args: str) -> Result:
    config = tmp_path / "console.yaml"
    if not config.exists():
        config.write_text("profile: dev\n")
    result = CliRunner().invoke(cli, ["run", *args, "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def checks(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        fence("hello", "echo hello; echo note >&2", on_="local", expect={"stdout": "hello"})
        + fence("count", "printf '3\\n'", on_="local", expect={"value": "== 3"}),
    )


def test_every_block_passing_exits_0_with_a_table_per_block(tmp_path: Path, checks: Path) -> None:
    result = invoke(tmp_path, str(checks))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "== Step 1: Step 1" in out
    assert f"-- check hello [{checks}:" in out and "]: PASS (" in out
    assert re.search(r"NODE +VERDICT +EXIT +TIME +REASON\n +local +pass +0 ", out)
    assert "--- local stdout ---\n   | hello\n   --- local stderr ---\n   | note" in out
    assert "2 block(s): 2 pass" in out


def test_a_failing_check_exits_1_and_says_why(tmp_path: Path) -> None:
    path = write(tmp_path, fence("bad", "echo nope; exit 3", on_="local"))
    result = invoke(tmp_path, str(path))
    assert result.exit_code == 1
    assert "FAIL" in result.stdout
    assert "exit 3, expected 0" in result.stdout


def test_json_output_is_one_document(tmp_path: Path, checks: Path) -> None:
    result = invoke(tmp_path, str(checks), "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["exit"] == 0 and doc["passed"] is True
    (step,) = doc["steps"]
    hello, count = step["blocks"]
    assert hello["nodes"][0]["stdout"] == "hello\n"
    assert hello["nodes"][0]["verdict"] == "pass"
    assert count["nodes"][0]["value"] == 3.0
    assert doc["incident"].startswith("INC-") and doc["incident"].endswith("-cli-test")


def test_an_action_without_a_terminal_or_yes_is_declined_not_run(tmp_path: Path) -> None:
    flag = tmp_path / "acted"
    path = write(tmp_path, fence("act", f"touch {flag}", kind="action", on_="local"))
    result = invoke(tmp_path, str(path))
    assert result.exit_code == 1
    assert "DECLINED" in result.stdout
    assert "no terminal to confirm on and --yes was not given" in result.stdout
    assert not flag.exists()
    accepted = invoke(tmp_path, str(path), "--yes")
    assert accepted.exit_code == 0
    assert flag.exists()


def test_dry_run_shows_rendered_commands_and_runs_nothing(tmp_path: Path) -> None:
    flag = tmp_path / "acted"
    path = write(
        tmp_path,
        fence("act", f"touch {flag} {{{{member}}}}", kind="action", on_="local", confirm="typed"),
    )
    result = invoke(tmp_path, str(path), "--dry-run", "--var", "member=m2")
    assert result.exit_code == 0
    assert "dry run: nothing is sent anywhere" in result.stdout
    assert f"$ touch {flag} m2" in result.stdout
    assert "confirm: typed" in result.stdout
    assert not flag.exists()
    doc = json.loads(
        invoke(tmp_path, str(path), "--dry-run", "--json", "--var", "member=m2").stdout
    )
    assert doc["blocks"][0]["commands"] == {"local": f"touch {flag} m2"}


def test_only_checks_and_step_select_what_runs(tmp_path: Path) -> None:
    flag = tmp_path / "acted"
    path = write(
        tmp_path,
        fence("first", "echo one", on_="local"),
        fence("second", "echo two", on_="local")
        + fence("act", f"touch {flag}", kind="action", on_="local"),
    )
    result = invoke(tmp_path, str(path), "--only", "checks", "--step", "2", "--yes")
    assert result.exit_code == 0
    assert "check second" in result.stdout and "check first" not in result.stdout
    assert "action act" in result.stdout and "not run: an action (--only checks)" in result.stdout
    assert not flag.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--var", "member=x1"], ":4: 'x1' does not match ^m[0-9]+$ [vars.member]"),
        ([], "block act needs {{member}}: give it with --var member=VALUE"),
        (["--step", "9"], "the runbook has no such step"),
        (["--var", "oops"], "write it as NAME=VALUE"),
        (["--nodes", "bogus"], "--nodes 'bogus'"),
    ],
)
def test_usage_and_runbook_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    path = write(tmp_path, fence("act", "echo {{member}}", kind="action", on_="local"))
    result = invoke(tmp_path, str(path), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_broken_runbook_or_config_exits_2_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "```sh check\n#| id: x\n#| tiemout: 5s\ntrue\n```\n")
    result = invoke(tmp_path, str(path))
    assert result.exit_code == 2
    assert f"{path}:14: unknown option 'tiemout'" in result.output
    (tmp_path / "console.yaml").write_text("profile: dev\nnodes: [{name: a}]\n")
    result = invoke(tmp_path, str(path))
    assert result.exit_code == 2
    assert "console.yaml:2: required key is missing" in result.output


def _cluster_config(tmp_path: Path, sshd: SshdCluster) -> None:
    nodes = "".join(
        f"  - {{name: {d['name']}, host: {d['host']}, port: {d['port']}, roles: [db]}}\n"
        for d in sshd.node_dicts()
    )
    (tmp_path / "console.yaml").write_text(
        "profile: dev\n"
        f"nodes:\n{nodes}"
        f"ssh: {{config: null, known_hosts: {sshd.known_hosts}, identity_files: "
        f"[{sshd.client_key}], agent: false, user: {sshd.user}}}\n"
    )


@pytest.mark.sshd
def test_sshd_nodes_output_is_grouped_per_node_and_failures_exit_1(
    tmp_path: Path, sshd: SshdCluster
) -> None:
    _cluster_config(tmp_path, sshd)
    body = "for i in 1 2 3; do echo {{node}}-$i; sleep 0.05; done; [ {{node}} != n2 ]"
    path = write(tmp_path, fence("lines", body, on_="role=db"))
    result = invoke(tmp_path, str(path))
    assert result.exit_code == 1
    out = result.stdout
    for n in range(1, 7):
        assert f"--- n{n} stdout ---\n   | n{n}-1\n   | n{n}-2\n   | n{n}-3\n" in out
    assert re.search(r"\n +n2 +fail +1 +\S+ +exit 1, expected 0\n", out)
    doc = json.loads(invoke(tmp_path, str(path), "--json", "--nodes", "!name=n2").stdout)
    assert doc["exit"] == 0
    assert [n["node"] for n in doc["steps"][0]["blocks"][0]["nodes"]] == [
        "n1",
        "n3",
        "n4",
        "n5",
        "n6",
    ]


def _run_on_tty(args: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin, type ``answer`` at the prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "INCIDENT_CONSOLE_CONFIG": str(cwd / "console.yaml")},
    )
    os.close(slave)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 20
    while b"to run it" not in seen and b"run it?" not in seen:
        assert time.monotonic() < deadline, seen
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            seen += os.read(proc.stderr.fileno(), 4096)
    os.write(master, answer.encode() + b"\n")
    out, err = proc.communicate(timeout=20)
    os.close(master)
    return proc.returncode, out.decode() + (seen + err).decode()


@pytest.mark.parametrize(("answer", "code", "ran"), [("act", 0, True), ("yes", 1, False)])
def test_typed_confirmation_on_a_terminal(
    tmp_path: Path, answer: str, code: int, ran: bool
) -> None:
    flag = tmp_path / "acted"
    path = write(
        tmp_path, fence("act", f"touch {flag}", kind="action", on_="local", confirm="typed")
    )
    (tmp_path / "console.yaml").write_text("profile: dev\n")
    returncode, output = _run_on_tty(["run", str(path)], answer, tmp_path)
    assert returncode == code, output
    assert flag.exists() is ran
    assert "type act to run it" in output


def test_a_prometheus_client_that_cannot_be_built_is_the_blocks_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run hands the session the poller's client; if it has none the block errs, no traceback."""
    monkeypatch.delenv("PROM_TOKEN_UNSET", raising=False)
    (tmp_path / "console.yaml").write_text(
        "profile: dev\nprometheus:\n  url: http://127.0.0.1:9\n"
        "  bearer_token_env: PROM_TOKEN_UNSET\n"
    )
    runbook = write(tmp_path, fence("up", "up", lang="promql"))
    result = invoke(tmp_path, str(runbook), "--no-journal")
    assert result.exit_code == 1, result.output
    assert "$PROM_TOKEN_UNSET, which is not set" in result.output
    assert "no client: the telemetry source could not be set up" in result.output
