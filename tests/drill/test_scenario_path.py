"""Runbooks tested like code: ``run RUNBOOK --scenario S --yes`` against the expected path,
``local`` and unscripted commands in a scenario, and errors journalled with the log closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.drill.scenario import load_scenario
from console.drill.simulator import Simulator
from console.journal.reader import read_log

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "console" / "data" / "scenarios").glob("*.yaml"))
ETCD = ROOT / "console" / "data" / "scenarios" / "etcd-member-down.yaml"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the bundled runbooks use ./checks
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)


def run(runbook: Path, scenario: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["run", str(runbook), "--scenario", str(scenario), "--speed", "50", *args]
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def runbook_of(scenario: Path) -> Path:
    """The bundled runbook a bundled scenario names."""
    name = load_scenario(scenario).runbook
    assert name, f"{scenario} names no runbook"
    return ROOT / "runbooks" / f"{name}.md"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_every_bundled_scenario_passes_its_runbook_with_yes_alone(scenario: Path) -> None:
    code, out = run(runbook_of(scenario), scenario, "--yes", "--no-journal")
    assert code == 0, out
    assert "scenario path: followed" in out


def test_a_deviation_from_the_path_exits_non_zero() -> None:
    code, out = run(runbook_of(ETCD), ETCD, "--yes", "--no-journal", "--var", "member=m3")
    assert code == 1
    assert "action on the wrong nodes: restart on m3 (expected m2)" in out
    assert "unexpected verdict: restart fail (expected pass)" in out
    assert "missed: member-healthy" in out
    assert "exit 1: the run left the scenario's expected path" in out


LOCAL_RUNBOOK = """\
---
id: from-the-jump-host
title: from the jump host
nodes: role=etcd
---
# From the jump host

## 1. Look around

```sh check
#| id: pods
#| on: local
#| expect: {exit: 0, stdout: Running}
kubectl get pods -n kube-system
```

```sh check
#| id: curl
#| on: local
curl -s http://api.internal/healthz
```

```sh check
#| id: members
etcdctl member list
```
"""

LOCAL_SCENARIO = """\
title: local commands
nodes: [{name: m1, roles: [etcd]}]
responses:
  - on: local
    match: kubectl get pods
    stdout: "etcd-m1   1/1   Running\\n"
  - on: role=etcd
    match: etcdctl member list
    stdout: "m1, started\\n"
default_response:
  exit: 3
  stderr: "drill: nobody scripted this\\n"
expected:
  - pods
  - {block: curl, verdict: fail}
  - members
"""


def test_local_blocks_get_verdicts_and_a_closed_log(tmp_path: Path) -> None:
    runbook, scenario = tmp_path / "rb.md", tmp_path / "s.yaml"
    runbook.write_text(LOCAL_RUNBOOK)
    scenario.write_text(LOCAL_SCENARIO)
    code, out = run(runbook, scenario, "--json", "--journal", str(tmp_path))
    assert code == 0, out
    data = json.loads(out)
    nodes = {b["id"]: b["nodes"] for s in data["steps"] for b in s["blocks"]}
    assert [(n["node"], n["verdict"]) for n in nodes["pods"]] == [("local", "pass")]
    # unscripted: the scenario's default reply, a verdict like any other, not a crash
    curl = nodes["curl"][0]
    assert (curl["node"], curl["verdict"], curl["exit"]) == ("local", "fail", 3)
    assert curl["stderr"] == "drill: nobody scripted this\n"
    assert [n["verdict"] for n in nodes["members"]] == ["pass"]
    events = read_log(Path(data["journal"])).events
    assert events[-1].type == "incident.closed"
    verified = CliRunner().invoke(cli, ["verify", data["journal"], "--head", data["head"]])
    assert verified.exit_code == 0, verified.output


def test_the_documented_default_reply() -> None:
    """Without default_response: exit 127 and a line saying nothing was scripted."""
    simulator = Simulator(load_scenario(ETCD))
    for node in ("m1", "local", "not-in-the-scenario"):
        reply, happened = simulator.respond(node, "rm -rf /var/lib/etcd")
        assert (reply.exit, reply.stderr, happened) == (
            127,
            "drill: no scripted response for this command\n",
            None,
        )


def test_an_error_mid_run_is_journalled_and_the_log_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Simulator, node: str, command: str) -> None:  # fault injection
        raise RuntimeError("simulator fell over")

    monkeypatch.setattr(Simulator, "respond", broken)
    code, out = run(runbook_of(ETCD), ETCD, "--yes", "--journal", str(tmp_path))
    assert code == 2
    # three nodes failed at once: the first error is named, the others counted
    assert "the run stopped on an error: RuntimeError: simulator fell over (and 2 more)" in out
    (log,) = tmp_path.glob("*.jsonl")
    events = read_log(log).events
    errors = [e for e in events if e.type == "error"]
    assert [(e.data.where, e.data.error) for e in errors] == [  # type: ignore[attr-defined]
        ("run", "RuntimeError: simulator fell over (and 2 more)")
    ]
    assert events[-1].type == "incident.closed"
    assert "stopped by an error in run" in events[-1].data.summary  # type: ignore[attr-defined]
    verified = CliRunner().invoke(cli, ["verify", str(log)])
    assert verified.exit_code == 0, verified.output


def test_an_expected_block_the_runbook_lacks_is_named_at_its_line(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(ETCD.read_text().replace("  - member-log\n", "  - member-logs\n"))
    line = scenario.read_text().splitlines().index("  - member-logs") + 1
    code, out = run(runbook_of(ETCD), scenario, "--yes", "--no-journal")
    assert code == 2
    assert (
        f"{scenario}:{line}: block 'member-logs' is not in the runbook "
        f"{runbook_of(ETCD)} [expected[2]]"
    ) in out
    assert "nothing was run" in out


def test_another_runbook_is_not_scored_against_the_scenarios_path(tmp_path: Path) -> None:
    runbook = tmp_path / "rb.md"
    runbook.write_text(LOCAL_RUNBOOK)
    code, out = run(runbook, ETCD, "--no-journal")
    assert code == 1  # a plain run: kubectl is unscripted in the etcd scenario, so it fails
    assert (
        "scenario path: not scored: the scenario's vars: and expected: are for runbook "
        "etcd-member-down, not from-the-jump-host"
    ) in out
