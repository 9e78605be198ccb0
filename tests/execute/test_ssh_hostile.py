"""Hostile ssh configs and secrets on the node: jumps, known_hosts, the process list.

Against real OpenSSH sshd on loopback (see ``sshd.py``).
"""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest

from console.config import Node
from console.execute.session import RunbookSession
from console.execute.targets import LiveTargets
from console.journal.sink import MemorySink
from tests.execute.conftest import (
    block_of,
    cluster_config,
    fence,
    ssh_settings,
    write_runbook,
)
from tests.execute.sshd import SshdCluster

pytestmark = pytest.mark.sshd


def _ssh_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


async def test_proxyjump_to_an_ssh_config_alias_reaches_the_node(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    config_file = _ssh_config(
        tmp_path,
        f"Host bastion\n  HostName 127.0.0.2\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.client_key}\n"
        f"Host db*\n  HostName 127.0.0.3\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.client_key}\n  ProxyJump bastion\n",
    )
    runbook = write_runbook(tmp_path, fence("hop", 'echo "$SSH_CONNECTION"', on_="name=db1"))
    config = cluster_config(
        sshd,
        nodes=[Node(name="db1", host="db1", port=sshd.port)],
        ssh=ssh_settings(sshd, config=config_file, identity_files=[], user=None),
    )
    targets = LiveTargets(config)
    session = RunbookSession(runbook, config, sink, targets=targets)
    try:
        run = await session.run_block(block_of(runbook, "hop"))
    finally:
        await session.close()
    assert run.verdict == "pass", run.nodes[0].reason
    # sshd on 127.0.0.3 saw the connection come from the bastion's side (loopback 127.0.0.2)
    _client, _, server, port = run.nodes[0].stdout.split()
    assert (server, port) == ("127.0.0.3", str(sshd.port))
    assert targets.pool.stats.connects == 2


async def test_a_proxyjump_loop_in_ssh_config_is_a_verdict_not_a_traceback(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    config_file = _ssh_config(
        tmp_path,
        f"Host a\n  HostName 127.0.0.2\n  Port {sshd.port}\n  ProxyJump b\n"
        f"Host b\n  HostName 127.0.0.3\n  Port {sshd.port}\n  ProxyJump a\n",
    )
    runbook = write_runbook(tmp_path, fence("hop", "true", on_="name=a"))
    config = cluster_config(
        sshd,
        nodes=[Node(name="a", host="a", port=sshd.port)],
        ssh=ssh_settings(sshd, config=config_file),
    )
    session = RunbookSession(runbook, config, sink, targets=LiveTargets(config))
    try:
        run = await session.run_block(block_of(runbook, "hop"))
    finally:
        await session.close()
    assert run.nodes[0].verdict == "error"
    assert "a -> b -> a" in run.nodes[0].reason


async def test_accept_new_creates_known_hosts_private_to_the_operator(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    known = tmp_path / "fresh" / "known_hosts"
    runbook = write_runbook(tmp_path, fence("hi", "echo hi", on_="name=n5"))
    config = cluster_config(sshd)
    config = config.model_copy(
        update={"ssh": ssh_settings(sshd, known_hosts=known, host_keys="accept-new")}
    )
    session = RunbookSession(runbook, config, sink, targets=LiveTargets(config))
    try:
        run = await session.run_block(block_of(runbook, "hi"))
    finally:
        await session.close()
    assert run.verdict == "pass", run.nodes[0].reason
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.parent.stat().st_mode) == 0o700


async def test_the_nodes_process_list_does_not_show_the_block(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    marker = f"ic-secret-{secrets.token_hex(8)}"
    body = (
        f"token={marker}\n"
        "ps -o args= -p $$\n"
        "tr '\\0' ' ' < /proc/$$/cmdline; echo\n"
        "tr '\\0' ' ' < /proc/$PPID/cmdline; echo\n"
        'test -n "$token"; exit 7'
    )
    runbook = write_runbook(tmp_path, fence("ps", body, on_="name=n1", expect={"exit": 7}))
    config = cluster_config(sshd)
    session = RunbookSession(runbook, config, sink, targets=LiveTargets(config))
    try:
        run = await session.run_block(block_of(runbook, "ps"))
    finally:
        await session.close()
    node = run.nodes[0]
    assert run.verdict == "pass", node.reason  # the exit status still comes through
    assert "sh" in node.stdout  # ps and /proc did answer
    assert marker not in node.stdout


async def test_more_than_eight_jump_hosts_is_a_verdict_naming_the_chain(
    sshd: SshdCluster, tmp_path: Path, sink: MemorySink
) -> None:
    hops = "".join(f"Host h{i}\n  HostName 127.0.0.2\n  ProxyJump h{i + 1}\n" for i in range(12))
    config_file = _ssh_config(tmp_path, hops)
    runbook = write_runbook(tmp_path, fence("hop", "true", on_="name=h0"))
    config = cluster_config(
        sshd,
        nodes=[Node(name="h0", host="h0", port=sshd.port)],
        ssh=ssh_settings(sshd, config=config_file),
    )
    targets = LiveTargets(config)
    session = RunbookSession(runbook, config, sink, targets=targets)
    try:
        run = await session.run_block(block_of(runbook, "hop"))
    finally:
        await session.close()
    assert run.nodes[0].verdict == "error"
    chain = " -> ".join(f"h{i}" for i in range(10))
    assert run.nodes[0].reason == f"config: more than 8 jump hosts on the way to h0: {chain}"
    assert targets.pool.stats.connects == 0  # refused before connecting anywhere
