"""Confirmation policy and the catalog search path (issue 8: hostile input and secrets).

The SSH side of the issue is tested against real sshd in ``tests/execute/test_ssh_hostile.py``.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from console.cli import cli
from console.config import Config
from console.execute.session import ConfirmAnswer, ConfirmRequest, RunbookSession
from console.execute.targets import LiveTargets
from console.journal.events import ActionDeclined
from console.journal.sink import MemorySink
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
