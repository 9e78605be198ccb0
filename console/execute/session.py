"""A runbook being run: variables, node selection, confirmation, ``requires`` and steps.

``RunbookSession`` is the one engine the headless ``run`` command, the TUI and the drill share.
Everything it does becomes an event on the ``EventSink`` it is given; the sink decides whether
that is a journal file or memory. Decisions come first (write-ahead): an action's
``action.confirmed`` is emitted before its ``block.started``, and nothing is sent to a node
before both were recorded.

Cancelling the task that runs ``run_block``/``run_step``/``run`` cancels the block: running
commands are killed on their nodes and ``block.cancelled`` is recorded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from console.config import Config, Node
from console.durations import format_duration
from console.errors import Problem, SourceError
from console.execute.clock import REAL_CLOCK, Clock
from console.execute.languages import RunContext, block_execution
from console.execute.promql import PromQLSource
from console.execute.runner import BlockRun, BlockRunner, NodeJob, RunSpec
from console.execute.targets import LOCAL, LiveTargets, TargetProvider
from console.journal.events import (
    ActionConfirmed,
    ActionDeclined,
    BlockCancelled,
    StepEntered,
    StepSkipped,
)
from console.journal.sink import EventSink
from console.runbook.catalog import Catalog
from console.runbook.languages import RenderedBlock
from console.runbook.model import Block, Runbook, Step, VarSpec
from console.runbook.parse import load_runbook_text
from console.runbook.render import (
    NODE_VARS,
    VarError,
    VarUseSite,
    check_value,
    front_matter_line,
    needed,
    render_body,
    render_selector,
)
from console.runbook.template import variables_in
from console.selector import Selector, SelectorError, parse_selector

DEFAULT_EVERY_S = 5.0
ConfirmHow = Literal["typed", "yes", "flag"]
Stage = Literal["all", "canary", "rest"]


@dataclass(frozen=True)
class ConfirmRequest:
    """What the person is asked to confirm: an action, on these nodes, at this stage."""

    block: Block
    run: str
    nodes: list[str]
    stage: Stage
    typed: bool
    command: str


@dataclass(frozen=True)
class ConfirmAnswer:
    """The person's answer; ``reason`` says why it was declined."""

    confirmed: bool
    how: ConfirmHow = "yes"
    reason: str = ""


ConfirmCallback = Callable[[ConfirmRequest], Awaitable[ConfirmAnswer]]
"""Asks the person to confirm an action (the TUI shows a dialog; ``run`` asks on the TTY)."""

PromptCallback = Callable[[str, VarSpec, str | None], Awaitable[str | None]]
"""Asks for a missing variable: ``(name, spec, why the last answer was refused)``; ``None``
gives up."""


@dataclass(frozen=True)
class BlockPlan:
    """A block ready to run: resolved, rendered into its language's typed plan per node (one
    plan under ``""`` for a language run from the console), with its nodes and limits.

    ``command`` is what is shown before it runs and recorded in ``block.started``.
    """

    block: Block
    nodes: list[Node]
    plans: dict[str, RenderedBlock]
    command: str
    confirm: Literal["none", "yes", "typed"]
    timeout: float
    selector: str | None

    @property
    def commands(self) -> dict[str, str]:
        """Each node's plan as text (what ``run --dry-run`` shows)."""
        return {node: plan.command_text for node, plan in self.plans.items()}


@dataclass(frozen=True)
class Retrying:
    """A ``within``/``every`` check between attempts: what the screen shows while it waits.

    Times are wall-clock seconds (``time.time()``), so they can be shown as a time of day; in
    a drill they are estimated from the drill clock's speed.
    """

    block: str
    run: str
    """The run id of the attempt that just ended."""
    attempt: int
    """How many attempts were made so far."""
    nodes: list[str]
    next_at: float
    gives_up_at: float


@dataclass
class StepRun:
    """The blocks of one step that ran, and those that did not (with why)."""

    step: Step
    runs: list[BlockRun] = field(default_factory=list)
    not_run: list[tuple[Block, str]] = field(default_factory=list)


@dataclass
class SessionRun:
    """The result of ``RunbookSession.run``."""

    steps: list[StepRun] = field(default_factory=list)
    stopped: str = ""

    @property
    def runs(self) -> list[BlockRun]:
        """Every block run, in order."""
        return [r for s in self.steps for r in s.runs]

    @property
    def passed(self) -> bool:
        """True when every block that ran passed and nothing was stopped."""
        return not self.stopped and all(r.passed for r in self.runs)


class RunbookSession:
    """Runs a runbook's blocks against the configured nodes and reports to ``sink``."""

    def __init__(
        self,
        runbook: Runbook,
        config: Config,
        sink: EventSink,
        *,
        targets: TargetProvider | None = None,
        catalog: Catalog | None = None,
        variables: Mapping[str, str] | None = None,
        confirm: ConfirmCallback | None = None,
        prompt: PromptCallback | None = None,
        incident: str = "",
        node_filter: str | None = None,
        passed_checks: Iterable[str] = (),
        risk_accepted: bool = False,
        promql: PromQLSource | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.runbook = runbook
        self.config = config
        self.sink = sink
        self.risk_accepted = risk_accepted
        self.targets = targets or LiveTargets(config, risk_accepted=risk_accepted)
        self.catalog = catalog or Catalog()
        self.confirm = confirm
        self.prompt = prompt
        self.incident = incident
        self.promql = promql
        """Answers ``promql`` blocks; given by whoever assembles the session, never built here."""
        self.clock = clock
        """``within``/``every`` and timeouts count on it (the drill clock in a drill)."""
        self.runner = BlockRunner(
            sink,
            concurrency=config.ssh.concurrency,
            output_cap=config.execution.output_cap,
            clock=clock,
        )
        self.verdicts: dict[str, str] = {c: "pass" for c in passed_checks}
        self.retrying: dict[str, Retrying] = {}
        """Checks waiting for their next attempt, by block id (gone once the loop ends)."""
        self.values: dict[str, str] = {}
        for name, spec in runbook.meta.vars.items():
            if spec.default is not None:
                self.values[name] = spec.default
        for name, value in (variables or {}).items():
            self.set_var(name, value)
        self.node_filter: Selector | None = None
        if node_filter:
            try:
                self.node_filter = parse_selector(node_filter)
            except SelectorError as exc:
                raise ValueError(f"--nodes {node_filter!r}: {exc}") from None

    # -- variables -----------------------------------------------------------------------

    def set_var(self, name: str, value: str) -> None:
        """Give variable ``name`` a value; raise ``VarError`` if the runbook refuses it."""
        if name in ("node", "host", "incident"):
            raise VarError(self._var_problem(name, f"{{{{{name}}}}} is built in: it cannot be set"))
        problem = check_value(name, self.runbook.meta.vars.get(name), value)
        if problem is not None:
            raise VarError(self._var_problem(name, problem))
        self.values[name] = value

    def _var_problem(self, name: str, message: str) -> Problem:
        text = load_runbook_text(Path(self.runbook.file))
        line = front_matter_line(self.runbook, name, text)
        return Problem(self.runbook.file, line, message, key=f"vars.{name}", code="var")

    def missing_vars(self, blocks: list[Block]) -> dict[str, VarUseSite]:
        """Variables these blocks use that have no value yet, with where each is first used."""
        uses = needed([self.resolve(b) for b in blocks])
        defaulted = [b for b in blocks if b.runs_on_nodes and not b.options.on]
        if defaulted and self.runbook.meta.nodes:
            for use in variables_in(self.runbook.meta.nodes):
                site = VarUseSite(use.name, defaulted[0].id, self.runbook.file, 2)
                uses.setdefault(use.name, site)
        return {n: u for n, u in uses.items() if n not in self.values}

    async def ask_vars(self, blocks: list[Block]) -> None:
        """Prompt for every missing variable; raise ``VarError`` for one nobody gave."""
        for name, use in self.missing_vars(blocks).items():
            spec = self.runbook.meta.vars.get(name, VarSpec())
            problem: str | None = None
            for _ in range(3):
                value = await self.prompt(name, spec, problem) if self.prompt else None
                if value is None:
                    break
                problem = check_value(name, spec, value)
                if problem is None:
                    self.values[name] = value
                    break
            if name not in self.values:
                message = f"block {use.block} needs {{{{{name}}}}}: give it with --var {name}=VALUE"
                if problem:
                    message += f" ({problem})"
                raise VarError(Problem(use.file, use.line, message, code="var"))

    # -- planning ------------------------------------------------------------------------

    def blocks(
        self, steps: Iterable[Step] | None = None, *, only_checks: bool = False
    ) -> list[Block]:
        """The blocks of ``steps`` (all steps by default), actions left out if ``only_checks``."""
        chosen = self.runbook.steps if steps is None else list(steps)
        return [b for s in chosen for b in s.blocks if not (only_checks and b.is_action)]

    def resolve(self, block: Block) -> Block:
        """The block with its ``use:`` catalog check filled in."""
        if not block.options.use:
            return block
        try:
            return self.catalog.resolve(block)
        except KeyError:
            message = f"block {block.id}: no catalog check named {block.options.use!r}"
        except ValueError as exc:
            message = f"block {block.id}: {exc}"
        raise SourceError([Problem(block.file, block.line_of("use"), message, key="use")])

    def plan(self, block: Block) -> BlockPlan:
        """Resolve, select nodes and render ``block``; raise ``SourceError``/``VarError``."""
        block = self.resolve(block)
        options = block.options
        values = {**self.values, "incident": self.incident}
        confirm: Literal["none", "yes", "typed"] = "none"
        if block.is_action:
            typed = options.confirm == "typed" or self.config.confirm_floor == "typed"
            confirm = "typed" if typed else "yes"
        if block.runs_on_nodes:
            timeout = options.timeout or self.config.execution.timeout
            selector, nodes = self._select(block, values)
            plans = {
                n.name: render_body(block, {**values, "node": n.name, "host": n.host})
                for n in nodes
            }
            command = _display(block, values)
            return BlockPlan(block, nodes, plans, command, confirm, timeout, selector)
        execution = block_execution(block.lang)
        timeout = execution.timeout(block, self._run_context)
        plan = render_body(block, values)
        return BlockPlan(block, [], {"": plan}, plan.command_text, confirm, timeout, None)

    def _select(self, block: Block, values: dict[str, str]) -> tuple[str, list[Node]]:
        text = block.options.on or self.runbook.meta.nodes
        if text is None:
            raise SourceError(
                [
                    Problem(
                        block.file,
                        block.line,
                        f"block {block.id} has no node selector: add '#| on: ...' to it, or "
                        "nodes: to the front matter",
                        key="on",
                        code="selector",
                    )
                ]
            )
        selector = parse_selector(render_selector(block, text, values))
        if selector.is_local:
            return selector.text, [LOCAL]
        nodes = selector.select(self.config.nodes)
        if self.node_filter is not None:
            allowed = {n.name for n in self.node_filter.select(nodes)}
            nodes = [n for n in nodes if n.name in allowed]
        return selector.text, nodes

    # -- running -------------------------------------------------------------------------

    async def run(
        self,
        steps: Iterable[Step] | None = None,
        *,
        only_checks: bool = False,
        on_step: Callable[[StepRun], None] | None = None,
    ) -> SessionRun:
        """Run ``steps`` in order; stop at the first action that does not pass.

        ``on_step`` is called with each step's result as soon as the step is over.
        """
        result = SessionRun()
        for step in self.runbook.steps if steps is None else list(steps):
            if result.stopped:
                await self.sink.emit(
                    StepSkipped(
                        step=step.slug, number=step.number, title=step.title, reason=result.stopped
                    )
                )
                step_run = StepRun(step, not_run=[(b, result.stopped) for b in step.blocks])
            else:
                step_run = await self.run_step(step, only_checks=only_checks)
            result.steps.append(step_run)
            if on_step is not None:
                on_step(step_run)
            failed = next((r for r in step_run.runs if r.block.is_action and not r.passed), None)
            if failed is not None:
                result.stopped = f"action {failed.block.id} did not pass ({failed.verdict})"
        return result

    async def run_step(self, step: Step, *, only_checks: bool = False) -> StepRun:
        """Enter ``step`` and run its blocks; after an action that did not pass, stop."""
        await self.sink.emit(StepEntered(step=step.slug, number=step.number, title=step.title))
        out = StepRun(step)
        stop = ""
        for block in step.blocks:
            if stop:
                out.not_run.append((block, stop))
            elif only_checks and block.is_action:
                out.not_run.append((block, "an action (--only checks)"))
            else:
                run = await self.run_block(block)
                out.runs.append(run)
                if block.is_action and not run.passed:
                    stop = f"action {block.id} did not pass ({run.verdict})"
        return out

    def unmet_requires(self, block: Block) -> list[str]:
        """The checks ``block`` requires that have not passed in this incident."""
        return [r for r in block.options.requires if self.verdicts.get(r) != "pass"]

    async def refuse_unmet(self, block: Block) -> BlockRun | None:
        """Refuse an action whose required checks have not passed, before anything is asked
        (variables, nodes, confirmation): ``None`` when nothing stands in its way."""
        unmet = self.unmet_requires(block) if block.is_action else []
        if not unmet:
            return None
        states = ", ".join(f"{r} ({self.verdicts.get(r, 'not run')})" for r in unmet)
        reason = f"refused: requires checks that have not passed in this run: {states}"
        return await self._refuse(block, _run_id(), self._known_nodes(block), reason, "refused")

    def _known_nodes(self, block: Block) -> list[str]:
        """The nodes ``block`` would run on, when that is known without asking for anything."""
        if self.missing_vars([block]):
            return []
        try:
            plan = self.plan(block)
        except (VarError, SourceError, SelectorError):
            return []
        return [n.name for n in plan.nodes] if block.runs_on_nodes else [_console_node(plan)]

    async def run_block(self, block: Block) -> BlockRun:
        """Run one block: confirm it if it is an action, re-run a check under ``within``."""
        refused = await self.refuse_unmet(block)
        if refused is not None:
            return refused
        plan = self.plan(block)
        block = plan.block
        if block.is_action:
            run = await self._action(plan)
        else:
            run = await self._check(plan)
        self.verdicts[block.id] = run.verdict
        return run

    async def _check(self, plan: BlockPlan) -> BlockRun:
        options = plan.block.options
        clock = self.clock
        deadline = clock.now() + options.within if options.within is not None else None
        every = options.every or DEFAULT_EVERY_S
        attempt = 1
        while True:
            began = clock.now()
            run = await self._execute(plan, _run_id(), attempt)
            if run.passed or deadline is None:
                return run
            wait = max(0.0, began + every - clock.now())
            if clock.now() + wait >= deadline:
                return run
            await self._between_attempts(run, plan, wait, deadline)
            attempt += 1

    async def _between_attempts(
        self, run: BlockRun, plan: BlockPlan, wait: float, deadline: float
    ) -> None:
        """Wait for the next attempt, showing when it comes (``retrying``); cancelled here,
        the loop ends with ``block.cancelled`` for the attempt that just ended."""
        now, wall, rate = self.clock.now(), time.time(), self.clock.speed
        nodes = [n.node for n in run.nodes] + run.not_run
        block = run.block.id
        self.retrying[block] = Retrying(
            block, run.run, run.attempt, nodes, wall + wait / rate, wall + (deadline - now) / rate
        )
        try:
            await self.clock.sleep(wait)
        except asyncio.CancelledError:
            reason = (
                f"cancelled between attempts: attempt {run.attempt + 1} of a "
                f"within {format_duration(plan.block.options.within or 0)} check was not run"
            )
            await self.sink.emit(
                BlockCancelled(run=run.run, block=block, reason=reason, nodes_pending=nodes)
            )
            raise
        finally:
            self.retrying.pop(block, None)

    async def _action(self, plan: BlockPlan) -> BlockRun:
        block = plan.block
        run_id = _run_id()
        names = [n.name for n in plan.nodes] if block.runs_on_nodes else [_console_node(plan)]
        if not names:
            return await self._refuse(
                block, run_id, [], f"refused: on: {plan.selector} matched no nodes", "refused"
            )
        canary = block.options.canary
        first = names[:canary] if canary and canary < len(names) else names
        stage: Stage = "canary" if len(first) < len(names) else "all"
        answer = await self._ask(
            ConfirmRequest(block, run_id, first, stage, plan.confirm == "typed", plan.command)
        )
        if not answer.confirmed:
            return await self._refuse(block, run_id, first, answer.reason or "declined", "declined")
        await self.sink.emit(
            ActionConfirmed(run=run_id, block=block.id, nodes=first, how=answer.how, stage=stage)
        )

        async def confirm_rest(rest: list[str]) -> bool:
            request = ConfirmRequest(
                block, run_id, rest, "rest", plan.confirm == "typed", plan.command
            )
            reply = await self._ask(request)
            if reply.confirmed:
                await self.sink.emit(
                    ActionConfirmed(
                        run=run_id, block=block.id, nodes=rest, how=reply.how, stage="rest"
                    )
                )
            else:
                await self.sink.emit(
                    ActionDeclined(
                        run=run_id, block=block.id, nodes=rest, reason=reply.reason or "declined"
                    )
                )
            return reply.confirmed

        return await self._execute(plan, run_id, 1, confirm_rest=confirm_rest)

    async def _ask(self, request: ConfirmRequest) -> ConfirmAnswer:
        if self.confirm is None:
            return ConfirmAnswer(False, reason="declined: nobody could be asked to confirm")
        answer = await self.confirm(request)
        if answer.confirmed and request.typed and answer.how != "typed" and self._typing_enforced:
            return ConfirmAnswer(
                False,
                reason=(
                    f"declined: the prod profile needs action {request.block.id} confirmed by "
                    f"typing its id; a blanket confirmation ({answer.how}, e.g. --yes) does "
                    "not count without --accept-risk"
                ),
            )
        return answer

    @property
    def _typing_enforced(self) -> bool:
        """Under ``prod`` a typed confirmation must be typed, unless the risk was accepted.

        Decided here, not in a front end, so ``run --yes`` and the TUI follow the same rule.
        """
        return self.config.profile == "prod" and not self.risk_accepted

    async def _refuse(
        self,
        block: Block,
        run_id: str,
        nodes: list[str],
        reason: str,
        verdict: Literal["declined", "refused"],
    ) -> BlockRun:
        await self.sink.emit(ActionDeclined(run=run_id, block=block.id, nodes=nodes, reason=reason))
        return BlockRun(block, run_id, 1, verdict, reason, not_run=nodes)

    async def _execute(
        self,
        plan: BlockPlan,
        run_id: str,
        attempt: int,
        *,
        confirm_rest: Callable[[list[str]], Awaitable[bool]] | None = None,
    ) -> BlockRun:
        block = plan.block
        step = self.runbook.steps[block.step - 1].slug if block.step >= 1 else None
        spec = RunSpec(
            block,
            run_id,
            plan.command,
            plan.timeout,
            attempt,
            step,
            self.runbook.file,
            self.runbook.sha256,
        )
        if block.runs_on_nodes:
            jobs = [
                NodeJob(n.name, self.targets.target(n), plan.plans[n.name].command_text)
                for n in plan.nodes
            ]
            return await self.runner.run_shell(spec, jobs, confirm_rest=confirm_rest)
        execution = block_execution(block.lang)
        return await self.runner.run_console(spec, execution, plan.plans[""], self._run_context)

    @property
    def _run_context(self) -> RunContext:
        return RunContext(self.config, self.promql)

    async def close(self) -> None:
        """Close connections (the pooled SSH connections live until then)."""
        await self.targets.close()


def _run_id() -> str:
    return uuid.uuid4().hex[:12]


def _console_node(plan: BlockPlan) -> str:
    execution = block_execution(plan.block.lang)
    return execution.node(plan.block, plan.plans[""])


def _display(block: Block, values: dict[str, str]) -> str:
    """The command as recorded in ``block.started``: per-node values left as placeholders."""
    marks = {name: f"\x00{name}\x00" for name in NODE_VARS}
    text = render_body(block, {**values, **marks}).command_text
    for name, mark in marks.items():
        # bare sites come back shell-quoted, quoted sites as the mark itself
        text = text.replace(f"'{mark}'", f"{{{{{name}}}}}").replace(mark, f"{{{{{name}}}}}")
    return text
