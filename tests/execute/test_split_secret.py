"""A secret a command writes in two pieces never reaches the incident log."""

from __future__ import annotations

from pathlib import Path

from console.config import parse_config
from console.execute.session import RunbookSession
from console.incident import Incident
from tests.execute.conftest import write_runbook

# The secret is decoded on the node, so only the output (not the command) carries it.
SPLIT = (
    "printf 'db pass'; sleep 0.3; "
    "printf 'word=%s\\n' \"$(echo aHVudGVyMi1zM2NyM3Q= | base64 -d)\"; printf 'done\\n'"
)


async def test_a_secret_split_across_reads_is_redacted(tmp_path: Path) -> None:
    runbook = write_runbook(
        tmp_path,
        f"```sh check\n#| id: leak\n#| on: local\n{SPLIT}\n```\n",
    )
    loaded = parse_config(f"journal: {{dir: {tmp_path / 'inc'}}}\n", tmp_path / "c.yaml")
    incident = await Incident.open(loaded, "split secret", runbook=runbook)
    session = RunbookSession(runbook, loaded.config, incident.sink)
    run = await session.run_block(runbook.blocks()[0])
    await session.close()
    await incident.close()
    assert run.passed
    assert incident.path is not None
    raw = incident.path.read_bytes()
    assert b"hunter2" not in raw and b"s3cr3t" not in raw
    assert b"[REDACTED]" in raw and b"done" in raw
