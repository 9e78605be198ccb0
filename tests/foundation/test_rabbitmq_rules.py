"""The DLQ pack's shipped RabbitMQ rules (``runbooks/rules/rabbitmq.yml``).

They carry awesome-prometheus-alerts' names and real promtool fires the paging ones from
series. That promtool accepts the file, every alert names a bundled runbook and ``lint --rules``
reports full coverage is ``test_shipped_rules.py``'s job, as for every rule file.
"""

from __future__ import annotations

from pathlib import Path

from tests.foundation.test_shipped_rules import alert_names, assert_promtool_tests_pass

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


def test_promtool_fires_the_paging_alerts(tmp_path: Path) -> None:
    assert_promtool_tests_pass(tmp_path, PROMTOOL_TEST.format(rules=RULES))


def test_the_names_are_the_public_ones() -> None:
    assert alert_names(RULES) == SHIPPED
