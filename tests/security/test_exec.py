"""Confirmation policy and the catalog search path (issue 8: hostile input and secrets).

The SSH side of the issue is tested against real sshd in ``tests/execute/test_ssh_hostile.py``.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from console.cli import cli
from console.config import Config
from console.execute.session import ConfirmAnswer, ConfirmRequest, RunbookSession
from console.execute.targets import LiveTargets
from console.journal.events import ActionDeclined
from console.journal.sink import MemorySink
from console.runbook.catalog import runbook_catalog
from tests.execute.conftest import block_of, fence, payloads, write_runbook


async def flag(request: ConfirmRequest) -> ConfirmAnswer:
    """What ``run --yes`` answers: a blanket confirmation."""
    return ConfirmAnswer(True, "flag")


def _typed_action(tmp_path: Path) -> tuple[str, Path]:
    done = tmp_path / "done"
    return fence("restart", f"touch {done}", kind="action", on_="local", confirm="typed"), done


async def test_yes_does_not_count_as_typed_under_prod(tmp_path: Path) -> None:
    block, done = _typed_action(tmp_path)
    runbook = write_runbook(tmp_path, block)
    config = Config(profile="prod")
    sink = MemorySink()
    session = RunbookSession(runbook, config, sink, targets=LiveTargets(config), confirm=flag)
    try:
        run = await session.run_block(block_of(runbook, "restart"))
    finally:
        await session.close()
    assert run.verdict == "declined"
    assert not done.exists()
    [declined] = payloads(sink, ActionDeclined)
    assert "prod profile needs action restart confirmed by typing its id" in declined.reason


async def test_yes_still_confirms_typed_actions_outside_prod_or_with_accepted_risk(
    tmp_path: Path,
) -> None:
    block, done = _typed_action(tmp_path)
    runbook = write_runbook(tmp_path, block)
    for config, accepted in [(Config(profile="staging"), False), (Config(profile="prod"), True)]:
        done.unlink(missing_ok=True)
        session = RunbookSession(
            runbook,
            config,
            MemorySink(),
            targets=LiveTargets(config),
            confirm=flag,
            risk_accepted=accepted,
        )
        try:
            run = await session.run_block(block_of(runbook, "restart"))
        finally:
            await session.close()
        assert run.verdict == "pass", (config.profile, run.reason)
        assert done.exists()


def _run(tmp_path: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["run", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def test_run_yes_under_prod_declines_a_typed_action_and_says_why(tmp_path: Path) -> None:
    block, done = _typed_action(tmp_path)
    write_runbook(tmp_path, block)
    config = tmp_path / "console.yaml"
    config.write_text(f"profile: prod\njournal:\n  dir: {tmp_path / 'incidents'}\n")
    result = _run(tmp_path, str(tmp_path / "runbook.md"), "--yes", "--config", str(config))
    assert result.exit_code == 1, result.output
    assert not done.exists()
    assert "confirmed by typing its id" in result.output
    logs = list((tmp_path / "incidents").rglob("*.jsonl"))
    assert logs and "confirmed by typing its id" in logs[0].read_text()


def test_run_yes_under_prod_with_accept_risk_runs_a_typed_action_and_logs_the_risk(
    tmp_path: Path,
) -> None:
    """--accept-risk makes --yes count for typed actions even when no guardrail is broken."""
    block, done = _typed_action(tmp_path)
    write_runbook(tmp_path, block)
    config = tmp_path / "console.yaml"
    config.write_text(f"profile: prod\njournal:\n  dir: {tmp_path / 'incidents'}\n")
    args = ["--yes", "--accept-risk", "no terminal on the runner", "--config", str(config)]
    result = _run(tmp_path, str(tmp_path / "runbook.md"), *args)
    assert result.exit_code == 0, result.output
    assert done.exists()
    [log] = (tmp_path / "incidents").rglob("*.jsonl")
    accepted = [
        e for e in map(json.loads, log.read_text().splitlines()) if e["type"] == "risk.accepted"
    ]
    assert [e["data"]["reason"] for e in accepted] == ["no terminal on the runner"]


REPO = Path(__file__).resolve().parents[2]


def _runbook_tree(root: Path, layout: str) -> Path:
    """A copy of the bundled etcd runbook and its checks: ``beside`` puts the runbook in
    ``runbooks/`` with ``checks/`` next to that folder, ``inside`` puts both in one folder."""
    book_dir = root / "runbooks" if layout == "beside" else root
    book_dir.mkdir(parents=True, exist_ok=True)
    (root / "checks").mkdir(exist_ok=True)
    for name in ("etcd.yaml", "queue.yaml"):
        (root / "checks" / name).write_text((REPO / "checks" / name).read_text())
    book = book_dir / "etcd-member-down.md"
    book.write_text((REPO / "runbooks" / "etcd-member-down.md").read_text())
    return book


@pytest.mark.parametrize("layout", ["beside", "inside"])
def test_run_and_lint_find_the_catalog_beside_the_runbook_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    book = _runbook_tree(tmp_path / "ops", layout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nodes = "".join(f"  - {{name: m{i}, host: 127.0.0.1, roles: [etcd]}}\n" for i in (1, 2, 3))
    (elsewhere / "console.yaml").write_text(
        f"profile: dev\nprometheus: {{url: 'http://127.0.0.1:9'}}\nnodes:\n{nodes}"
    )
    monkeypatch.chdir(elsewhere)
    planned = _run(tmp_path, str(book), "--dry-run", "--var", "member=m2")
    assert "no catalog check named" not in planned.output, planned.output
    assert planned.exit_code == 0, planned.output
    assert "etcdctl" in planned.output  # the catalog's body was filled in
    linted = CliRunner().invoke(cli, ["lint", str(book)])
    assert "Traceback" not in linted.output
    assert "no catalog check named" not in linted.output, linted.output
    assert linted.exit_code == 0, linted.output


def test_a_check_beside_the_runbook_wins_over_the_configs_catalog(tmp_path: Path) -> None:
    book = _runbook_tree(tmp_path / "ops", "beside")
    other = tmp_path / "config-checks"
    other.mkdir()
    (other / "etcd.yaml").write_text(
        "checks:\n  disk-free:\n    lang: sh\n    body: echo from-the-config\n"
    )
    catalog, problems = runbook_catalog(book, [other])
    assert not problems.errors, [str(p) for p in problems]
    assert "df" in catalog.checks["etcd/disk-free"].body
    assert "from-the-config" not in catalog.checks["etcd/disk-free"].body


async def test_a_local_block_is_not_on_the_process_list(tmp_path: Path) -> None:
    marker = f"ic-secret-{secrets.token_hex(8)}"
    body = f"token={marker}\ntr '\\0' ' ' < /proc/$$/cmdline; echo\ntest -n \"$token\"; exit 5"
    runbook = write_runbook(tmp_path, fence("ps", body, on_="local", expect={"exit": 5}))
    config = Config()
    session = RunbookSession(runbook, config, MemorySink(), targets=LiveTargets(config))
    try:
        run = await session.run_block(block_of(runbook, "ps"))
    finally:
        await session.close()
    node = run.nodes[0]
    assert run.verdict == "pass", node.reason  # the exit status still comes through
    assert "sh -c" in node.stdout
    assert marker not in node.stdout
