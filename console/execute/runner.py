"""Run one block: fan out to its nodes, stream output as events, judge every node.

- Shell blocks fan out to their nodes with a concurrency limit; each node has its own timeout.
  ``batch: N`` runs N nodes at a time and stops at the first batch with a node that did not
  pass; ``canary: N`` runs N nodes, asks to go on, then runs the rest.
- A timeout kills the command's process group on the node (the target knows how) and makes
  the node ``indeterminate``; so does cancelling the task that runs the block, which records
  ``block.cancelled`` with the nodes that never started.
- Output streams as ``block.output`` events, capped per node with an exact
  ``output.truncated`` report (see ``output.NodeOutput``).
- Blocks of a language that runs from the console (``promql``, ``http`` or any registered
  ``languages.BlockExecution``) run once, on the same started -> judged -> finished path.

Events: ``block.started``, then per node ``block.output``... ``output.truncated``
``node.result``, then ``block.finished`` (or ``block.cancelled``). Confirmation events for
actions are the session's job and come before ``block.started``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from console.execute.clock import REAL_CLOCK, Clock, clock_timeout
from console.execute.languages import BlockExecution, Produced, RunContext
from console.execute.output import Decoded, NodeOutput, Truncation
from console.execute.target import (
    ConnectionLost,
    KillReport,
    Process,
    Stream,
    Target,
    TargetError,
)
from console.journal.events import (
    BlockCancelled,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    BlockVerdict,
    NodeResult,
    OutputTruncated,
)
from console.journal.sink import EventSink
from console.runbook.expect import (
    Judgement,
    Observation,
    Outcome,
    Verdict,
    block_verdict,
    judge,
    judge_same,
    verdict_for,
)
from console.runbook.languages import RenderedBlock
from console.runbook.model import Block
from console.source_errors import SourceTimedOut

RunVerdict = Literal["pass", "fail", "error", "indeterminate", "cancelled", "declined", "refused"]
HARD_STOP_S = 15.0
"""How long past its timeout a node may take to wind down before it is abandoned."""


@dataclass(frozen=True)
class NodeJob:
    """One node of a shell block: where to run and the command rendered for that node."""

    node: str
    target: Target
    command: str


@dataclass
class NodeRun:
    """A node's result: its verdict, why, and what it printed (kept part)."""

    node: str
    verdict: Verdict
    reason: str = ""
    exit: int | None = None
    signal: str | None = None
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    invalid_utf8: bool = False
    truncations: list[Truncation] = field(default_factory=list)
    value: float | None = None
    status: int | None = None
    observation: Observation | None = None


@dataclass
class BlockRun:
    """One run (one attempt) of a block, with every node's result."""

    block: Block
    run: str
    attempt: int
    verdict: RunVerdict
    reason: str = ""
    nodes: list[NodeRun] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    command: str = ""
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        """True when the block ran everywhere it should and every node passed."""
        return self.verdict == "pass"

    def counts(self) -> dict[str, int]:
        """How many nodes had each verdict (and how many did not run)."""
        out: dict[str, int] = dict(Counter(str(n.verdict) for n in self.nodes))
        if self.not_run:
            out["not_run"] = len(self.not_run)
        return out


@dataclass(frozen=True)
class RunSpec:
    """Everything the runner needs to run one block once."""

    block: Block
    run: str
    command: str
    timeout: float
    attempt: int = 1
    step: str | None = None
    runbook: str | None = None
    runbook_sha256: str | None = None


RestConfirm = Callable[[list[str]], Awaitable[bool]]
"""Asked after a canary passed, with the remaining nodes; ``True`` to go on."""


class _BlockState:
    """Bookkeeping shared by the node tasks of one block run."""

    def __init__(self, spec: RunSpec, deferred: bool) -> None:
        self.spec = spec
        self.results: dict[str, NodeRun] = {}
        self.started: set[str] = set()
        self.deferred = deferred
        self.unreported: list[NodeRun] = []


class BlockRunner:
    """Runs blocks and reports them through an ``EventSink``."""

    def __init__(
        self,
        sink: EventSink,
        *,
        concurrency: int = 64,
        output_cap: int = 1 << 20,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.sink = sink
        self.output_cap = output_cap
        self.clock = clock
        """Timeouts and durations are measured on it (the drill clock in a drill)."""
        self._slots = asyncio.Semaphore(concurrency)

    # -- shell blocks --------------------------------------------------------------------

    async def run_shell(
        self,
        spec: RunSpec,
        jobs: list[NodeJob],
        *,
        confirm_rest: RestConfirm | None = None,
    ) -> BlockRun:
        """Run a shell block on ``jobs``, honouring ``batch`` and ``canary``."""
        block = spec.block
        started = self.clock.now()
        await self._started(spec, [j.node for j in jobs])
        state = _BlockState(spec, deferred=bool(block.options.expect and block.options.expect.same))
        canary = block.options.canary
        stages = [jobs[:canary], jobs[canary:]] if canary and canary < len(jobs) else [jobs]
        note = ""
        declined = False
        try:
            for index, stage in enumerate(stages):
                if index == 1:
                    if not all(state.results[j.node].verdict == "pass" for j in stages[0]):
                        note = "the canary did not pass: the rest was not run"
                        break
                    if confirm_rest is None or not await confirm_rest([j.node for j in stage]):
                        declined = True
                        note = "the canary passed; going on to the rest was declined"
                        break
                stopped = await self._run_stage(state, stage)
                if stopped:
                    note = stopped
                    break
        except asyncio.CancelledError:
            await self._cancelled(state, [j.node for j in jobs])
            raise
        await self._flush_same(state)
        nodes = [state.results[j.node] for j in jobs if j.node in state.results]
        not_run = [j.node for j in jobs if j.node not in state.results]
        if not jobs:
            note = "no node matched the selector"
        if not_run and note:
            note += f" ({len(not_run)} not run: {', '.join(not_run)})"
        return await self._done(state, nodes, not_run, note, declined, started)

    async def _run_stage(self, state: _BlockState, jobs: list[NodeJob]) -> str:
        """Run one stage, batch by batch; return why it stopped early ("" if it did not)."""
        size = state.spec.block.options.batch or len(jobs) or 1
        batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        for number, batch in enumerate(batches, start=1):
            async with asyncio.TaskGroup() as group:
                for job in batch:
                    group.create_task(self._node(state, job))
            bad = [j.node for j in batch if state.results[j.node].verdict != "pass"]
            if bad and state.spec.block.options.batch and number < len(batches):
                return (
                    f"stopped after batch {number} of {len(batches)}: {', '.join(bad)} did not pass"
                )
        return ""

    def _since(self, began: float) -> float:
        return self.clock.now() - began

    async def _node(self, state: _BlockState, job: NodeJob) -> None:
        async with self._slots:
            state.started.add(job.node)
            await self._exec(state, job)

    async def _exec(self, state: _BlockState, job: NodeJob) -> None:
        spec = state.spec
        begun = self.clock.now()
        start = asyncio.ensure_future(job.target.start(job.command, shell=spec.block.lang))
        try:
            proc = await asyncio.shield(start)
        except TargetError as exc:
            reason = f"{exc.kind}: {exc}"
            await self._result(
                state, NodeRun(job.node, "error", reason, duration_s=self._since(begun))
            )
            return
        except ConnectionLost as exc:
            run = NodeRun(job.node, "indeterminate", str(exc), duration_s=self._since(begun))
            await self._result(state, run)
            return
        except asyncio.CancelledError:
            late = await _settle(start)
            if late is None:
                raise
            report = await _kill_and_close(late)
            await self._result(
                state, NodeRun(job.node, "indeterminate", f"cancelled: {report.detail}")
            )
            raise
        output = NodeOutput(self.output_cap)
        await self._watch(state, job, proc, output, begun)

    async def _watch(
        self, state: _BlockState, job: NodeJob, proc: Process, output: NodeOutput, begun: float
    ) -> None:
        """Stream a started command's output until it ends, times out or is cancelled."""
        spec = state.spec
        finished = False
        timed_out = False
        kill: KillReport | None = None

        async def watchdog() -> None:
            nonlocal kill, timed_out
            await self.clock.sleep(spec.timeout)
            if not finished:
                timed_out = True
                kill = await proc.kill()
                await proc.close()

        dog = asyncio.create_task(watchdog())
        outcome: Outcome = "completed"
        reason = ""
        status = None
        try:
            async with clock_timeout(self.clock, spec.timeout + HARD_STOP_S):
                async for chunk in proc:
                    await self._output(state, job.node, output, chunk.stream, chunk.data)
                status = await proc.wait()
                finished = True
                if timed_out:
                    await dog
        except ConnectionLost as exc:
            outcome, reason = "lost", str(exc)
        except TimeoutError:
            outcome = "timeout"
        except asyncio.CancelledError:
            finished = True
            dog.cancel()
            report = await _kill_and_close(proc)
            await self._tail(state, job.node, output)
            run = self._finish_run(
                job.node, output, begun, "cancelled", f"cancelled: {report.detail}"
            )
            await self._result(state, run)
            raise
        finally:
            finished = True
            dog.cancel()
        if timed_out or outcome == "timeout":
            outcome = "timeout"
            detail = kill.detail if kill else "the command did not end after the kill"
            reason = f"timed out after {spec.timeout:g}s; {detail}"
        await asyncio.shield(proc.close())
        await self._tail(state, job.node, output)
        run = self._finish_run(job.node, output, begun, outcome, reason)
        if outcome == "completed" and status is not None:
            run.exit, run.signal = status.code, status.signal
            obs = Observation(
                job.node,
                spec.block.lang,
                exit=status.code,
                signal=status.signal,
                stdout=run.stdout,
                stderr=run.stderr,
                truncated=bool(run.truncations),
            )
            _apply(run, judge(spec.block.options.expect, obs), obs)
        await self._result(state, run)

    def _finish_run(
        self, node: str, output: NodeOutput, begun: float, outcome: Outcome, reason: str
    ) -> NodeRun:
        """A node's result before judging: ``pass`` pending the expectation, else forced."""
        return NodeRun(
            node,
            verdict_for(outcome) or "pass",
            reason,
            duration_s=self._since(begun),
            stdout=output.text("stdout"),
            stderr=output.text("stderr"),
            invalid_utf8=output.invalid_utf8,
            truncations=output.truncations(),
        )

    async def _output(
        self, state: _BlockState, node: str, output: NodeOutput, stream: Stream, data: bytes
    ) -> None:
        decoded = output.add(stream, data)
        if decoded is not None:
            await self._emit_text(state, node, stream, decoded)

    async def _emit_text(
        self, state: _BlockState, node: str, stream: Stream, decoded: Decoded
    ) -> None:
        await self.sink.emit(
            BlockOutput(
                run=state.spec.run,
                block=state.spec.block.id,
                node=node,
                stream=stream,
                text=decoded.text,
                invalid_utf8=decoded.invalid_utf8,
            )
        )

    async def _tail(self, state: _BlockState, node: str, output: NodeOutput) -> None:
        """Flush the decoders and report truncation once a node's output has ended."""
        for stream, decoded in output.finish().items():
            await self._emit_text(state, node, stream, decoded)
        for cut in output.truncations():
            await self.sink.emit(
                OutputTruncated(
                    run=state.spec.run,
                    block=state.spec.block.id,
                    node=node,
                    stream=cut.stream,
                    kept_bytes=cut.kept_bytes,
                    dropped_bytes=cut.dropped_bytes,
                    dropped_lines=cut.dropped_lines,
                )
            )

    async def _result(self, state: _BlockState, run: NodeRun) -> None:
        state.results[run.node] = run
        if state.deferred:
            state.unreported.append(run)
        else:
            await self._emit_result(state.spec, run)

    async def _emit_result(self, spec: RunSpec, run: NodeRun) -> None:
        await self.sink.emit(
            NodeResult(
                run=spec.run,
                block=spec.block.id,
                node=run.node,
                verdict=run.verdict,
                exit=run.exit,
                signal=run.signal,
                duration_s=round(run.duration_s, 6),
                reason=run.reason,
                value=run.value,
                attempt=spec.attempt,
            )
        )

    async def _flush_same(self, state: _BlockState) -> None:
        """Judge ``same`` across the nodes that completed, then report the deferred results."""
        expect = state.spec.block.options.expect
        if expect is not None and expect.same is not None:
            observed = [r.observation for r in state.unreported if r.observation is not None]
            agreement = judge_same(expect.same, observed)
            for run in state.unreported:
                why = agreement.failures.get(run.node)
                if why and run.verdict in ("pass", "fail"):
                    run.verdict = "fail"
                    run.reason = "; ".join(r for r in (run.reason, why) if r)
        for run in state.unreported:
            await self._emit_result(state.spec, run)
        state.unreported.clear()

    async def _cancelled(self, state: _BlockState, nodes: list[str]) -> None:
        for run in state.unreported:
            await self._emit_result(state.spec, run)
        state.unreported.clear()
        pending = [n for n in nodes if n not in state.results]
        await self.sink.emit(
            BlockCancelled(
                run=state.spec.run,
                block=state.spec.block.id,
                reason="cancelled while running",
                nodes_pending=pending,
            )
        )

    # -- blocks run from the console (promql, http, any registered language) ---------------

    async def run_console(
        self,
        spec: RunSpec,
        execution: BlockExecution[Any],
        plan: RenderedBlock,
        context: RunContext,
    ) -> BlockRun:
        """Run a console language's block once, from its typed plan; each node it produced is
        judged."""
        started = self.clock.now()
        block = spec.block
        node = execution.node(block, plan)
        await self._started(spec, [node])
        state = _BlockState(spec, deferred=True)
        output = NodeOutput(self.output_cap)

        async def take(stream: Stream, data: bytes) -> None:
            await self._output(state, node, output, stream, data)

        try:
            try:
                produced = await execution.run(block, plan, spec.timeout, context, take)
            except TargetError as exc:
                produced = [Produced(node, "error", f"{exc.kind}: {exc}")]
            except ConnectionLost as exc:
                produced = [Produced(node, "lost", str(exc))]
            except SourceTimedOut as exc:
                produced = [Produced(node, "timeout", str(exc))]
            except Exception as exc:  # the source's own errors: down, query rejected
                produced = [Produced(node, "error", str(exc) or type(exc).__name__)]
            await self._tail(state, node, output)
            for item in produced:
                run = self._finish_run(item.node, output, started, item.outcome, item.reason)
                if item.outcome == "completed" and item.observation is not None:
                    obs = replace(
                        item.observation,
                        stdout=run.stdout,
                        stderr=run.stderr,
                        truncated=bool(run.truncations),
                    )
                    run.status = obs.status
                    _apply(run, judge(block.options.expect, obs), obs)
                run.reason = "; ".join(r for r in (item.note, run.reason) if r)
                await self._result(state, run)
        except asyncio.CancelledError:
            await self._cancelled(state, [node])
            raise
        await self._flush_same(state)
        nodes = list(state.results.values())
        return await self._done(state, nodes, [], "", False, started)

    # -- shared --------------------------------------------------------------------------

    async def _done(
        self,
        state: _BlockState,
        nodes: list[NodeRun],
        not_run: list[str],
        note: str,
        declined: bool,
        started: float,
    ) -> BlockRun:
        """Take the worst node verdict, record ``block.finished`` and return the run."""
        spec = state.spec
        worst = block_verdict(n.verdict for n in nodes) or "error"
        verdict: RunVerdict = "declined" if declined and worst == "pass" else worst
        run = BlockRun(
            spec.block,
            spec.run,
            spec.attempt,
            verdict,
            note or _summary(nodes),
            nodes,
            not_run,
            spec.command,
            self.clock.now() - started,
        )
        await self._finished(run, worst)
        return run

    async def _started(self, spec: RunSpec, nodes: list[str]) -> None:
        block = spec.block
        await self.sink.emit(
            BlockStarted(
                run=spec.run,
                block=block.id,
                step=spec.step,
                kind=block.kind,
                lang=block.lang,
                command=spec.command,
                nodes=nodes,
                runbook=spec.runbook,
                runbook_sha256=spec.runbook_sha256,
                requires=list(block.options.requires),
                attempt=spec.attempt,
            )
        )

    async def _finished(self, run: BlockRun, verdict: BlockVerdict) -> None:
        await self.sink.emit(
            BlockFinished(
                run=run.run,
                block=run.block.id,
                verdict=verdict,
                counts=run.counts(),
                duration_s=round(run.duration_s, 6),
                reason=run.reason,
            )
        )


def _apply(run: NodeRun, judgement: Judgement, obs: Observation) -> None:
    run.verdict = judgement.verdict
    run.reason = judgement.reason
    run.value = judgement.value
    run.observation = obs


def _summary(nodes: list[NodeRun]) -> str:
    bad = [n for n in nodes if n.verdict != "pass"]
    if not bad:
        return ""
    first = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"{first.node}: {first.verdict}: {first.reason}{more}"


async def _settle(start: asyncio.Future[Process]) -> Process | None:
    """After a cancel: let a start that is under way finish, so its command can be killed."""
    try:
        return await asyncio.wait_for(asyncio.shield(start), 15.0)
    except (Exception, asyncio.CancelledError):
        return None


async def _kill_and_close(proc: Process) -> KillReport:
    """Kill and close, even while the calling task is being cancelled."""
    task = asyncio.ensure_future(_kill_then_close(proc))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        return await task


async def _kill_then_close(proc: Process) -> KillReport:
    report = await proc.kill()
    await proc.close()
    return report
