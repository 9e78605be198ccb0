"""``incident-console lint``: every problem in runbooks, catalog checks and the config."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli import cli
from console.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    config_option,
    echo,
    echo_json,
    load_config_or_exit,
)
from console.errors import ProblemList
from console.runbook.lint import lint
from console.runbook.rules import coverage, misnamed_alerts


@cli.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--rules",
    "rule_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Prometheus rule file; report alerts no runbook answers. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print problems as JSON.")
@config_option
def lint_cmd(
    paths: tuple[Path, ...], rule_files: tuple[Path, ...], as_json: bool, config_path: str | None
) -> None:
    """Check runbooks, catalog checks and the config; report every problem.

    PATHS are runbook files or folders (default: the config's runbooks and checks folders).
    Problems print as file:line: message. Exit 1 if any is an error, 0 otherwise (warnings are
    advice), 2 if the config itself cannot be loaded.
    """
    loaded = load_config_or_exit(config_path)
    report = lint(list(paths), loaded)
    problems = report.problems
    cover = None
    if rule_files:
        rule_problems = ProblemList()
        cover = coverage(list(rule_files), report.runbooks, rule_problems)
        misnamed_alerts(cover, report.runbooks, rule_problems)
        problems.extend(rule_problems)
        for rule in cover.uncovered:
            near = cover.near_misses.get((rule.file, rule.line))
            hint = (
                f"; did you mean {', '.join(near)}? alert names are case-sensitive" if near else ""
            )
            problems.add(
                rule.file,
                rule.line,
                f"alert {rule.alert!r} has no runbook "
                f"(no runbook lists it under alerts:, and no runbook_url resolves){hint}",
                code="no-runbook",
            )
    ordered = sorted(problems.items, key=lambda p: (p.file, p.line, p.message))
    if as_json:
        out: dict[str, object] = {
            "ok": not problems.errors,
            "runbook_files": report.files,
            "problems": [p.to_json() for p in ordered],
            "skipped": [{"file": str(f), "reason": why} for f, why in report.skipped],
        }
        if cover is not None:
            out["coverage"] = {
                "alerts": len({r.alert for r in cover.rules}),
                "uncovered": sorted({r.alert for r in cover.uncovered}),
            }
        echo_json(out)
    else:
        for problem in ordered:
            echo(str(problem))
        for file, why in report.skipped:
            echo(f"{file}: skipped: {why}")
        errors = len(problems.errors)
        warnings = len(problems) - errors
        echo(
            f"{report.files} runbook file(s) checked: {errors} error(s), {warnings} warning(s)",
            err=True,
        )
        if cover is not None:
            echo(cover.summary)
    raise SystemExit(EXIT_FINDINGS if problems.errors else EXIT_OK)
