"""The shipped RabbitMQ rules (``runbooks/rules/rabbitmq.yml``): the DLQ pack's queue alerts and
the broker's own (``rabbitmq-broker``).

They carry awesome-prometheus-alerts' names and real promtool fires the paging ones from
series. That promtool accepts the file, every alert names a bundled runbook and ``lint --rules``
reports full coverage is ``test_shipped_rules.py``'s job, as for every rule file.
"""

from __future__ import annotations

from pathlib import Path

from tests.foundation.test_shipped_rules import alert_names, assert_promtool_tests_pass

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "runbooks" / "rules" / "rabbitmq.yml"

# awesome-prometheus-alerts, rules/rabbitmq: the built-in plugin's broker and queue alerts, and
# those only the kbudde exporter's set has (its broker alerts, RabbitmqSlowQueueConsuming,
# RabbitmqDeadLetterQueueFillingUp)
SHIPPED = {
    "RabbitmqNodeDown",
    "RabbitmqNodeNotDistributed",
    "RabbitmqInstancesDifferentVersions",
    "RabbitmqMemoryHigh",
    "RabbitmqFileDescriptorsUsage",
    "RabbitmqTooManyConnections",
    "RabbitmqDown",
    "RabbitmqClusterDown",
    "RabbitmqClusterPartition",
    "RabbitmqOutOfMemory",
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
  # The broker: r3 stops (its plugin's series vanish, the kbudde exporter beside it reports
  # rabbitmq_up 0), then r2 is cut off from r1 and r1's memory climbs past 90% of its limit.
  - interval: 1m
    input_series:
      - series: 'rabbitmq_build_info{{instance="r1",rabbitmq_version="3.12.13"}}'
        values: '1x10'
      - series: 'rabbitmq_build_info{{instance="r2",rabbitmq_version="3.12.13"}}'
        values: '1x10'
      - series: 'rabbitmq_build_info{{instance="r3",rabbitmq_version="3.12.13"}}'
        values: '1 1 _x8'
      - series: 'rabbitmq_up{{instance="r3"}}'
        values: '1 1 0x8'
      - series: 'rabbitmq_partitions{{instance="r1",node="rabbit@r1"}}'
        values: '0 0 0 0 1x6'
      - series: 'erlang_vm_dist_node_state{{instance="r1",peer="rabbit@r2"}}'
        values: '3 3 3 3 1x6'
      - series: 'rabbitmq_process_resident_memory_bytes{{instance="r1"}}'
        values: '1e9 1e9 1e9 1e9 7e9x6'
      - series: 'rabbitmq_resident_memory_limit_bytes{{instance="r1"}}'
        values: '7.2e9x10'
    alert_rule_test:
      - eval_time: 1m
        alertname: RabbitmqNodeDown
        exp_alerts: []
      - eval_time: 2m
        alertname: RabbitmqDown
        exp_alerts:
          - exp_labels: {{severity: critical, instance: r3}}
            exp_annotations:
              summary: RabbitMQ down (instance r3)
              runbook_url: runbooks/rabbitmq-broker.md
      # r3's last sample is 1m old at 2m: still within the lookback; gone after 5m
      - eval_time: 7m
        alertname: RabbitmqNodeDown
        exp_alerts:
          - exp_labels: {{severity: critical}}
            exp_annotations:
              summary: RabbitMQ node down (fewer than 3 nodes running)
              runbook_url: runbooks/rabbitmq-broker.md
      - eval_time: 4m
        alertname: RabbitmqClusterPartition
        exp_alerts:
          - exp_labels: {{severity: critical, instance: r1, node: rabbit@r1}}
            exp_annotations:
              summary: RabbitMQ cluster partition (instance r1)
              runbook_url: runbooks/rabbitmq-broker.md
      - eval_time: 4m
        alertname: RabbitmqNodeNotDistributed
        exp_alerts:
          - exp_labels: {{severity: critical, instance: r1, peer: rabbit@r2}}
            exp_annotations:
              summary: RabbitMQ node not distributed (instance r1, peer rabbit@r2)
              runbook_url: runbooks/rabbitmq-broker.md
      - eval_time: 5m
        alertname: RabbitmqMemoryHigh
        exp_alerts: []
      - eval_time: 6m
        alertname: RabbitmqMemoryHigh
        exp_alerts:
          - exp_labels: {{severity: warning, instance: r1}}
            exp_annotations:
              summary: RabbitMQ memory high (instance r1)
              runbook_url: runbooks/rabbitmq-broker.md
"""


def test_promtool_fires_the_paging_alerts(tmp_path: Path) -> None:
    assert_promtool_tests_pass(tmp_path, PROMTOOL_TEST.format(rules=RULES))


def test_the_names_are_the_public_ones() -> None:
    assert alert_names(RULES) == SHIPPED
