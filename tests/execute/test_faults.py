"""Fault injection with asyncssh's own server on 127.0.0.1: every failure gets the right verdict."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncssh

from console.config import Node, SSHSettings
from console.execute.runner import BlockRun, BlockRunner, NodeJob, RunSpec
from console.execute.ssh import SSHPool
from console.journal.events import BlockOutput, OutputTruncated
from console.journal.sink import MemorySink
from tests.execute.conftest import (
    fake_node,
    fake_settings,
    make_block,
    payloads,
    sleep_marker,
    survivors,
)
from tests.execute.fakeserver import DROP_TRIGGER, FakeSSHServer, SilentListener


async def run_on(
    settings: SSHSettings,
    node: Node,
    body: str,
    *,
    timeout: float = 10,
    cap: int = 1 << 20,
    sink: MemorySink | None = None,
    pool: SSHPool | None = None,
    **options: Any,
) -> BlockRun:
    own = pool is None
    pool = pool or SSHPool(settings, [node])
    block = make_block(body, **options)
    try:
        return await BlockRunner(sink or MemorySink(), output_cap=cap).run_shell(
            RunSpec(block, "r1", body, timeout), [NodeJob(node.name, pool.target(node), body)]
        )
    finally:
        if own:
            await pool.close()


async def test_refused_authentication_is_an_error(
    client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    server = FakeSSHServer(asyncssh.generate_private_key("ssh-ed25519"), None)
    await server.start()
    try:
        run = await run_on(fake_settings(server, client_key, tmp_path), fake_node(server), "true")
    finally:
        await server.close()
    node = run.nodes[0]
    assert node.verdict == "error"
    assert node.reason.startswith("auth: 127.0.0.1:")
    assert "authentication refused for tester" in node.reason
    assert server.commands == []


async def test_a_changed_host_key_is_refused(
    fake_server: FakeSSHServer, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    settings = fake_settings(fake_server, client_key, tmp_path)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    assert settings.known_hosts is not None
    settings.known_hosts.write_text(f"[127.0.0.1]:{fake_server.port} {other}")
    run = await run_on(settings, fake_node(fake_server), "true")
    node = run.nodes[0]
    assert node.verdict == "error"
    assert "host key does not match known_hosts" in node.reason
    assert fake_server.commands == []


async def test_accept_new_still_refuses_a_changed_key(
    fake_server: FakeSSHServer, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    settings = fake_settings(fake_server, client_key, tmp_path, host_keys="accept-new")
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    assert settings.known_hosts is not None
    settings.known_hosts.write_text(f"[127.0.0.1]:{fake_server.port} {other}")
    run = await run_on(settings, fake_node(fake_server), "true")
    assert run.nodes[0].verdict == "error"
    assert settings.known_hosts.read_text() == f"[127.0.0.1]:{fake_server.port} {other}"


async def test_a_port_that_never_speaks_times_out_as_unreachable(
    client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    silent = SilentListener()
    port = await silent.start()
    settings = SSHSettings(
        config=None,
        known_hosts=tmp_path / "known_hosts",
        host_keys="accept-new",
        agent=False,
        connect_timeout=1.0,
    )
    began = time.monotonic()
    try:
        run = await run_on(settings, Node(name="mute", host="127.0.0.1", port=port), "true")
    finally:
        await silent.close()
    assert time.monotonic() - began < 3
    node = run.nodes[0]
    assert node.verdict == "error"
    assert (
        node.reason == f"unreachable: 127.0.0.1:{port}: no SSH session within 1s (connect_timeout)"
    )


async def test_a_hanging_command_times_out_and_is_killed(
    fake_server: FakeSSHServer, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    marker = sleep_marker()
    settings = fake_settings(fake_server, client_key, tmp_path)
    run = await run_on(settings, fake_node(fake_server), f"sleep 300 {marker}", timeout=1)
    node = run.nodes[0]
    assert node.verdict == "indeterminate"
    assert "terminated (SIGTERM)" in node.reason
    assert survivors(marker) == []


async def test_a_connection_dropped_mid_command_is_indeterminate(
    fake_server: FakeSSHServer, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    settings = fake_settings(fake_server, client_key, tmp_path)
    node = fake_node(fake_server)
    pool = SSHPool(settings, [node])
    body = f"echo before; sleep 0.2; echo {DROP_TRIGGER.decode()}; sleep 300 {sleep_marker()}"
    try:
        dropped = await run_on(settings, node, body, kind="action", pool=pool)
        again = await run_on(settings, node, "echo again", pool=pool)
    finally:
        await pool.close()
    result = dropped.nodes[0]
    assert result.verdict == "indeterminate"
    assert result.reason.startswith("the connection dropped while the command ran")
    assert result.stdout == "before\n"
    assert again.nodes[0].verdict == "pass" and again.nodes[0].stdout == "again\n"
    assert pool.stats.reconnects == 1


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / (1 << 20)


async def test_100_mb_of_output_keeps_memory_bounded_with_exact_counts(
    fake_server: FakeSSHServer, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    total, line = 100_000_000, 17  # "0123456789abcdef\n"
    cap = 1 << 20
    sink = MemorySink()
    samples = [_rss_mib()]

    async def sample() -> None:
        while True:
            samples.append(_rss_mib())
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    began = time.monotonic()
    try:
        run = await run_on(
            fake_settings(fake_server, client_key, tmp_path),
            fake_node(fake_server),
            f"yes 0123456789abcdef | head -c {total}",
            cap=cap,
            sink=sink,
        )
    finally:
        sampler.cancel()
    elapsed = time.monotonic() - began
    node = run.nodes[0]
    assert node.verdict == "pass"
    (cut,) = node.truncations
    newlines_total = total // line  # every 17th byte is a newline; the last line is partial
    newlines_kept = cap // line
    assert (cut.stream, cut.kept_bytes, cut.dropped_bytes) == ("stdout", cap, total - cap)
    assert cut.dropped_lines == newlines_total - newlines_kept + 1
    assert len(node.stdout.encode()) == cap
    event = payloads(sink, OutputTruncated)[0]
    assert (event.kept_bytes, event.dropped_bytes, event.dropped_lines) == (
        cut.kept_bytes,
        cut.dropped_bytes,
        cut.dropped_lines,
    )
    kept_in_events = sum(len(e.text.encode()) for e in payloads(sink, BlockOutput))
    assert kept_in_events == cap
    assert max(samples) - samples[0] < 40, f"RSS grew {max(samples) - samples[0]:.0f} MiB"
    assert elapsed < 20


async def test_binary_output_is_flagged_and_counted(
    fake_server: FakeSSHServer, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    settings = fake_settings(fake_server, client_key, tmp_path)
    node = fake_node(fake_server)
    small = await run_on(settings, node, r"printf 'a\377b\000c\n'; printf '\376' >&2")
    result = small.nodes[0]
    assert result.stdout == "a\ufffdb\x00c\n"
    assert result.stderr == "\ufffd"
    assert result.invalid_utf8
    big = await run_on(settings, node, "head -c 262144 /dev/urandom", cap=65536)
    (cut,) = big.nodes[0].truncations
    assert 65536 - 3 <= cut.kept_bytes <= 65536
    assert cut.kept_bytes + cut.dropped_bytes == 262144
    assert big.nodes[0].verdict == "pass"
