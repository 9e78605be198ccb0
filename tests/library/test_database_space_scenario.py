"""The etcd database-space runbook against its scenario: it passes (defrag one member at a time,
disarm, verify), and a member whose defrag fails stops the rollout before the next."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli
from console.journal.reader import read_log

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "etcd-database-space.md"
SCENARIO = ROOT / "console" / "data" / "scenarios" / "etcd-database-space.yaml"


def run(scenario: Path, journal: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(RUNBOOK), "--scenario", str(scenario), "--var", "member=m1"),
            *("--yes", "--json", "--speed", "100", "--journal", str(journal)),
        ],
    )
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def test_the_runbook_passes_on_its_scenario(tmp_path: Path) -> None:
    code, data = run(SCENARIO, tmp_path)
    assert code == 0, data.get("stopped")
    blocks = {b["id"]: b for s in data["steps"] for b in s["blocks"]}
    assert all(b["verdict"] == "pass" for b in blocks.values())
    assert [n["node"] for n in blocks["defrag"]["nodes"]] == ["m1", "m2", "m3"]
    events = read_log(Path(data["journal"])).events
    types = [e.type for e in events]
    assert types.index("alert.resolved") > max(
        i for i, e in enumerate(events) if e.type == "action.confirmed"
    )


def test_a_member_whose_defrag_fails_stops_the_rollout(tmp_path: Path) -> None:
    """batch: 1 defragments one member after another and stops at the first failure, so a
    second member is never taken out while the first is in trouble."""
    text = SCENARIO.read_text()
    m2 = """  - on: name=m2
    match: 'etcdctl defrag'
    delay: 4s
    stdout: "Finished defragmenting etcd member[127.0.0.1:2379]\\n"
"""
    assert text.count(m2) == 1
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        text.replace(
            m2,
            """  - on: name=m2
    match: 'etcdctl defrag'
    delay: 4s
    exit: 1
    stderr: "Failed to defragment etcd member[127.0.0.1:2379] (context deadline exceeded)\\n"
""",
        )
    )
    code, data = run(failing, tmp_path)
    assert code == 1
    blocks = {b["id"]: b for s in data["steps"] for b in s["blocks"]}
    defrag = {n["node"]: n["verdict"] for n in blocks["defrag"]["nodes"]}
    assert defrag == {"m1": "pass", "m2": "fail"}  # m3 never started
    assert "disarm" not in blocks
