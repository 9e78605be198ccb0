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
import yaml

from console.drill.clock import DrillClock
from console.drill.run import first_page
from console.drill.scenario import load_scenario
from console.drill.series import SCRAPE_INTERVAL
from console.drill.simulator import Simulator
from tests.drill.test_scenario_path import run
from tests.foundation.test_shipped_rules import alert_names, assert_promtool_tests_pass
from tests.library.test_etcd_slow_scenario import expected, input_series

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
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    page = first_page(scenario)
    clock = DrillClock()
    clock.pause()
    simulator = Simulator(scenario, clock)
    clock.advance(page)
    simulator.tick()
    fired = list(simulator.alerts.values())
    assert {a.alertname for a in fired} == PAGES[name]
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": f"{SCRAPE_INTERVAL:g}s",
        "tests": [
            {
                "interval": f"{SCRAPE_INTERVAL:g}s",
                "input_series": input_series(simulator, page),
                "alert_rule_test": [
                    {
                        "eval_time": f"{page:g}s",
                        "alertname": name,
                        "exp_alerts": expected([a for a in fired if a.alertname == name]),
                    }
                    for name in sorted(alert_names(RULES))
                ],
            }
        ],
    }
    assert_promtool_tests_pass(tmp_path, yaml.safe_dump(test))


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
