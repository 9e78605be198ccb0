"""The DLQ pack's shipped RabbitMQ rules (``runbooks/rules/rabbitmq.yml``).

They carry awesome-prometheus-alerts' names, real promtool accepts them and fires the paging ones
from series, every alert names a bundled runbook, and ``lint --rules`` reports full coverage.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli
from console.errors import ProblemList
from console.runbook.rules import read_rules
from tests.servers import binary

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "runbooks" / "rules" / "rabbitmq.yml"

# awesome-prometheus-alerts, rules/rabbitmq: the built-in plugin's queue alerts and the two only
# the kbudde exporter's set has (RabbitmqSlowQueueConsuming, RabbitmqDeadLetterQueueFillingUp)
SHIPPED = {
    "RabbitmqNoQueueConsumer",
    "RabbitmqTooManyUnackMessages",
    "RabbitmqTooManyReadyMessages",
    "RabbitmqUnroutableMessages",
    "RabbitmqSlowQueueConsuming",
    "RabbitmqDeadLetterQueueFillingUp",
}

PROMTOOL_TEST = """\
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'rabbitmq_queue_consumers{{queue="orders"}}'
        values: '3 3 0x10'
      - series: 'rabbitmq_queue_messages{{queue="orders.dlq"}}'
        values: '0 5 40x10'
      - series: 'rabbitmq_queue_messages{{queue="orders"}}'
        values: '500x12'
    alert_rule_test:
      - eval_time: 1m
        alertname: RabbitmqNoQueueConsumer
        exp_alerts: []
      - eval_time: 5m
        alertname: RabbitmqNoQueueConsumer
        exp_alerts:
          - exp_labels: {{severity: warning, queue: orders}}
            exp_annotations:
              summary: RabbitMQ no queue consumer (queue orders)
              runbook_url: runbooks/dlq-consumer-stalled.md
      - eval_time: 5m
        alertname: RabbitmqDeadLetterQueueFillingUp
        exp_alerts:
          - exp_labels: {{severity: warning, queue: orders.dlq}}
            exp_annotations:
              summary: RabbitMQ dead letter queue filling up (queue orders.dlq)
              runbook_url: runbooks/dlq-poison-message.md
"""


def test_promtool_accepts_the_rules_and_fires_the_paging_alerts(tmp_path: Path) -> None:
    promtool = binary("promtool", "prometheus")
    check = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = tmp_path / "test.yml"
    test.write_text(PROMTOOL_TEST.format(rules=RULES))
    fired = subprocess.run(
        [promtool, "test", "rules", str(test)], capture_output=True, text=True, timeout=60
    )
    assert fired.returncode == 0, fired.stdout + fired.stderr


def test_the_names_are_the_public_ones_and_each_names_a_bundled_runbook() -> None:
    problems = ProblemList()
    rules = read_rules(RULES, problems)
    assert not problems, [str(p) for p in problems]
    assert {r.alert for r in rules} == SHIPPED
    for rule in rules:
        url = rule.annotations["runbook_url"]
        assert (ROOT / url).is_file(), f"{rule.alert} -> {url}"


def test_lint_rules_prints_full_coverage() -> None:
    result = CliRunner().invoke(
        cli,
        ["lint", str(ROOT / "runbooks"), str(ROOT / "checks"), "--rules", str(RULES)],
        env={"INCIDENT_CONSOLE_CONFIG": ""},
    )
    assert result.exit_code == 0, result.output
    assert f"coverage: {len(SHIPPED)}/{len(SHIPPED)} alerts have a runbook" in result.output
