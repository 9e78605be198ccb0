"""The local target and the runner: process-group kill on timeout and cancel, output events."""

from __future__ import annotations

import asyncio
import time

import pytest

from console.execute.local import LocalTarget
from console.execute.runner import BlockRunner, NodeJob, RunSpec
from console.journal.events import BlockCancelled, BlockOutput, NodeResult
from console.journal.sink import MemorySink
from tests.execute.conftest import make_block, payloads, sleep_marker, survivors, types


async def wait_for_survivors(marker: str, count: int, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while len(survivors(marker)) < count:
        assert time.monotonic() < deadline, f"never saw {count} processes with {marker}"
        await asyncio.sleep(0.05)


async def test_a_command_streams_output_and_gets_a_verdict(sink: MemorySink) -> None:
    block = make_block("echo one; echo two >&2; exit 4", expect={"exit": [4]})
    run = await BlockRunner(sink).run_shell(
        RunSpec(block, "r1", block.body, 5), [NodeJob("local", LocalTarget(), block.body)]
    )
    assert run.verdict == "pass"
    node = run.nodes[0]
    assert (node.exit, node.stdout, node.stderr) == (4, "one\n", "two\n")
    assert types(sink) == [
        "block.started",
        "block.output",
        "block.output",
        "node.result",
        "block.finished",
    ]
    outputs = [e for e in payloads(sink, BlockOutput)]
    assert {(o.stream, o.text) for o in outputs} == {("stdout", "one\n"), ("stderr", "two\n")}


async def test_timeout_kills_the_whole_process_group(sink: MemorySink) -> None:
    marker = sleep_marker()
    body = f"sleep 300 {marker} & sleep 301 {marker}; echo never"
    block = make_block(body)
    began = time.monotonic()
    run = await BlockRunner(sink).run_shell(
        RunSpec(block, "r1", body, 0.5), [NodeJob("local", LocalTarget(), body)]
    )
    assert time.monotonic() - began < 3
    node = run.nodes[0]
    assert node.verdict == "indeterminate"
    assert node.reason.startswith("timed out after 0.5s; process group terminated")
    assert run.verdict == "indeterminate"
    assert survivors(marker) == []


async def test_cancel_kills_the_process_group_and_records_the_cancel(sink: MemorySink) -> None:
    marker = sleep_marker()
    body = f"sleep 300 {marker}; echo never"
    block = make_block(body)
    runner = BlockRunner(sink)
    task = asyncio.create_task(
        runner.run_shell(RunSpec(block, "r1", body, 60), [NodeJob("local", LocalTarget(), body)])
    )
    await wait_for_survivors(marker, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert survivors(marker) == []
    result = payloads(sink, NodeResult)[0]
    assert result.verdict == "indeterminate"
    assert result.reason.startswith("cancelled: process group terminated")
    assert types(sink)[-1] == "block.cancelled"


async def test_nodes_waiting_for_a_slot_are_reported_pending_on_cancel(sink: MemorySink) -> None:
    marker = sleep_marker()
    body = f"sleep 300 {marker}"
    block = make_block(body)
    runner = BlockRunner(sink, concurrency=1)
    jobs = [NodeJob(name, LocalTarget(name), body) for name in ("a", "b", "c")]
    task = asyncio.create_task(runner.run_shell(RunSpec(block, "r1", body, 60), jobs))
    await wait_for_survivors(marker, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    cancelled = payloads(sink, BlockCancelled)[0]
    assert cancelled.nodes_pending == ["b", "c"]
    assert survivors(marker) == []


async def test_concurrency_limit_holds(sink: MemorySink, tmp_path: object) -> None:
    body = "echo start; sleep 0.3; echo end"
    block = make_block(body)
    jobs = [NodeJob(f"n{i}", LocalTarget(f"n{i}"), body) for i in range(4)]
    began = time.monotonic()
    run = await BlockRunner(sink, concurrency=2).run_shell(RunSpec(block, "r1", body, 10), jobs)
    elapsed = time.monotonic() - began
    assert run.verdict == "pass"
    assert 0.6 <= elapsed < 1.5  # two rounds of two, not one round of four


async def test_binary_output_is_replaced_and_flagged(sink: MemorySink) -> None:
    body = r"printf 'ok \377\376 end\n'"
    block = make_block(body)
    run = await BlockRunner(sink).run_shell(
        RunSpec(block, "r1", body, 5), [NodeJob("local", LocalTarget(), body)]
    )
    node = run.nodes[0]
    assert node.stdout == "ok \ufffd\ufffd end\n"
    assert node.invalid_utf8
    assert payloads(sink, BlockOutput)[0].invalid_utf8
