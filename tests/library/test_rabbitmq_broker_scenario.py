"""The rabbitmq-broker scenarios (a node down, a partition) against the shipped RabbitMQ rules
and against their runbook.

Their pages are not made up: each scenario's series up to the page, fed to ``promtool test
rules`` with ``runbooks/rules/rabbitmq.yml``, fire exactly the alerts the scenario fires then
and no other rule of the file. The runbook follows the scenario's path (the parametrised path test);
here, a trainee who names a node the rest of the cluster still counts as running is refused
the restart, by the checks that guard it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drill.test_scenario_path import run
from tests.library.test_etcd_slow_scenario import assert_fires_exactly, at_the_page

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "console" / "data" / "scenarios"
SCENARIO = SCENARIOS / "rabbitmq-broker.yaml"
PAGES = {
    "rabbitmq-broker": {"RabbitmqDown", "RabbitmqClusterDown"},
    "rabbitmq-partition": {"RabbitmqClusterPartition"},
}
RUNBOOK = ROOT / "runbooks" / "rabbitmq-broker.md"
RULES = ROOT / "runbooks" / "rules" / "rabbitmq.yml"


@pytest.mark.parametrize("name", PAGES)
def test_the_pages_fire_from_the_series_under_the_shipped_rules(name: str, tmp_path: Path) -> None:
    simulator, page = at_the_page(SCENARIOS / f"{name}.yaml")
    assert {a.alertname for a in simulator.alerts.values()} == PAGES[name]
    assert_fires_exactly(tmp_path, simulator, page, RULES)


def test_restarting_a_node_the_rest_still_counts_is_refused() -> None:
    code, out = run(RUNBOOK, SCENARIO, "--yes", "--no-journal", "--var", "member=r2")
    assert code == 1
    # r1 still counts r2 as running, and from r3 (down) no majority is seen: both guards fail
    assert "r1: fail: stdout does not contain 'is not running here'" in out
    assert (
        "refused: requires checks that have not passed in this run: "
        "majority-holds (fail), node-outside (fail)"
    ) in out
    assert "missed: restart" in out
