"""The generic quorum runbooks and the node-exporter host runbooks (issue 12 items 1, 2, 6, 7).

Each bundled scenario passing its runbook is ``tests/drill/test_scenario_path.py``'s job; here:
the runbooks lint clean under a ``prod`` config, the paths that must stop do stop (a restart
that does not rejoin halts the rollout, a damaged data dir keeps a member down), an operator's
own ``checks/quorum.yaml`` turns the same runbook into another system's, and the node rules
carry upstream's names, point at their runbooks and fire under their names (promtool accepting
them and lint's full coverage are ``tests/foundation/test_shipped_rules.py``'s, for every file).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import cli
from tests.foundation.test_shipped_rules import (
    alert_names,
    alert_rules,
    assert_promtool_tests_pass,
)

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
SCENARIOS = ROOT / "console" / "data" / "scenarios"
NODE_RULES = RUNBOOKS / "rules" / "node.yml"
OURS = [
    "quorum-leader-unstable",
    "quorum-network-partition",
    "quorum-crash-recovery",
    "quorum-rolling-restart",
    "host-disk-space",
    "host-memory-cpu",
]

# awesome-prometheus-alerts, host-and-hardware/node-exporter.yml: the names node.yml ships
# (exactly as upstream spells them) and the runbook that answers each.
NODE_ALERTS = {
    "HostOutOfMemory": "host-memory-cpu",
    "HostMemoryUnderMemoryPressure": "host-memory-cpu",
    "HostOomKillDetected": "host-memory-cpu",
    "HostSwapIsFillingUp": "host-memory-cpu",
    "HostHighCpuLoad": "host-memory-cpu",
    "HostOutOfDiskSpace": "host-disk-space",
    "HostDiskWillFillIn24Hours": "host-disk-space",
    "HostOutOfInodes": "host-disk-space",
    "HostInodesWillFillIn24Hours": "host-disk-space",
}

Data = dict[str, Any]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)


def run(runbook: Path, scenario: Path, *args: str) -> tuple[int, Data]:
    args = ("--scenario", str(scenario), "--yes", "--json", "--speed", "50", "--no-journal", *args)
    result = CliRunner().invoke(cli, ["run", str(runbook), *args])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def blocks(data: Data) -> dict[str, Data]:
    return {b["id"]: b for s in data["steps"] for b in s["blocks"]}


def failing_nodes(block: Data) -> list[str]:
    return [n["node"] for n in block["nodes"] if n["verdict"] != "pass"]


def test_every_runbook_has_a_scenario_and_lints_clean_under_prod(tmp_path: Path) -> None:
    config = tmp_path / "console.yaml"
    config.write_text(f"profile: prod\nrunbooks: [{RUNBOOKS}]\nchecks: [{ROOT / 'checks'}]\n")
    paths = [str(RUNBOOKS / f"{name}.md") for name in OURS]
    result = CliRunner().invoke(cli, ["lint", *paths, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"{len(OURS)} runbook file(s) checked: 0 error(s), 0 warning(s)" in result.output
    for name in OURS:
        assert (SCENARIOS / f"{name}.yaml").is_file(), name


def test_the_partition_names_the_minority_side() -> None:
    code, data = run(
        RUNBOOKS / "quorum-network-partition.md", SCENARIOS / "quorum-network-partition.yaml"
    )
    assert code == 0, data
    found = blocks(data)
    assert failing_nodes(found["sides"]) == [
        'etcd_server_has_leader{instance="m4"}',
        'etcd_server_has_leader{instance="m5"}',
    ]
    assert failing_nodes(found["writes"]) == ["m4", "m5"]  # the minority refuses writes
    assert failing_nodes(found["rejoined"]) == [
        'etcd_server_has_leader{instance="m4"}'
    ]  # m5 came back by itself
    assert [n["node"] for n in found["restart"]["nodes"]] == ["m4"]


def test_the_partition_restart_is_refused_while_the_network_is_still_cut(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    text = (SCENARIOS / "quorum-network-partition.yaml").read_text()
    scenario.write_text(text.replace("  - at: 60s\n", "  - at: 2h\n"))  # never repaired
    code, data = run(RUNBOOKS / "quorum-network-partition.md", scenario)
    assert code == 1
    found = blocks(data)
    assert found["network-back"]["verdict"] == "fail"
    assert found["restart"]["verdict"] == "refused"
    assert "network-back" in found["restart"]["reason"]


def test_a_restart_that_does_not_rejoin_stops_the_rollout(tmp_path: Path) -> None:
    """m2 (the canary) does not come back: m3 and the leader are never restarted."""
    scenario = tmp_path / "s.yaml"
    text = (SCENARIOS / "quorum-rolling-restart.yaml").read_text()
    failing = (
        "  - on: name=m2\n"
        "    match: 'systemctl restart etcd'\n"
        "    exit: 1\n"
        '    stderr: "the member did not commit through the cluster within 60s\\n"\n'
    )
    scenario.write_text(text.replace("responses:\n", "responses:\n" + failing, 1))
    code, data = run(RUNBOOKS / "quorum-rolling-restart.md", scenario)
    assert code == 1
    found = blocks(data)
    assert [(n["node"], n["verdict"]) for n in found["restart-followers"]["nodes"]] == [
        ("m2", "fail")
    ]
    assert found["restart-followers"]["not_run"] == ["m3"]
    assert "restart-leader" not in found  # the run stopped at the failed action
    assert data["stopped"]


def test_a_damaged_data_dir_keeps_the_member_down(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    text = (SCENARIOS / "quorum-crash-recovery.yaml").read_text()
    damaged = "  - on: name=m2\n    match: 'test -s /var/lib/etcd/member/snap/db'\n    exit: 1\n"
    scenario.write_text(text.replace("responses:\n", "responses:\n" + damaged, 1))
    code, data = run(RUNBOOKS / "quorum-crash-recovery.md", scenario)
    assert code == 1
    found = blocks(data)
    assert failing_nodes(found["data-intact"]) == ["m2"]
    assert found["start"]["verdict"] == "refused"
    assert found["start"]["nodes"] == []


CONSUL_CHECKS = """\
checks:
  majority-has-leader:
    lang: promql
    body: |
      sum(consul_server_has_leader) >= {{quorum}}
  service-log:
    lang: sh
    on: role={{role}}
    body: |
      journalctl -u {{service}} --since -30min --no-pager | tail -n 50
  data-dir-intact:
    lang: sh
    on: role={{role}}
    expect: {exit: 0, stdout: intact}
    body: |
      test -s {{data_dir}}/raft/raft.db && echo intact
  disk-free:
    lang: sh
    on: role={{role}}
    expect: {exit: 0, value: "< 90"}
    body: |
      df --output=pcent {{data_dir}} | tail -n 1 | tr -dc '0-9'
  member-healthy:
    lang: sh
    on: role={{role}}
    expect: {exit: 0, stdout: "true"}
    body: |
      consul info | awk '/leader_addr/ {print ($3 != "" ? "true" : "false")}'
  applied-spread:
    lang: promql
    expect: {value: "< 1000"}
    body: |
      max(consul_raft_applied_index) - min(consul_raft_applied_index)
  leader-agreement:
    lang: sh
    on: role={{role}}
    expect: {exit: 0, same: true}
    body: |
      consul operator raft list-peers | awk '$4 == "leader" {print $1}'
"""

CONSUL_SCENARIO = """\
title: a Consul server back after a crash
runbook: quorum-crash-recovery
nodes:
  - {name: c1, roles: [consul]}
  - {name: c2, roles: [consul]}
  - {name: c3, roles: [consul]}
series:
  - {name: consul_server_has_leader, labels: {instance: c1}, value: 1}
  - {name: consul_server_has_leader, labels: {instance: c3}, value: 1}
  - {name: consul_raft_applied_index, labels: {instance: c1}, value: 9000, slope: 10}
  - {name: consul_raft_applied_index, labels: {instance: c3}, value: 9000, slope: 10}
responses:
  - {on: name=c2, match: 'journalctl -u consul', stdout: "consul: shutting down\\n"}
  - {on: name=c2, match: 'raft/raft.db', stdout: "intact\\n"}
  - {on: name=c2, match: 'df --output=pcent /opt/consul', stdout: "20\\n"}
  - on: name=c2
    match: 'systemctl start consul'
    effects:
      set:
        - {name: consul_server_has_leader, labels: {instance: c2}, value: 1}
        - {name: consul_raft_applied_index, labels: {instance: c2}, value: 8990, slope: 10}
  - {on: role=consul, match: 'consul info', stdout: "true\\n"}
  - {on: role=consul, match: 'list-peers', stdout: "c1\\n"}
vars: {role: consul, quorum: "2", service: consul, data_dir: /opt/consul, member: c2}
expected:
  - quorum
  - crash-log
  - data-intact
  - disk-free
  - {block: start, nodes: [c2]}
  - member-healthy
  - caught-up
  - leader-agreement
"""


def test_an_operators_catalog_makes_the_runbook_another_systems(tmp_path: Path) -> None:
    """A copy of the runbook beside its own checks/quorum.yaml runs that catalog's bodies:
    the same steps, requires and path, with Consul's commands and metrics."""
    ops = tmp_path / "ops" / "runbooks"
    (ops / "checks").mkdir(parents=True)
    shutil.copy(RUNBOOKS / "quorum-crash-recovery.md", ops)
    (ops / "checks" / "quorum.yaml").write_text(CONSUL_CHECKS)
    scenario = tmp_path / "consul.yaml"
    scenario.write_text(CONSUL_SCENARIO)
    code, data = run(ops / "quorum-crash-recovery.md", scenario)
    assert code == 0, json.dumps(data, indent=1)
    found = blocks(data)
    assert "consul_server_has_leader" in found["quorum"]["command"]
    assert "/opt/consul/raft/raft.db" in found["data-intact"]["command"]
    assert found["start"]["command"] == "systemctl start consul"
    assert "etcd" not in json.dumps({k: b["command"] for k, b in found.items()})


def test_the_leader_unstable_runbook_points_at_the_slow_disk() -> None:
    code, data = run(
        RUNBOOKS / "quorum-leader-unstable.md", SCENARIOS / "quorum-leader-unstable.yaml"
    )
    assert code == 0, data
    found = blocks(data)
    assert failing_nodes(found["fsync"]) == ['{instance="m3"}']
    assert found["peer-rtt"]["verdict"] == "pass"
    assert all(b["kind"] == "check" for b in found.values())  # it changes nothing


def test_the_node_rules_carry_upstream_names_and_point_at_their_runbooks() -> None:
    assert alert_names(NODE_RULES) == set(NODE_ALERTS)
    for rule in alert_rules(NODE_RULES):
        assert rule.annotations["runbook_url"] == f"runbooks/{NODE_ALERTS[rule.alert]}.md"


PROMTOOL_TEST = """\
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'node_uname_info{{instance="w1",nodename="worker-1"}}'
        values: '1x10'
      - series: 'node_filesystem_avail_bytes{{instance="w1",device="/dev/vda1",mountpoint="/"}}'
        values: '5e9 5e9 4e9 4e9 4e9 4e9 4e9 4e9 4e9 4e9 4e9'
      - series: 'node_filesystem_size_bytes{{instance="w1",device="/dev/vda1",mountpoint="/"}}'
        values: '50e9x10'
      - series: 'node_filesystem_readonly{{instance="w1",device="/dev/vda1",mountpoint="/"}}'
        values: '0x10'
      - series: 'node_memory_MemAvailable_bytes{{instance="w1"}}'
        values: '8e9 8e9 1e9x8'
      - series: 'node_memory_MemTotal_bytes{{instance="w1"}}'
        values: '32e9x10'
    alert_rule_test:
      - eval_time: 1m
        alertname: HostOutOfDiskSpace
        exp_alerts: []
      - eval_time: 5m
        alertname: HostOutOfDiskSpace
        exp_alerts:
          - exp_labels:
              severity: warning
              instance: w1
              device: /dev/vda1
              mountpoint: /
              nodename: worker-1
            exp_annotations:
              summary: Host out of disk space (instance w1)
              description: "/ has less than 10% of its space left.\\n  VALUE = 8"
              runbook_url: runbooks/host-disk-space.md
      - eval_time: 5m
        alertname: HostOutOfMemory
        exp_alerts:
          - exp_labels: {{severity: warning, instance: w1, nodename: worker-1}}
            exp_annotations:
              summary: Host out of memory (instance w1)
              description: "Less than 10% of the memory is available.\\n  VALUE = 3.125"
              runbook_url: runbooks/host-memory-cpu.md
"""


def test_the_paging_host_alerts_fire_under_their_names(tmp_path: Path) -> None:
    assert_promtool_tests_pass(tmp_path, PROMTOOL_TEST.format(rules=NODE_RULES))
