"""lint checks PromQL: ``promql`` blocks, catalog checks, config panels, scenario ``when:``s.

A query that does not parse is an error at its file and line; one the drill simulator cannot
evaluate is a warning (it still runs against Prometheus)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli

RUNBOOK = """---
id: sample
title: Sample
vars:
  member: {prompt: "Which member?", pattern: "^m[0-9]+$"}
---
# Sample

## 1. Step
```promql check
#| id: leaders
sum(etcd_server_has_leader{instance="{{member}}"}
```

```promql check
#| id: native
histogram_count(rate(http_request_duration_seconds[5m]))
```

```promql check
#| id: fine
sum(rate(etcd_server_proposals_failed_total{instance="{{member}}"}[5m])) > 0
```
"""


def lint(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(
        cli, ["lint", *args], env={"INCIDENT_CONSOLE_CONFIG": ""}, catch_exceptions=False
    )
    return result.exit_code, result.output.splitlines()


def has(output: list[str], start: str, end: str) -> bool:
    """Whether a line of ``output`` starts with ``start`` and ends with ``end``."""
    return any(line.startswith(start) and line.endswith(end) for line in output)


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text().split("\n")
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def test_promql_blocks_syntax_errors_and_what_the_simulator_cannot_evaluate(
    tmp_path: Path,
) -> None:
    book = tmp_path / "rb.md"
    book.write_text(RUNBOOK)
    code, output = lint(str(book))
    assert code == 1
    error = line_of(book, "sum(etcd_server_has_leader")
    assert f"{book}:{error}: PromQL does not parse: unclosed left parenthesis" in output
    warning = line_of(book, "histogram_count(")
    assert (
        f"{book}:{warning}: warning: the drill simulator cannot evaluate the function "
        "histogram_count() (Prometheus can)"
    ) in output
    assert not [line for line in output if "rb.md" in line and "proposals_failed" in line]
    assert sum("PromQL" in line or "simulator" in line for line in output) == 2


def test_catalog_checks_config_panels_and_scenarios(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    (folder / "checks").mkdir(parents=True)
    catalog = folder / "checks" / "etcd.yaml"
    catalog.write_text(
        textwrap.dedent("""
            checks:
              leader:
                lang: promql
                body: sum(etcd_server_has_leader) >
        """).lstrip()
    )
    scenario = folder / "drill.yaml"
    scenario.write_text(
        textwrap.dedent("""
            title: member down
            nodes: [{name: m2}]
            series: [{name: up, labels: {instance: m2}, value: 0}]
            panels:
              - {kind: backlog, title: Depth, query: 'sum(limitk(1, dlq_depth))'}
            responses:
              - match: 'etcdctl'
                when: 'up{instance=~"m\\\\d"} =='
        """).lstrip()
    )
    config = tmp_path / "console.yaml"
    config.write_text(
        textwrap.dedent(f"""
            runbooks: [{folder}]
            panels:
              - {{kind: backlog, title: DLQ, query: 'sum(dlq_depth'}}
        """).lstrip()
    )
    code, output = lint("--config", str(config), str(folder))
    assert code == 1
    assert f"{catalog}:2: PromQL does not parse: invalid promql query [body]" in output, output
    panel_line = line_of(config, "sum(dlq_depth")
    assert has(output, f"{config}:{panel_line}: PromQL does not parse", "[panels[0].query]")
    when = line_of(scenario, "when:")
    assert has(output, f"{scenario}:{when}: PromQL does not parse", "[responses[0].when]")
    panel = line_of(scenario, "limitk")
    assert (
        f"{scenario}:{panel}: warning: the drill simulator cannot evaluate the aggregation "
        "limitk (Prometheus can) [panels[0].query]"
    ) in output


def test_bundled_runbooks_checks_and_scenarios_lint_clean() -> None:
    data = Path(__file__).resolve().parents[2] / "console" / "data"
    code, output = lint(str(data / "runbooks"), str(data / "checks"), str(data / "scenarios"))
    assert code == 0, output
    assert not [line for line in output if "PromQL" in line or "simulator" in line], output
