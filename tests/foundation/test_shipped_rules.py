"""The rules shipped with the runbook library (``runbooks/rules/*.yml``, issue 12 item 6).

They carry the alert names of the public rule sets (the etcd mixin, awesome-prometheus-alerts),
real Prometheus tooling accepts them (``promtool check rules`` and, for the paging alerts,
``promtool test rules`` with series that must fire them), every alert has a ``runbook_url``,
and ``lint --rules`` on them reports full coverage by the bundled runbooks.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import yaml
from click.testing import CliRunner

from console.cli import cli
from console.errors import ProblemList
from console.runbook.rules import read_rules
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


def alert_names(path: Path) -> set[str]:
    problems = ProblemList()
    rules = read_rules(path, problems)
    assert not problems, [str(p) for p in problems]
    return {r.alert for r in rules}


def test_promtool_accepts_every_shipped_rule_file() -> None:
    names = {p.name for p in RULES}
    assert {"dlq.yml", "etcd-awesome.yml", "etcd.yml", "redis.yml"} <= names
    result = subprocess.run(
        [binary("promtool", "prometheus"), "check", "rules", *map(str, RULES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULES)


def test_the_etcd_file_carries_the_mixin_names() -> None:
    assert alert_names(ROOT / "runbooks" / "rules" / "etcd.yml") == ETCD_MIXIN


def test_every_alert_has_a_runbook_url_naming_a_bundled_runbook() -> None:
    runbooks = {p.name for p in (ROOT / "runbooks").glob("*.md")}
    for path in RULES:
        problems = ProblemList()
        for rule in read_rules(path, problems):
            url = rule.annotations.get("runbook_url", "")
            assert url.rsplit("/", 1)[-1] in runbooks, f"{path.name}: {rule.alert} -> {url!r}"


def test_lint_rules_on_the_shipped_rules_is_full_coverage() -> None:
    args = ["lint", str(ROOT / "runbooks"), str(ROOT / "checks")]
    for path in RULES:
        args += ["--rules", str(path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    total = len(set().union(*map(alert_names, RULES)))
    assert f"coverage: {total}/{total} alerts have a runbook" in result.stdout
    assert total >= 43  # etcd (mixin and awesome names), DLQ, Redis at least
    assert "no runbook" not in result.stdout


def test_coverage_comes_from_alerts_lists_alone(tmp_path: Path) -> None:
    """Stripped of runbook_url, the rules are still covered: each runbook lists its alerts."""
    args = ["lint", str(ROOT / "runbooks"), str(ROOT / "checks")]
    for path in RULES:
        data = yaml.safe_load(path.read_text())
        for group in data["groups"]:
            for rule in group["rules"]:
                rule["annotations"].pop("runbook_url")
        stripped = tmp_path / path.name
        stripped.write_text(yaml.safe_dump(data))
        args += ["--rules", str(stripped)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    total = len(set().union(*map(alert_names, RULES)))
    assert f"coverage: {total}/{total} alerts have a runbook" in result.stdout


PROMTOOL_TEST = """\
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="etcd",instance="m1"}}'
        values: '1x20'
      - series: 'up{{job="etcd",instance="m2"}}'
        values: '1 1 0x18'
      - series: 'up{{job="etcd",instance="m3"}}'
        values: '1 1 1 1 0x16'
      - series: 'etcd_server_has_leader{{job="etcd",instance="m1"}}'
        values: '1 1 1 1 0x16'
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
    test = tmp_path / "test.yml"
    test.write_text(textwrap.dedent(PROMTOOL_TEST).format(rules=rules))
    result = subprocess.run(
        [binary("promtool", "prometheus"), "test", "rules", str(test)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
