"""A real Redis replication group on loopback: a primary, two replicas, three Sentinels and a
prometheus-redis-exporter per server (Debian redis-server, redis-sentinel and
prometheus-redis-exporter), for end-to-end tests.

Node ``rN`` is one Redis server and one Sentinel. Each server can be killed as a crash would, and
started again by a stand-in for ``systemctl start redis-server`` that the node's shell finds
first on its ``PATH`` (a node here has no service manager). The servers run as ``user``, the
account the test's sshd logs in as, so the one the runbook starts is like the one the test
started; the group's folder is theirs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import binary, free_port, wait_until

MASTER = "mymaster"


@dataclass
class RedisNode:
    name: str
    port: int
    sentinel_port: int
    exporter_port: int
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "redis.conf"

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"


@dataclass
class RedisGroup:
    """The group; ``procs`` are the Sentinels and exporters (servers run daemonized)."""

    root: Path
    nodes: list[RedisNode]
    user: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli(self, port: int, *args: str) -> str:
        """``redis-cli -p port args…``' output ("" when the server does not answer)."""
        try:
            done = subprocess.run(
                [binary("redis-cli", "redis-tools"), "-p", str(port), *args],
                capture_output=True,
                text=True,
                timeout=5,
            )
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout if done.returncode == 0 else ""

    def role(self, node: RedisNode) -> str:
        """``master``, ``slave`` or "" (down)."""
        return self.cli(node.port, "role").split("\n", 1)[0].strip()

    def primary_port(self) -> int | None:
        """The primary's port as the first Sentinel sees it."""
        reply = self.cli(self.nodes[0].sentinel_port, "sentinel", "get-master-addr-by-name", MASTER)
        lines = reply.split()
        return int(lines[1]) if len(lines) == 2 else None

    def start_server(self, node: RedisNode) -> None:
        """Start ``node``'s server as its service would (daemonized, its own config)."""
        server = binary("redis-server", "redis-server")
        subprocess.run([server, str(node.conf)], check=True, user=self.user)
        wait_until(lambda: self.role(node) != "", 20, f"redis {node.name} to answer")

    def kill_server(self, node: RedisNode) -> None:
        """SIGKILL ``node``'s server, as a crash would."""
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(node.pidfile.read_text().strip()), signal.SIGKILL)
        wait_until(lambda: self.role(node) == "", 20, f"redis {node.name} to die")

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                os.kill(int(node.pidfile.read_text().strip()), signal.SIGKILL)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def start_group(root: Path, user: str, names: tuple[str, ...] = ("r1", "r2", "r3")) -> RedisGroup:
    """Start the servers (the first is the primary), the Sentinels and the exporters."""
    account = pwd.getpwnam(user)
    root.chmod(0o755)
    nodes = []
    for name in names:
        (root / name).mkdir()
        os.chown(root / name, account.pw_uid, account.pw_gid)
        nodes.append(RedisNode(name, free_port(), free_port(), free_port(), root / name))
    group = RedisGroup(root, nodes, user)
    primary = nodes[0]
    for node in nodes:
        lines = [
            f"port {node.port}",
            "bind 127.0.0.1",
            "daemonize yes",
            f"pidfile {node.pidfile}",
            f"logfile {node.root / 'redis.log'}",
            f"dir {node.root}",
            'save ""',
            "appendonly no",
        ]
        if node is not primary:
            lines.append(f"replicaof 127.0.0.1 {primary.port}")
        node.conf.write_text("\n".join(lines) + "\n")
        group.start_server(node)
    sentinel = binary("redis-sentinel", "redis-sentinel")
    exporter = binary("prometheus-redis-exporter", "prometheus-redis-exporter")
    for node in nodes:
        conf = node.root / "sentinel.conf"
        conf.write_text(
            f"port {node.sentinel_port}\nbind 127.0.0.1\ndir {node.root}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 4000\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        log = (node.root / "sentinel.log").open("ab")
        group.procs.append(subprocess.Popen([sentinel, str(conf)], stdout=log, stderr=log))
        log = (node.root / "exporter.log").open("ab")
        group.procs.append(
            subprocess.Popen(
                [
                    exporter,
                    f"-redis.addr=redis://127.0.0.1:{node.port}",
                    f"-web.listen-address=127.0.0.1:{node.exporter_port}",
                ],
                stdout=log,
                stderr=log,
            )
        )
    wait_until(
        lambda: (
            all(group.role(n) == "slave" for n in nodes[1:])
            and "master_link_status:up" in group.cli(nodes[-1].port, "info", "replication")
        ),
        90,  # waits, not limits: a machine loaded on both cores took over 30 s once
        "both replicas to sync",
    )
    wait_until(
        lambda: all("sentinels=3" in group.cli(n.sentinel_port, "info", "sentinel") for n in nodes),
        90,
        "the three Sentinels to see each other",
    )
    return group
