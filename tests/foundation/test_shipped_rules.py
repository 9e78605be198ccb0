"""The rules shipped with the runbook library (``runbooks/rules/*.yml``, issue 12 item 6).

They carry the alert names of the public rule sets (the etcd mixin, awesome-prometheus-alerts),
real Prometheus tooling accepts them (``promtool check rules`` and, for the paging alerts,
``promtool test rules`` with series that must fire them), every alert has a ``runbook_url``,
and ``lint --rules`` on them reports full coverage by the bundled runbooks.

This file owns the checks every rule file gets (parametrised over ``runbooks/rules/*.yml``, so
a new file is covered by adding it) and the helpers the per-system tests use for their own
``promtool test rules`` units and alert names (``test_postgres_rules.py``,
``test_rabbitmq_rules.py``, ``tests/library/test_quorum_runbooks.py``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from console.cli import cli
from console.errors import ProblemList
from console.runbook.rules import AlertRule, read_rules
from tests.servers import binary

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "runbooks" / "rules").glob("*.yml"))

# The alert names of the etcd mixin (etcd-io/etcd contrib/mixin/alerts): a runbook library
# that answers the mixin must use exactly these (alert names are case-sensitive).
ETCD_MIXIN = {
    "etcdMembersDown",
    "etcdInsufficientMembers",
    "etcdNoLeader",
    "etcdHighNumberOfLeaderChanges",
    "etcdHighNumberOfFailedGRPCRequests",
    "etcdGRPCRequestsSlow",
    "etcdMemberCommunicationSlow",
    "etcdHighNumberOfFailedProposals",
    "etcdHighFsyncDurations",
    "etcdHighCommitDurations",
    "etcdDatabaseQuotaLowSpace",
    "etcdExcessiveDatabaseGrowth",
    "etcdDatabaseHighFragmentationRatio",
}


def alert_rules(path: Path) -> list[AlertRule]:
    """The alerting rules of a shipped rule file, which must read without a problem."""
    problems = ProblemList()
    rules = read_rules(path, problems)
    assert not problems, [str(p) for p in problems]
    return rules


def alert_names(path: Path) -> set[str]:
    """The distinct alert names of a shipped rule file."""
    return {r.alert for r in alert_rules(path)}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Debian's promtool (prometheus package) run with ``args``."""
    return subprocess.run(
        [binary("promtool", "prometheus"), *args], capture_output=True, text=True, timeout=120
    )


def assert_promtool_tests_pass(tmp_path: Path, unit_test: str) -> None:
    """``promtool test rules`` on the YAML ``unit_test``: every alert fires (or stays silent)
    at its ``eval_time`` with exactly the expected labels and annotations."""
    path = tmp_path / "promtool-test.yml"
    path.write_text(unit_test)
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def assert_fully_covered(*paths: Path) -> None:
    """``lint --rules`` on ``paths`` with the bundled runbooks: every alert has a runbook."""
    args = ["lint", str(ROOT / "runbooks"), str(ROOT / "checks")]
    for path in paths:
        args += ["--rules", str(path)]
    result = CliRunner().invoke(cli, args, env={"INCIDENT_CONSOLE_CONFIG": ""})
    assert result.exit_code == 0, result.output
    total = len(set().union(*map(alert_names, paths)))
    assert f"coverage: {total}/{total} alerts have a runbook" in result.stdout
    assert "no runbook" not in result.stdout


def test_the_shipped_rule_files() -> None:
    names = {p.name for p in RULES}
    expected = {"dlq", "etcd-awesome", "etcd", "node", "postgres", "rabbitmq", "redis"}
    assert {f"{name}.yml" for name in expected} <= names


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_promtool_accepts_every_rule(rules: Path) -> None:
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(group["rules"]) for group in yaml.safe_load(rules.read_text())["groups"])
    assert f"SUCCESS: {count} rules found" in result.stdout


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_every_alert_has_a_runbook_url_naming_a_bundled_runbook(rules: Path) -> None:
    for rule in alert_rules(rules):
        url = rule.annotations.get("runbook_url", "")
        folder, _, name = url.rpartition("/")
        assert folder == "runbooks", f"{rules.name}: {rule.alert} -> {url!r}"
        assert (ROOT / "runbooks" / name).is_file(), f"{rules.name}: {rule.alert} -> {url!r}"


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_lint_rules_is_full_coverage_with_and_without_runbook_urls(
    rules: Path, tmp_path: Path
) -> None:
    """Stripped of runbook_url, the rules are still covered: each runbook lists its alerts."""
    data = yaml.safe_load(rules.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            rule.get("annotations", {}).pop("runbook_url", None)
    stripped = tmp_path / rules.name
    stripped.write_text(yaml.safe_dump(data))
    assert_fully_covered(rules)
    assert_fully_covered(stripped)


def test_lint_rules_on_every_shipped_file_at_once_is_full_coverage() -> None:
    assert_fully_covered(*RULES)
    assert len(set().union(*map(alert_names, RULES))) >= 63


def test_the_etcd_file_carries_the_mixin_names() -> None:
    assert alert_names(ROOT / "runbooks" / "rules" / "etcd.yml") == ETCD_MIXIN


# The series both etcd promtool units start from: of three members, m2 goes down at 2m and m3
# at 4m, when m1 also loses its leader (a ``str.format`` argument, so single braces).
MEMBERS_GOING_DOWN = """\
  - interval: 1m
    input_series:
      - series: 'up{job="etcd",instance="m1"}'
        values: '1x20'
      - series: 'up{job="etcd",instance="m2"}'
        values: '1 1 0x18'
      - series: 'up{job="etcd",instance="m3"}'
        values: '1 1 1 1 0x16'
      - series: 'etcd_server_has_leader{job="etcd",instance="m1"}'
        values: '1 1 1 1 0x16'"""


PROMTOOL_TEST = """\
rule_files: [{rules}]
evaluation_interval: 1m
tests:
{members_going_down}
    alert_rule_test:
      - eval_time: 1m
        alertname: etcdMembersDown
        exp_alerts: []
      - eval_time: 8m
        alertname: etcdNoLeader
        exp_alerts:
          - exp_labels: {{severity: critical, job: etcd, instance: m1}}
            exp_annotations:
              summary: etcd cluster has no leader.
              description: 'member m1 of etcd cluster "etcd" has no leader.'
              runbook_url: runbooks/etcd-member-down.md
      - eval_time: 9m
        alertname: etcdInsufficientMembers
        exp_alerts:
          - exp_labels: {{severity: critical, job: etcd}}
            exp_annotations:
              summary: etcd cluster has insufficient number of members.
              description: 'etcd cluster "etcd": insufficient members (1).'
              runbook_url: runbooks/etcd-member-down.md
      - eval_time: 13m
        alertname: etcdMembersDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: etcd}}
            exp_annotations:
              summary: etcd cluster members are down.
              description: 'etcd cluster "etcd": members are down (2).'
              runbook_url: runbooks/etcd-member-down.md
"""


def test_the_paging_etcd_alerts_fire_under_their_names(tmp_path: Path) -> None:
    rules = ROOT / "runbooks" / "rules" / "etcd.yml"
    assert_promtool_tests_pass(
        tmp_path, PROMTOOL_TEST.format(rules=rules, members_going_down=MEMBERS_GOING_DOWN)
    )


# gRPC requests handled per 15s, by (method, code): 2% of Range and 9% of Put requests fail;
# Txn's NotFound is an answer, not a failure.
GRPC_HANDLED = {
    ("Range", "OK"): 100,
    ("Range", "Unavailable"): 2,
    ("Put", "OK"): 100,
    ("Put", "Unavailable"): 10,
    ("Txn", "NotFound"): 10,
}
GRPC_SERIES = "\n".join(
    f'      - series: \'grpc_server_handled_total{{grpc_service="KV",'
    f'grpc_method="{method}",grpc_code="{code}"}}\'\n        values: \'0+{count}x40\''
    for (method, code), count in GRPC_HANDLED.items()
)

AWESOME_PROMTOOL_TEST = """\
rule_files: [{rules}]
evaluation_interval: 15s
tests:
{members_going_down}
    alert_rule_test:
      - eval_time: 3m
        alertname: EtcdInsufficientMembersForQuorum
        exp_alerts: []
      - eval_time: 6m
        alertname: EtcdInsufficientMembersForQuorum
        exp_alerts: []
      - eval_time: 7m
        alertname: EtcdInsufficientMembersForQuorum
        exp_alerts:
          - exp_labels: {{severity: critical, job: etcd}}
            exp_annotations:
              summary: too few etcd members are reachable for quorum (1)
              runbook_url: runbooks/etcd-member-down.md
      - eval_time: 4m
        alertname: EtcdNoLeader
        exp_alerts:
          - exp_labels: {{severity: critical, job: etcd, instance: m1}}
            exp_annotations:
              summary: etcd has no leader (instance m1)
              runbook_url: runbooks/etcd-member-down.md
  - interval: 15s
    input_series:
{grpc_series}
    alert_rule_test:
      - eval_time: 5m
        alertname: EtcdHighNumberOfFailedGrpcRequestsWarning
        exp_alerts:
          - exp_labels: {{severity: warning, grpc_service: KV, grpc_method: Range}}
            exp_annotations:
              summary: more than 1% of etcd gRPC Range requests fail
              runbook_url: runbooks/etcd-slow.md
          - exp_labels: {{severity: warning, grpc_service: KV, grpc_method: Put}}
            exp_annotations:
              summary: more than 1% of etcd gRPC Put requests fail
              runbook_url: runbooks/etcd-slow.md
      - eval_time: 5m
        alertname: EtcdHighNumberOfFailedGrpcRequestsCritical
        exp_alerts:
          - exp_labels: {{severity: critical, grpc_service: KV, grpc_method: Put}}
            exp_annotations:
              summary: more than 5% of etcd gRPC Put requests fail
              runbook_url: runbooks/etcd-slow.md
"""


def test_the_paging_awesome_etcd_alerts_fire_under_upstreams_names(tmp_path: Path) -> None:
    """etcd-awesome.yml's quorum and leader pages fire under upstream's names (one member of
    three down is not a quorum loss), and its two failed-gRPC rules keep their own thresholds:
    2% failing Range requests warn, 9% failing Puts also page, NotFound is not a failure."""
    rules = ROOT / "runbooks" / "rules" / "etcd-awesome.yml"
    unit_test = AWESOME_PROMTOOL_TEST.format(
        rules=rules, members_going_down=MEMBERS_GOING_DOWN, grpc_series=GRPC_SERIES
    )
    assert_promtool_tests_pass(tmp_path, unit_test)
