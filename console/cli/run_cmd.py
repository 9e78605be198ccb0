"""``incident-console run RUNBOOK``: run a runbook's blocks headless.

Prints each step's results as it finishes: a verdict table per block, then every node's
output grouped under the node (never interleaved). Actions run only with ``--yes`` or a
confirmation typed on the terminal; without a terminal and without ``--yes`` they are declined
and recorded so. Exit 0 when every block that ran passed, 1 when any failed, errored, was
indeterminate, declined or refused, 2 for usage, config or runbook errors (printed as
``file:line: message``), 130 when interrupted. With ``--scenario`` whose ``expected:`` path is
given, exit 0 exactly when the run followed that path with the verdicts it expects (a check
that proves the member is down fails by design), 1 when it left it. An error that stops the
run is journalled and the log closed before it is printed (exit 2).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import click

from console.cli import cli
from console.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    accept_risk_option,
    check_policy_or_exit,
    config_option,
    die,
    echo,
    echo_json,
    load_config_or_exit,
    print_problems,
    printer_redactor,
    speed_option,
)
from console.config import LoadedConfig
from console.drill.debrief import Debrief, debrief
from console.drill.run import DrillRun
from console.drill.scenario import path_problems
from console.durations import format_duration, parse_duration
from console.errors import Problem, SourceError
from console.execute import (
    BlockPlan,
    BlockRun,
    ConfirmAnswer,
    ConfirmRequest,
    NodeRun,
    RunbookSession,
    SessionRun,
    StepRun,
)
from console.incident import error_text
from console.journal.events import JournalFault
from console.journal.fold import IncidentState
from console.journal.log import JournalError
from console.runbook.catalog import Catalog, require_catalog
from console.runbook.model import Block, Runbook, Step, VarSpec
from console.runbook.parse import load_runbook
from console.runbook.render import VarError
from console.sanitize import visible
from console.workspace import HeadlessRun, Workspace, planning_session, run_workspace

EXIT_INTERRUPTED = 130


@cli.command("run")
@click.argument("runbook_path", metavar="RUNBOOK", type=click.Path(dir_okay=False))
@click.option(
    "--step", "step_refs", multiple=True, metavar="ID", help="Run only this step (number or slug)."
)
@click.option("--only", type=click.Choice(["checks"]), help="Run only the checks, no actions.")
@click.option("--nodes", metavar="SEL", help="Narrow every block to nodes this selector matches.")
@click.option(
    "--var", "var_items", multiple=True, metavar="NAME=VALUE", help="Set a runbook variable."
)
@click.option("--yes", is_flag=True, help="Confirm every action without asking.")
@click.option("--dry-run", is_flag=True, help="Show rendered commands and nodes; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--journal",
    type=click.Path(path_type=Path),
    help="Incident log: a folder for a new log, or an existing .jsonl to append to "
    "(default: journal.dir from the config).",
)
@click.option("--no-journal", is_flag=True, help="Keep the events in memory only (no log).")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run against a drill scenario's simulated cluster instead of real nodes.",
)
@click.option(
    "--at",
    metavar="DURATION",
    help="With --scenario: the drill time to start at (default: when the first alert fires).",
)
@speed_option(10.0, "With --scenario: ")
@config_option
@accept_risk_option
def run_cmd(
    runbook_path: str,
    step_refs: tuple[str, ...],
    only: str | None,
    nodes: str | None,
    var_items: tuple[str, ...],
    yes: bool,
    dry_run: bool,
    as_json: bool,
    journal: Path | None,
    no_journal: bool,
    scenario: Path | None,
    at: str | None,
    speed: float,
    config_path: str | None,
    accept_risk: str | None,
) -> None:
    """Run a runbook's checks and actions headless, with per-node verdicts.

    Actions need --yes, or a confirmation typed on the terminal (the block id when the block
    or the profile asks for typed confirmation). Everything is written to an incident log, whose
    path and head hash are printed at the end. Exit 0 when every block passed, 1 when any
    failed, errored, was indeterminate or was declined, 2 for usage, config or runbook errors.
    With --scenario, the scenario's vars: fill the runbook's variables, and the exit is 0
    exactly when the run followed the scenario's expected path with its expected verdicts.
    """
    loaded = load_config_or_exit(config_path)
    accepted = check_policy_or_exit(loaded, accept_risk)
    runbook = _load_runbook_or_exit(runbook_path)
    drill = _drill_or_exit(loaded, scenario, speed, at, runbook) if scenario else None
    if drill is not None:
        loaded = drill.loaded
    config = loaded.config
    catalog = _catalog_or_exit(runbook, config.checks)
    # a scenario's vars: are its runbook's values on its path; --var still wins
    on_path = drill is not None and drill.scenario.is_for(runbook)
    variables = {**(drill.scenario.vars if drill and on_path else {}), **_parse_vars(var_items)}
    steps = _select_steps(runbook, step_refs)
    interactive = sys.stdin.isatty()
    headless = HeadlessRun(
        loaded,
        runbook,
        catalog,
        confirm=_confirmer(yes, interactive),
        prompt=_prompt if interactive else None,
        node_filter=nodes,
        risk_accepted=accept_risk is not None,
        drill=drill,
    )
    try:
        planner = planning_session(headless, variables)
    except VarError as exc:
        print_problems([exc.problem])
        die("a --var value was refused; nothing was run")
    except ValueError as exc:
        die(str(exc))
    # One loop for asking, building and running: the journal's commit timer and the
    # connections belong to the loop they were made on.
    with asyncio.Runner() as loop:
        blocks = planner.blocks(steps, only_checks=only == "checks")
        plans = _plan_or_exit(loop, planner, blocks)
        if dry_run:
            _print_plans(plans, as_json)
            raise SystemExit(EXIT_OK)
        try:
            workspace = loop.run(
                run_workspace(
                    headless,
                    dict(planner.values),
                    journal=journal,
                    in_memory=no_journal,
                    accepted=accepted,
                    accept_reason=accept_risk,
                    redactor=printer_redactor(),
                    on_fault=_fault_printer(),
                )
            )
        except KeyboardInterrupt:
            raise SystemExit(EXIT_INTERRUPTED) from None
        except JournalError as exc:
            die(str(exc))
        _print_warnings(workspace)
        try:
            result = loop.run(
                workspace.run_headless(
                    steps, only_checks=only == "checks", on_step=None if as_json else _print_step
                )
            )
        except KeyboardInterrupt:
            echo("interrupted: running commands were killed on their nodes", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        except JournalError as exc:
            die(str(exc))
        except Exception as exc:  # journalled, the log closed (or suspended), then said
            incident = workspace.incident
            loop.run(incident.stop_on_error("run", exc, close=not incident.state.resumes))
            where = f"; recorded in {incident.path}" if incident.path else ""
            die(visible(f"the run stopped on an error: {error_text(exc)}{where}"))
    incident = workspace.incident
    path = _scenario_path(drill, incident.state, blocks) if on_path else None
    failed = bool(path.deviations) if path is not None else not result.passed
    code = EXIT_FINDINGS if failed else EXIT_OK
    if as_json:
        out = _result_json(runbook, incident.incident_id, result, code)
        out["journal"] = str(incident.path) if incident.path else None
        out["head"] = incident.state.head if incident.path else None
        if path is not None:
            out["scenario"] = {"expected": path.expected, "deviations": path.deviations}
        echo_json(out)
    else:
        _print_summary(result, code, path)
        if drill is not None and not on_path:
            echo(
                visible(
                    f"scenario path: not scored: the scenario's vars: and expected: are for "
                    f"runbook {drill.scenario.runbook}, not {runbook.id}"
                )
            )
        if incident.path is not None:
            echo(f"incident log: {incident.path}")
            echo(f"head hash: {incident.state.head}")
    raise SystemExit(code)


# -- what the log and telemetry said ---------------------------------------------------------


def _print_warnings(workspace: Workspace) -> None:
    """The log's exposure warnings, then why telemetry is missing (if it is)."""
    for warning in workspace.incident.warnings:
        echo(f"incident-console: warning: {warning}", err=True)
    if workspace.telemetry_problem is not None:
        echo(
            f"telemetry: {workspace.telemetry_problem}; the log will hold no alerts or metrics",
            err=True,
        )


def _fault_printer() -> Callable[[JournalFault], None]:
    """Say when the journal starts failing and when it clears; the retries between are quiet."""
    failing: set[str] = set()

    def heard(fault: JournalFault) -> None:
        if fault.recovered:
            failing.discard(fault.operation)
            refused = (
                f"; decision(s) at seq {', '.join(map(str, fault.failed_seqs))} were refused "
                "and not acted on"
                if fault.failed_seqs
                else ""
            )
            echo(
                f"incident-console: journal: the {fault.operation} fault cleared after "
                f"{fault.attempts} attempt(s); the log is complete again{refused}",
                err=True,
            )
        elif fault.operation not in failing:
            failing.add(fault.operation)
            echo(
                f"incident-console: journal: cannot {fault.operation} the incident log: "
                f"{fault.error}; retrying (events are held in memory until it clears)",
                err=True,
            )

    return heard


# -- inputs ----------------------------------------------------------------------------------


def _load_runbook_or_exit(path: str) -> Runbook:
    try:
        return load_runbook(path)
    except SourceError as exc:
        print_problems(exc.problems)
        die(f"the runbook has {len(exc.problems)} problem(s); nothing was run")


def _drill_or_exit(
    loaded: LoadedConfig, scenario: Path, speed: float, at: str | None, runbook: Runbook
) -> DrillRun:
    try:
        drill = DrillRun.prepare(
            loaded, scenario, speed=speed, at=parse_duration(at) if at else None
        )
        problems = []
        if drill.scenario.is_for(runbook):
            ids = {b.id for b in runbook.blocks()}
            problems = path_problems(drill.scenario, ids, runbook.file)
    except SourceError as exc:
        problems = exc.problems
    except ValueError as exc:
        raise click.UsageError(f"--at {at!r}: {exc}") from None
    if problems:
        print_problems(problems)
        die(f"the scenario has {len(problems)} problem(s); nothing was run")
    return drill


def _catalog_or_exit(runbook: Runbook, paths: list[Any]) -> Catalog:
    if not any(b.options.use for b in runbook.blocks()):
        return Catalog()
    try:
        return require_catalog(paths, runbook.file)
    except SourceError as exc:
        print_problems(exc.problems)
        die("the checks catalog has problems; nothing was run")


def _parse_vars(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--var {item!r}: write it as NAME=VALUE")
        out[name.strip()] = value
    return out


def _select_steps(runbook: Runbook, refs: tuple[str, ...]) -> list[Step] | None:
    if not refs:
        return None
    chosen: list[Step] = []
    for ref in refs:
        step = runbook.step(ref)
        if step is None:
            known = ", ".join(f"{s.number} ({s.slug})" for s in runbook.steps)
            raise click.UsageError(f"--step {ref!r}: the runbook has no such step (steps: {known})")
        if step not in chosen:
            chosen.append(step)
    return sorted(chosen, key=lambda s: s.number)


T = TypeVar("T")


def _plan_or_exit(
    loop: asyncio.Runner, session: RunbookSession, blocks: list[Block]
) -> list[BlockPlan]:
    problems: list[Problem] = []

    def collect(step: Callable[[], T]) -> T | None:
        """Run one planning step; keep its problems instead of stopping at the first."""
        try:
            return step()
        except VarError as exc:
            problems.append(exc.problem)
        except SourceError as exc:
            problems.extend(exc.problems)
        return None

    collect(lambda: loop.run(session.ask_vars(blocks)))
    plans: list[BlockPlan] = []
    if not problems:
        for block in blocks:
            plan = collect(partial(session.plan, block))
            if plan is not None:
                plans.append(plan)
    if problems:
        print_problems(problems)
        die(f"{len(problems)} problem(s) before running; nothing was run")
    return plans


# -- confirmation and prompts ----------------------------------------------------------------


def _confirmer(
    yes: bool, interactive: bool
) -> Callable[[ConfirmRequest], Awaitable[ConfirmAnswer]]:
    async def confirm(request: ConfirmRequest) -> ConfirmAnswer:
        if yes:
            return ConfirmAnswer(True, "flag")
        if not interactive:
            return ConfirmAnswer(
                False, reason="declined: no terminal to confirm on and --yes was not given"
            )
        return await asyncio.to_thread(_ask_terminal, request)

    return confirm


def _ask_terminal(request: ConfirmRequest) -> ConfirmAnswer:
    block = request.block
    where = f"{block.file}:{block.line}"
    stage = {"all": "", "canary": " (canary)", "rest": " (the rest, after the canary)"}
    nodes = ", ".join(request.nodes)
    echo(f"\naction {block.id}{stage[request.stage]} at {where} on {nodes}:", err=True)
    for line in request.command.splitlines():
        echo(f"    {line}", err=True)
    if request.typed:
        answer = click.prompt(
            visible(f"type {block.id} to run it"), default="", show_default=False, err=True
        )
        if answer.strip() == block.id:
            return ConfirmAnswer(True, "typed")
        return ConfirmAnswer(False, reason=f"declined: typed {answer.strip()!r}, not {block.id!r}")
    if click.confirm("run it?", default=False, err=True):
        return ConfirmAnswer(True, "yes")
    return ConfirmAnswer(False, reason="declined at the terminal")


async def _prompt(name: str, spec: VarSpec, problem: str | None) -> str | None:
    if problem:
        echo(f"  {problem}", err=True)
    question = spec.prompt or f"value for {{{{{name}}}}}"
    if spec.default:  # shown here, made safe, rather than raw by click
        question += f" [{spec.default}]"
    answer: str = await asyncio.to_thread(
        click.prompt,
        visible(printer_redactor().text(question)),
        default=spec.default or "",
        show_default=False,
        err=True,
    )
    return answer or None


# -- output ----------------------------------------------------------------------------------

_MARK = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "indeterminate": "INDETERMINATE",
    "cancelled": "CANCELLED",
    "declined": "DECLINED",
    "refused": "REFUSED",
}


def _print_plans(plans: list[BlockPlan], as_json: bool) -> None:
    if as_json:
        out = [
            {
                "id": p.block.id,
                "kind": p.block.kind,
                "lang": p.block.lang,
                "step": p.block.step,
                "file": p.block.file,
                "line": p.block.line,
                "selector": p.selector,
                "nodes": [n.name for n in p.nodes],
                "commands": p.commands,
                "confirm": p.confirm,
                "timeout_s": p.timeout,
            }
            for p in plans
        ]
        echo_json({"dry_run": True, "blocks": out})
        return
    echo("dry run: nothing is sent anywhere")
    for plan in plans:
        block = plan.block
        where = f"{block.file}:{block.line}"
        if block.runs_on_nodes:
            nodes = ", ".join(n.name for n in plan.nodes) or "(no node matches)"
            target = f"on {plan.selector}: {nodes}"
        else:
            target = "from the console"
        confirm = f", confirm: {plan.confirm}" if plan.confirm != "none" else ""
        echo(
            f"\n-- {block.kind} {block.id} [{where}] {target} "
            f"(timeout {format_duration(plan.timeout)}{confirm})"
        )
        distinct = set(plan.commands.values())
        if len(distinct) <= 1:
            _indented(next(iter(distinct), ""), "   $ ")
        else:
            for node, command in plan.commands.items():
                echo(f"   [{node}]")
                _indented(command, "   $ ")


def _indented(text: str, prefix: str) -> None:
    for line in text.splitlines() or [""]:
        echo(f"{prefix}{line}")


def _print_step(step_run: StepRun) -> None:
    step = step_run.step
    echo(f"\n== Step {step.number}: {step.title}")
    for run in step_run.runs:
        _print_block(run)
    for block, reason in step_run.not_run:
        echo(f"-- {block.kind} {block.id} [{block.file}:{block.line}]: not run: {reason}")


def _print_block(run: BlockRun) -> None:
    block = run.block
    where = f"{block.file}:{block.line}"
    attempt = f", attempt {run.attempt}" if run.attempt > 1 else ""
    echo(
        f"-- {block.kind} {block.id} [{where}]: {_MARK[run.verdict]} "
        f"({format_duration(run.duration_s)}{attempt})"
    )
    if run.reason and (run.verdict != "pass"):
        echo(f"   {run.reason}")
    if run.nodes:
        _print_table(run.nodes)
    for node in run.nodes:
        _print_output(node)


def _print_table(nodes: list[NodeRun]) -> None:
    rows = [("NODE", "VERDICT", "EXIT", "TIME", "REASON")]
    for n in nodes:
        code = str(n.exit) if n.exit is not None else (n.signal or "-")
        if n.status is not None:
            code = str(n.status)
        elif n.value is not None and n.exit is None:
            code = f"{n.value:g}"
        rows.append((n.node, n.verdict, code, format_duration(n.duration_s), n.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        echo(("   " + "  ".join(cells) + "  " + row[4]).rstrip())


def _print_output(node: NodeRun) -> None:
    for stream, text in (("stdout", node.stdout), ("stderr", node.stderr)):
        if not text:
            continue
        echo(f"   --- {node.node} {stream} ---")
        for line in text.rstrip("\n").split("\n"):
            echo(f"   | {line}")
    for cut in node.truncations:
        echo(
            f"   [{node.node} {cut.stream} truncated: kept {cut.kept_bytes} bytes, dropped "
            f"{cut.dropped_bytes} bytes ({cut.dropped_lines} lines)]"
        )
    if node.invalid_utf8:
        echo(f"   [{node.node}: output had bytes that are not UTF-8; shown as U+FFFD]")


def _print_summary(result: SessionRun, code: int, path: Debrief | None) -> None:
    runs = result.runs
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.verdict] = counts.get(run.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items()) or "nothing ran"
    echo(f"\n{len(runs)} block(s): {tally}")
    if result.stopped:
        echo(f"stopped: {result.stopped}")
    if path is not None:
        expected = f"{len(path.expected)} expected block(s)"
        if path.deviations:
            echo(f"scenario path: {len(path.deviations)} deviation(s) from the {expected}:")
            for deviation in path.deviations:
                echo(f"   {deviation}")
        else:
            echo(f"scenario path: followed ({expected}, every verdict as expected)")
    if code != EXIT_OK:
        why = "the run left the scenario's expected path" if path else "not every block passed"
        echo(f"exit 1: {why}", err=True)


def _scenario_path(
    drill: DrillRun | None, state: IncidentState, blocks: list[Block]
) -> Debrief | None:
    """The run scored against its scenario's expected path (limited to the blocks this run
    could run: ``--step``, ``--only checks``); None without a scenario or an expected path."""
    if drill is None or not drill.scenario.expected:
        return None
    return debrief(drill.scenario, state, only={b.id for b in blocks})


_NODE_JSON_FIELDS = [
    "node",
    "verdict",
    "exit",
    "signal",
    "status",
    "value",
    "duration_s",
    "reason",
    "stdout",
    "stderr",
    "invalid_utf8",
]


def _node_json(n: NodeRun) -> dict[str, Any]:
    """One node's result for ``--json``: its fields, and what was cut from its output."""
    out = {name: getattr(n, name) for name in _NODE_JSON_FIELDS}
    out["duration_s"] = round(n.duration_s, 6)
    out["truncated"] = [dataclasses.asdict(t) for t in n.truncations]
    return out


def _result_json(runbook: Runbook, incident: str, result: SessionRun, code: int) -> dict[str, Any]:
    steps = []
    for step_run in result.steps:
        blocks = [
            {
                "id": r.block.id,
                "kind": r.block.kind,
                "lang": r.block.lang,
                "file": r.block.file,
                "line": r.block.line,
                "run": r.run,
                "attempt": r.attempt,
                "verdict": r.verdict,
                "reason": r.reason,
                "command": r.command,
                "duration_s": round(r.duration_s, 6),
                "nodes": [_node_json(n) for n in r.nodes],
                "not_run": r.not_run,
            }
            for r in step_run.runs
        ]
        steps.append(
            {
                "number": step_run.step.number,
                "slug": step_run.step.slug,
                "title": step_run.step.title,
                "blocks": blocks,
                "not_run": [{"id": b.id, "reason": why} for b, why in step_run.not_run],
            }
        )
    return {
        "runbook": {"id": runbook.id, "title": runbook.title, "file": runbook.file},
        "incident": incident,
        "exit": code,
        "passed": result.passed,
        "stopped": result.stopped,
        "steps": steps,
    }
