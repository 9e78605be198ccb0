"""The shipped PostgreSQL rules (``runbooks/rules/postgres.yml``): the paging alerts fire under
their awesome-prometheus-alerts names on the metrics Debian's prometheus-postgres-exporter 0.11
exposes (and the newer exporter's lag in seconds). That promtool accepts the file and every alert
has a bundled runbook is ``test_shipped_rules.py``'s job, as for every rule file."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.foundation.test_shipped_rules import alert_names, assert_promtool_tests_pass

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


def test_the_five_alerts_carry_the_awesome_names() -> None:
    assert alert_names(RULES) == {
        "PostgresqlDown",
        "PostgresqlRestarted",
        "PostgresqlTooManyConnections",
        "PostgresqlReplicationLag",
        "PostgresqlUnusedReplicationSlot",
    }


def test_down_lag_and_connections_fire_under_their_names(tmp_path: Path) -> None:
    assert_promtool_tests_pass(tmp_path, textwrap.dedent(PROMTOOL_TEST).format(rules=RULES))
