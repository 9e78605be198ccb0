"""`lint --rules`: alerting rules without a runbook, and the coverage line."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli

ROOT = Path(__file__).resolve().parents[2]

RULES = """
groups:
  - name: etcd
    rules:
      - alert: etcdMembersDown
        expr: up{job="etcd"} == 0
      - record: job:up:sum
        expr: sum(up)
      - alert: EtcdHighFsyncLatency
        expr: histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])) > 0.5
        annotations:
          runbook_url: https://wiki.example.invalid/runbooks/etcd-member-down.md
      - alert: EtcdDatabaseQuotaLow
        expr: etcd_mvcc_db_total_size_in_bytes > 6e9
  - name: queue
    rules:
      - alert: DLQBacklogGrowing
        expr: deriv(dlq_depth[10m]) > 0
      - alert: ConsumerLagHigh
        expr: consumer_lag > 1000
        annotations:
          runbook_url: file:///nowhere/consumer-lag.md
"""


def test_uncovered_alerts_and_coverage(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    shutil.copytree(ROOT / "checks", tmp_path / "checks")
    rules = tmp_path / "rules.yml"
    rules.write_text(textwrap.dedent(RULES).lstrip())
    result = CliRunner().invoke(cli, ["lint", "--rules", str(rules)])
    assert result.exit_code == 1
    out = result.output.splitlines()
    assert (
        f"{rules}:12: alert 'EtcdDatabaseQuotaLow' has no runbook (no runbook lists it under "
        "alerts:, and no runbook_url resolves)" in out
    )
    assert any(line.startswith(f"{rules}:18: alert 'ConsumerLagHigh'") for line in out)
    assert "coverage: 3/5 alerts have a runbook" in out
    assert not any("EtcdHighFsyncLatency" in line for line in out)  # covered by runbook_url


def test_not_a_rule_file(tmp_path: Path) -> None:
    rules = tmp_path / "r.yml"
    rules.write_text("foo: bar\n")
    result = CliRunner().invoke(cli, ["lint", str(tmp_path), "--rules", str(rules)])
    assert f"{rules}:1: a Prometheus rule file has a 'groups:' list" in result.output
    assert result.exit_code == 1
