"""The etcd-slow scenario against real Prometheus rules and against its runbook.

Its pages are not made up: the scenario's series up to the page, fed to ``promtool test rules``
with the shipped etcd mixin rules, fire exactly the alerts the scenario fires then (same labels,
same annotations) and no other rule of the file. The runbook passes on it (the parametrised path
test), and a trainee who hands leadership to the slow member itself is refused as etcd refuses.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from console.drill.clock import DrillClock
from console.drill.run import first_page
from console.drill.scenario import load_scenario
from console.drill.series import SCRAPE_INTERVAL
from console.drill.simulator import SimAlert, Simulator
from tests.drill.test_scenario_path import run
from tests.foundation.test_shipped_rules import alert_names, assert_promtool_tests_pass

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "console" / "data" / "scenarios" / "etcd-slow.yaml"
RUNBOOK = ROOT / "runbooks" / "etcd-slow.md"
RULES = ROOT / "runbooks" / "rules" / "etcd.yml"


def at_the_page(scenario_file: Path = SCENARIO) -> tuple[Simulator, float]:
    """The simulated cluster at the scenario's first page, with the injects before it applied."""
    scenario = load_scenario(scenario_file)
    page = first_page(scenario)
    clock = DrillClock()
    clock.pause()
    simulator = Simulator(scenario, clock)
    clock.advance(page)
    simulator.tick()
    return simulator, page


def assert_fires_exactly(tmp_path: Path, simulator: Simulator, page: float, rules: Path) -> None:
    """``promtool test rules``: the scenario's series up to ``page`` fire, under ``rules``,
    exactly the alerts the simulator fires (labels and annotations too), every other rule of
    the file silent."""
    fired = list(simulator.alerts.values())
    test = {
        "rule_files": [str(rules)],
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
                    for name in sorted(alert_names(rules))
                ],
            }
        ],
    }
    assert_promtool_tests_pass(tmp_path, yaml.safe_dump(test))


def input_series(simulator: Simulator, until: float) -> list[dict[str, str]]:
    """Every simulated series as promtool input: one value per scrape from 0 to ``until``."""
    out = []
    for series in simulator.series.all():
        samples = series.samples(until)
        times = [t for t, _ in samples]
        steps = round(until / SCRAPE_INTERVAL)
        assert times == [i * SCRAPE_INTERVAL for i in range(steps + 1)], series.name
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(series.labels.items()))
        values = " ".join(repr(v) for _, v in samples)
        out.append({"series": f"{series.name}{{{labels}}}", "values": values})
    return out


def expected(alerts: list[SimAlert]) -> list[dict[str, dict[str, str]]]:
    return [
        {
            "exp_labels": {k: v for k, v in a.all_labels.items() if k != "alertname"},
            "exp_annotations": a.annotations,
        }
        for a in alerts
    ]


def test_the_pages_fire_from_the_series_under_the_shipped_rules(tmp_path: Path) -> None:
    simulator, page = at_the_page()
    fired = {a.alertname for a in simulator.alerts.values()}
    # the paged ones as the scenario fires them (the critical etcdHighFsyncDurations not among
    # them), every other rule of the file silent
    assert fired == {"etcdHighFsyncDurations", "etcdHighCommitDurations"}
    assert_fires_exactly(tmp_path, simulator, page, RULES)


def test_leadership_handed_to_the_slow_member_itself_is_refused() -> None:
    code, out = run(
        RUNBOOK, SCENARIO, "--yes", "--no-journal", "--var", "target_id=b265f8fc6f1aef01"
    )
    assert code == 1
    assert "Error: etcdserver: bad leader transferee" in out
    assert "unexpected verdict: move-leader fail (expected pass)" in out
