"""Fixtures for the execution tests: real OpenSSH sshd nodes, asyncssh fault servers, helpers."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest

from console.config import Config, Node, SSHSettings
from console.journal.events import Payload
from console.journal.sink import MemorySink
from console.runbook.model import Block, BlockOptions, Runbook
from console.runbook.parse import parse_runbook
from tests.execute.fakeserver import FakeSSHServer
from tests.execute.sshd import SshdCluster, SshdUnavailable, loopback_addresses

NODE_COUNT = 6


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshdCluster]:
    """Six sshd "nodes" on 127.0.0.2-7 (fails, never skips, when sshd is missing)."""
    try:
        cluster = SshdCluster.start(loopback_addresses(NODE_COUNT))
    except SshdUnavailable as exc:
        pytest.fail(str(exc))
    yield cluster
    cluster.stop()


def ssh_settings(cluster: SshdCluster, **overrides: Any) -> SSHSettings:
    """Client settings for the cluster: its known_hosts and key, no agent, no ~/.ssh/config."""
    values: dict[str, Any] = {
        "config": None,
        "known_hosts": cluster.known_hosts,
        "identity_files": [cluster.client_key],
        "agent": False,
        "user": cluster.user,
        "connect_timeout": 5.0,
    }
    values.update(overrides)
    return SSHSettings(**values)


def cluster_nodes(cluster: SshdCluster) -> list[Node]:
    """n1..n6; the odd ones have role ``a``, the even ones role ``b``."""
    return [
        Node.model_validate({**d, "roles": ["a" if i % 2 else "b"], "labels": {"i": str(i)}})
        for i, d in enumerate(cluster.node_dicts(), start=1)
    ]


def cluster_config(cluster: SshdCluster, **overrides: Any) -> Config:
    """A dev-profile config whose nodes are the cluster's addresses."""
    values: dict[str, Any] = {"nodes": cluster_nodes(cluster), "ssh": ssh_settings(cluster)}
    values.update(overrides)
    return Config(**values)


def sleep_marker() -> str:
    """A unique extra argument for ``sleep`` (GNU sleep adds its arguments up)."""
    return f"0.{secrets.randbelow(10**9):09d}"


def survivors(marker: str) -> list[str]:
    """Processes on this machine (where sshd runs) whose command line holds ``marker``."""
    out = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


@pytest.fixture
def sink() -> MemorySink:
    """An in-memory event sink."""
    return MemorySink()


@pytest.fixture(scope="session")
def client_key() -> asyncssh.SSHKey:
    """The key the test client offers to fake servers."""
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def fake_server(client_key: asyncssh.SSHKey) -> AsyncIterator[FakeSSHServer]:
    """An asyncssh server on 127.0.0.1 that accepts ``client_key``."""
    server = FakeSSHServer(
        asyncssh.generate_private_key("ssh-ed25519"), client_key.export_public_key()
    )
    await server.start()
    yield server
    await server.close()


def fake_settings(
    server: FakeSSHServer, key: asyncssh.SSHKey, tmp_path: Path, **overrides: Any
) -> SSHSettings:
    """Client settings that trust ``server``'s host key and offer ``key``."""
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} {server.host_key.export_public_key().decode()}")
    key_file = tmp_path / "id_test"
    key.write_private_key(str(key_file))
    values: dict[str, Any] = {
        "config": None,
        "known_hosts": known,
        "identity_files": [key_file],
        "agent": False,
        "user": "tester",
        "connect_timeout": 2.0,
    }
    values.update(overrides)
    return SSHSettings(**values)


def fake_node(server: FakeSSHServer, name: str = "fake") -> Node:
    """The fake server as an inventory node."""
    return Node(name=name, host="127.0.0.1", port=server.port)


def fence(
    block_id: str, body: str, *, kind: str = "check", lang: str = "sh", **options: Any
) -> str:
    """A runbook block; option names ending in ``_`` lose it (``on_`` is ``on:``)."""
    lines = [f"#| id: {block_id}"]
    lines += [f"#| {k.rstrip('_')}: {json.dumps(v)}" for k, v in options.items()]
    return f"```{lang} {kind}\n" + "\n".join(lines) + f"\n{body}\n```\n"


def write_runbook(tmp_path: Path, *steps: str, front: str = "") -> Runbook:
    """Write a runbook with one ``##`` step per argument (each a string of blocks)."""
    text = f"---\nid: test-runbook\n{front}---\n# Test runbook\n"
    for number, blocks in enumerate(steps, start=1):
        text += f"\n## {number}. Step {number}\n\nDo step {number}.\n\n{blocks}"
    path = tmp_path / "runbook.md"
    path.write_text(text)
    runbook, problems = parse_runbook(text, path)
    assert runbook is not None, [str(p) for p in problems]
    return runbook


def make_block(body: str, *, kind: str = "check", lang: str = "sh", **options: Any) -> Block:
    """A block built directly (for runner tests that need no runbook)."""
    return Block(
        id="b",
        kind=kind,
        lang=lang,
        body=body,
        options=BlockOptions.model_validate({k.rstrip("_"): v for k, v in options.items()}),
        file="t.md",
        line=1,
        body_line=2,
        step=1,
    )


def types(sink: MemorySink, *, block: str | None = None) -> list[str]:
    """The event types recorded, optionally only those about one block."""
    return [e.type for e in sink.events if block is None or getattr(e.data, "block", None) == block]


P = TypeVar("P", bound=Payload)


def payloads(sink: MemorySink, kind: type[P]) -> list[P]:
    """The recorded payloads of one event type, in order."""
    return [e.data for e in sink.events if isinstance(e.data, kind)]


def block_of(runbook: Runbook, block_id: str) -> Block:
    """The runbook's block with ``block_id`` (which must exist)."""
    block = runbook.block(block_id)
    assert block is not None, block_id
    return block
