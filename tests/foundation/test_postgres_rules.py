"""The shipped PostgreSQL rules (``runbooks/rules/postgres.yml``): promtool accepts them, the
paging alerts fire under their awesome-prometheus-alerts names on the metrics Debian's
prometheus-postgres-exporter 0.11 exposes (and the newer exporter's lag in seconds), and every
alert has a bundled runbook."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli
from tests.servers import binary

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "runbooks" / "rules" / "postgres.yml"

PROMTOOL_TEST = """\
rule_files: ['{rules}']
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'pg_up{{instance="pg1:9187"}}'
        values: '1 1 0 0 0'
      - series: 'pg_up{{instance="pg2:9187"}}'
        values: '1 1 1 1 1'
      # exporter 0.11, on the primary: bytes the replica has not replayed
      - series: 'pg_stat_replication_pg_wal_lsn_diff{{instance="pg1:9187",application_name="pg2"}}'
        values: '0 1048576 20971520 25165824 30000000 35000000'
      - series: 'pg_stat_replication_pg_wal_lsn_diff{{instance="pg1:9187",application_name="pg3"}}'
        values: '0 1048576 1048576 1048576 1048576 1048576'
      # exporter 0.13 and later, on the replica: seconds behind
      - series: 'pg_replication_lag_seconds{{instance="pg4:9187"}}'
        values: '0 10 10 10 10 10'
      # 90 of 100 connections used for more than 2 minutes
      - series: 'pg_stat_activity_count{{instance="pg5:9187",state="idle in transaction"}}'
        values: '70x4 90x12'
      - series: 'pg_settings_max_connections{{instance="pg5:9187"}}'
        values: '100x16'
    alert_rule_test:
      - eval_time: 45s
        alertname: PostgresqlDown
        exp_alerts:
          - exp_labels: {{severity: critical, instance: "pg1:9187"}}
            exp_annotations:
              summary: Postgresql down (instance pg1:9187)
              runbook_url: runbooks/postgres-primary-down.md
      - eval_time: 75s
        alertname: PostgresqlReplicationLag
        exp_alerts:
          - exp_labels: {{severity: warning, instance: "pg1:9187", application_name: pg2}}
            exp_annotations:
              summary: Postgresql replication lag (instance pg1:9187)
              runbook_url: runbooks/postgres-replica-lag.md
          - exp_labels: {{severity: warning, instance: "pg4:9187"}}
            exp_annotations:
              summary: Postgresql replication lag (instance pg4:9187)
              runbook_url: runbooks/postgres-replica-lag.md
      - eval_time: 15s
        alertname: PostgresqlReplicationLag
        exp_alerts: []
      - eval_time: 105s
        alertname: PostgresqlTooManyConnections
        exp_alerts: []
      - eval_time: 195s
        alertname: PostgresqlTooManyConnections
        exp_alerts:
          - exp_labels: {{severity: warning, instance: "pg5:9187"}}
            exp_annotations:
              summary: Postgresql too many connections (instance pg5:9187)
              runbook_url: runbooks/postgres-too-many-connections.md
"""


def test_promtool_accepts_the_postgres_rules() -> None:
    result = subprocess.run(
        [binary("promtool", "prometheus"), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_down_lag_and_connections_fire_under_their_names(tmp_path: Path) -> None:
    test = tmp_path / "test.yml"
    test.write_text(textwrap.dedent(PROMTOOL_TEST).format(rules=RULES))
    result = subprocess.run(
        [binary("promtool", "prometheus"), "test", "rules", str(test)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_postgres_alert_has_a_bundled_runbook() -> None:
    result = CliRunner().invoke(
        cli,
        ["lint", str(ROOT / "runbooks"), str(ROOT / "checks"), "--rules", str(RULES)],
        env={"INCIDENT_CONSOLE_CONFIG": ""},
    )
    assert result.exit_code == 0, result.output
    assert "coverage: 5/5 alerts have a runbook" in result.output
