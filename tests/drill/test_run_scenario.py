"""`run RUNBOOK --scenario S`: a runbook tested against a simulated cluster, journalled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.journal.reader import read_log

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "etcd-member-down.md"
SCENARIO = ROOT / "console" / "data" / "scenarios" / "etcd-member-down.yaml"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the bundled runbook uses ./checks
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", str(RUNBOOK), "--scenario", str(SCENARIO), *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_the_runbook_against_the_bundled_scenario(tmp_path: Path) -> None:
    code, out = run("--yes", "--json", "--journal", str(tmp_path), "--speed", "50")
    assert code == 0  # endpoint-status fails on the member that is down, as the path expects
    data = json.loads(out)
    assert data["scenario"]["deviations"] == [] and data["passed"] is False
    verdicts = {b["id"]: b["verdict"] for s in data["steps"] for b in s["blocks"]}
    assert verdicts == {
        "quorum": "pass",
        "endpoint-status": "fail",
        "member-log": "pass",
        "disk-free": "pass",
        "restart": "pass",
        "member-healthy": "pass",
        "leader-agreement": "pass",
    }
    log = Path(data["journal"])
    assert log.parent == tmp_path and data["head"]
    events = read_log(log).events
    types = [e.type for e in events]
    assert events[0].mode == "drill"
    assert types.index("alert.firing") < types.index("action.confirmed")
    assert types.index("action.confirmed") < types.index("alert.resolved")
    assert types[-1] == "incident.closed" and events[-2].type == "metric.snapshot"
    assert events[-1].data.head_hash == events[-2].hash  # type: ignore[attr-defined]
    verified = CliRunner().invoke(cli, ["verify", str(log), "--head", data["head"]])
    assert verified.exit_code == 0, verified.output
    resumed = CliRunner().invoke(cli, ["resume", str(log)])
    assert resumed.exit_code == 2 and "a drill cannot be resumed" in resumed.output


def test_dry_run_and_no_journal_write_nothing(tmp_path: Path) -> None:
    code, out = run("--var", "member=m2", "--dry-run", "--journal", str(tmp_path))
    assert code == 0 and "systemctl restart etcd" in out
    code, out = run(
        "--var",
        "member=m2",
        "--only",
        "checks",
        "--step",
        "1",
        "--no-journal",
        "--journal",
        str(tmp_path),
    )
    assert code == 0 and "incident log:" not in out  # step 1's checks, as the path expects
    assert "scenario path: followed (2 expected block(s)" in out
    assert list(tmp_path.iterdir()) == []


def test_a_bad_scenario_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("title: x\nnodes: []\n")
    result = CliRunner().invoke(cli, ["run", str(RUNBOOK), "--scenario", str(bad)])
    assert result.exit_code == 2
    assert (
        f"{bad}:2: List should have at least 1 item after validation, not 0 [nodes]"
        in result.output
    )
