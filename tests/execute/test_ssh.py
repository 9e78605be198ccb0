"""Against real OpenSSH sshd on loopback: fan-out, pooling, batch, canary, kill, same, jumps."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from console.config import Node
from console.execute.session import ConfirmAnswer, ConfirmRequest, RunbookSession
from console.execute.ssh import SSHPool
from console.execute.targets import LiveTargets
from console.journal.events import ActionConfirmed, BlockFinished, NodeResult
from console.journal.sink import MemorySink
from tests.execute.conftest import (
    block_of,
    cluster_config,
    fence,
    payloads,
    sleep_marker,
    ssh_settings,
    survivors,
    types,
    write_runbook,
)
from tests.execute.sshd import SshdCluster

pytestmark = pytest.mark.sshd


async def yes(request: ConfirmRequest) -> ConfirmAnswer:
    return ConfirmAnswer(True, "flag")


def session_for(
    sshd: SshdCluster, tmp_path: Path, *steps: str, sink: MemorySink, **kwargs: Any
) -> RunbookSession:
    runbook = write_runbook(tmp_path, *steps)
    config = cluster_config(sshd)
    return RunbookSession(runbook, config, sink, targets=LiveTargets(config), **kwargs)


async def test_fan_out_gives_every_node_its_own_verdict_and_output(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    body = 'echo "{{node}} on {{host}} via ${SSH_CONNECTION##* }"; [ {{node}} != n3 ]'
    session = session_for(sshd, tmp_path, fence("fan", body, on_="all"), sink=sink)
    try:
        run = await session.run_block(block_of(session.runbook, "fan"))
    finally:
        await session.close()
    assert [n.node for n in run.nodes] == [f"n{i}" for i in range(1, 7)]
    for number, node in enumerate(run.nodes, start=1):
        assert node.stdout == f"n{number} on 127.0.0.{number + 1} via {sshd.port}\n"
        assert node.verdict == ("fail" if node.node == "n3" else "pass")
    assert run.nodes[2].reason == "exit 1, expected 0"
    assert run.verdict == "fail"
    results = {e.node: e.verdict for e in payloads(sink, NodeResult)}
    assert results == {n.node: n.verdict for n in run.nodes}
    finished = payloads(sink, BlockFinished)[0]
    assert finished.counts == {"pass": 5, "fail": 1}


async def test_one_pooled_connection_per_node_is_reused_across_blocks(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    probe = 'echo "${SSH_CONNECTION%% *} ${SSH_CONNECTION#* }"'
    session = session_for(
        sshd,
        tmp_path,
        fence("first", probe, on_="role=a"),
        fence("second", probe, on_="role=a"),
        sink=sink,
    )
    assert isinstance(session.targets, LiveTargets)
    try:
        result = await session.run()
    finally:
        await session.close()
    first, second = result.runs
    assert [n.stdout for n in first.nodes] == [n.stdout for n in second.nodes]  # same client port
    assert session.targets.pool.stats.connects == 3
    assert session.targets.pool.stats.commands == 6


async def test_a_dropped_connection_is_indeterminate_and_reopened_for_the_next_block(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    drop = "echo going; sleep 0.2; kill -9 $PPID; sleep 5"
    session = session_for(
        sshd,
        tmp_path,
        fence("drop", drop, kind="action", on_="name=n1"),
        fence("after", "echo back", on_="name=n1"),
        sink=sink,
        confirm=yes,
    )
    assert isinstance(session.targets, LiveTargets)
    try:
        dropped = await session.run_block(block_of(session.runbook, "drop"))
        after = await session.run_block(block_of(session.runbook, "after"))
    finally:
        await session.close()
    node = dropped.nodes[0]
    assert node.verdict == "indeterminate"
    assert "connection dropped while the command ran" in node.reason
    assert node.stdout == "going\n"
    assert dropped.verdict == "indeterminate"
    assert after.verdict == "pass" and after.nodes[0].stdout == "back\n"
    assert session.targets.pool.stats.reconnects == 1


async def test_batch_runs_in_order_and_stops_at_the_first_failing_batch(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    body = "date +%s%N; [ {{node}} != n3 ]"
    block = fence("roll", body, kind="action", on_="all", batch=2)
    session = session_for(sshd, tmp_path, block, sink=sink, confirm=yes)
    try:
        run = await session.run_block(block_of(session.runbook, "roll"))
    finally:
        await session.close()
    assert [n.node for n in run.nodes] == ["n1", "n2", "n3", "n4"]
    assert run.not_run == ["n5", "n6"]
    assert run.verdict == "fail"
    assert run.reason.startswith("stopped after batch 2 of 3: n3 did not pass")
    started = {n.node: int(n.stdout) for n in run.nodes}
    assert max(started["n1"], started["n2"]) < min(started["n3"], started["n4"])
    assert payloads(sink, BlockFinished)[0].counts == {"pass": 3, "fail": 1, "not_run": 2}


async def test_canary_asks_again_before_the_rest(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    asked: list[tuple[str, list[str]]] = []

    async def confirm(request: ConfirmRequest) -> ConfirmAnswer:
        asked.append((request.stage, request.nodes))
        return ConfirmAnswer(request.stage == "canary", "yes", "not today")

    block = fence("canary", "echo {{node}}", kind="action", on_="role=a", canary=1)
    session = session_for(sshd, tmp_path, block, sink=sink, confirm=confirm)
    try:
        declined = await session.run_block(block_of(session.runbook, "canary"))
        asked_first = list(asked)
        session.confirm = yes
        accepted = await session.run_block(block_of(session.runbook, "canary"))
    finally:
        await session.close()
    assert asked_first == [("canary", ["n1"]), ("rest", ["n3", "n5"])]
    assert [n.node for n in declined.nodes] == ["n1"]
    assert declined.not_run == ["n3", "n5"]
    assert declined.verdict == "declined"
    assert accepted.verdict == "pass"
    assert [n.node for n in accepted.nodes] == ["n1", "n3", "n5"]
    first_run = [e for e in sink.events if getattr(e.data, "run", None) == declined.run]
    assert [e.type for e in first_run][:6] == [
        "action.confirmed",
        "block.started",
        "block.output",
        "node.result",
        "action.declined",
        "block.finished",
    ]
    stages = [e.stage for e in payloads(sink, ActionConfirmed)]
    assert stages == ["canary", "canary", "rest"]


async def test_timeout_kills_the_remote_process_group(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    marker = sleep_marker()
    body = f"sleep 300 {marker} & sleep 301 {marker}; echo never"
    session = session_for(
        sshd, tmp_path, fence("hang", body, on_="role=b", timeout="1s"), sink=sink
    )
    began = time.monotonic()
    try:
        run = await session.run_block(block_of(session.runbook, "hang"))
    finally:
        await session.close()
    assert time.monotonic() - began < 4
    assert [n.verdict for n in run.nodes] == ["indeterminate"] * 3
    for node in run.nodes:
        assert node.reason.startswith("timed out after 1s; remote process group")
        assert "terminated (SIGTERM)" in node.reason
    assert survivors(marker) == []


async def test_cancel_kills_the_remote_processes_too(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    marker = sleep_marker()
    body = f"sleep 300 {marker}; echo never"
    session = session_for(
        sshd, tmp_path, fence("long", body, kind="action", on_="role=a"), sink=sink, confirm=yes
    )
    task = asyncio.create_task(session.run_block(block_of(session.runbook, "long")))
    try:
        deadline = time.monotonic() + 10
        while len([s for s in survivors(marker) if s.split()[1] == "sleep"]) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await session.close()
    assert survivors(marker) == []
    results = [e for e in payloads(sink, NodeResult)]
    assert {r.verdict for r in results} == {"indeterminate"}
    assert all(r.reason.startswith("cancelled: remote process group") for r in results)
    assert types(sink)[-1] == "block.cancelled"
    assert types(sink)[0] == "action.confirmed"


async def test_same_agrees_across_real_nodes_and_names_the_odd_one(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    agree = fence(
        "agree",
        """echo '[{"Status": {"leader": 7, "me": "'{{node}}'"}}]'""",
        on_="all",
        expect={"exit": 0, "same": {"json": ".[0].Status.leader"}},
    )
    differ = fence(
        "differ",
        'if [ {{node}} = n4 ]; then echo "revision: 9"; else echo "revision: 10"; fi',
        on_="all",
        expect={"same": {"regex": "revision: (\\d+)"}},
    )
    session = session_for(sshd, tmp_path, agree + "\n" + differ, sink=sink)
    try:
        result = await session.run()
    finally:
        await session.close()
    agreed, differed = result.runs
    assert agreed.verdict == "pass"
    assert differed.verdict == "fail"
    assert [n.node for n in differed.nodes if n.verdict == "fail"] == ["n4"]
    assert "'9' here but '10' on the majority" in differed.nodes[3].reason
    results = [e for e in payloads(sink, NodeResult) if e.block == "differ"]
    assert [r.verdict for r in results].count("fail") == 1


@pytest.mark.parametrize(
    ("jump", "connects"), [("n1", 2), ("n1,n4", 3), ("n1, icssh@127.0.0.5", 3)]
)
async def test_jump_hosts_carry_the_connection(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink, jump: str, connects: int
) -> None:
    runbook = write_runbook(tmp_path, fence("hop", 'echo "${SSH_CONNECTION##* }"', on_="name=n2"))
    config = cluster_config(sshd)
    jump = jump.replace("127.0.0.5", f"127.0.0.5:{sshd.port}")
    nodes = [n.model_copy(update={"jump": jump}) if n.name == "n2" else n for n in config.nodes]
    config = config.model_copy(update={"nodes": nodes})
    targets = LiveTargets(config)
    session = RunbookSession(runbook, config, sink, targets=targets)
    try:
        run = await session.run_block(block_of(runbook, "hop"))
        again = await session.run_block(block_of(runbook, "hop"))
    finally:
        await session.close()
    assert run.verdict == "pass", run.reason
    assert run.nodes[0].stdout == f"{sshd.port}\n"
    assert again.verdict == "pass"
    assert targets.pool.stats.connects == connects  # every hop once, then pooled


async def test_jump_hosts_that_loop_are_an_error(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    runbook = write_runbook(tmp_path, fence("hop", "true", on_="name=n1"))
    config = cluster_config(sshd)
    loop = {"n1": "n2", "n2": "n1"}
    nodes = [n.model_copy(update={"jump": loop.get(n.name)}) for n in config.nodes]
    config = config.model_copy(update={"nodes": nodes})
    session = RunbookSession(runbook, config, sink, targets=LiveTargets(config))
    try:
        run = await session.run_block(block_of(runbook, "hop"))
    finally:
        await session.close()
    assert run.nodes[0].verdict == "error"
    assert run.nodes[0].reason == "config: jump hosts loop back on themselves: n1 -> n2 -> n1"


async def test_accept_new_records_an_unknown_host_and_strict_refuses_it(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    known = tmp_path / "known_hosts"
    runbook = write_runbook(tmp_path, fence("hi", "echo hi", on_="name=n5"))
    config = cluster_config(sshd)
    strict = config.model_copy(update={"ssh": ssh_settings(sshd, known_hosts=known)})
    session = RunbookSession(runbook, strict, sink, targets=LiveTargets(strict))
    try:
        refused = await session.run_block(block_of(runbook, "hi"))
    finally:
        await session.close()
    assert refused.nodes[0].verdict == "error"
    assert "strict host key checking" in refused.nodes[0].reason
    relaxed = config.model_copy(
        update={"ssh": ssh_settings(sshd, known_hosts=known, host_keys="accept-new")}
    )
    session = RunbookSession(runbook, relaxed, sink, targets=LiveTargets(relaxed))
    try:
        accepted = await session.run_block(block_of(runbook, "hi"))
    finally:
        await session.close()
    assert accepted.verdict == "pass"
    assert known.read_text() == f"[127.0.0.6]:{sshd.port} {sshd.host_public_key}\n"


async def test_a_node_that_refuses_connections_is_an_error_not_a_failure(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    runbook = write_runbook(tmp_path, fence("hi", "echo hi", on_="all"))
    config = cluster_config(sshd)
    dead = Node(name="dead", host="127.0.0.99", port=sshd.port, user=sshd.user)
    config = config.model_copy(update={"nodes": [config.nodes[0], dead]})
    session = RunbookSession(runbook, config, sink, targets=LiveTargets(config))
    try:
        run = await session.run_block(block_of(runbook, "hi"))
    finally:
        await session.close()
    assert [n.verdict for n in run.nodes] == ["pass", "error"]
    assert run.nodes[1].reason.startswith("unreachable: cannot reach 127.0.0.99")
    assert run.verdict == "error"


async def test_a_connection_found_closed_before_the_command_is_reopened_once(
    sshd: SshdCluster,
) -> None:
    node = cluster_config(sshd).nodes[0]
    pool = SSHPool(ssh_settings(sshd), [node])
    try:
        entry = await pool.connection(node)
        assert entry.conn is not None
        entry.conn.abort()  # closed, and the pool has not noticed yet
        assert entry.alive
        process = await pool.target(node).start("echo hi", shell="sh")
        chunks = [chunk.data async for chunk in process]
        status = await process.wait()
        await process.close()
    finally:
        await pool.close()
    assert (b"".join(chunks), status.code) == (b"hi\n", 0)
    assert (pool.stats.connects, pool.stats.reconnects, pool.stats.commands) == (2, 1, 1)
