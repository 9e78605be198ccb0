"""A real PostgreSQL primary and streaming replica on loopback, with a
prometheus-postgres-exporter per server (Debian postgresql and prometheus-postgres-exporter),
for end-to-end tests.

The replica is made with ``pg_basebackup -R`` from the primary. Both servers run as ``user``,
the account the test's sshd logs in as (PostgreSQL refuses to run as root), with trust
authentication on 127.0.0.1 only; their folder is that user's. Node ``pg1`` starts as the
primary, ``pg2`` as its replica.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import binary, free_port, wait_until


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL server's ``bin`` folder; fail (never skip) without one."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail("pg_ctl not found: install the Debian package (apt-get install -y postgresql)")
    return found[-1].parent


@dataclass
class PgNode:
    name: str
    port: int
    exporter_port: int
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"


@dataclass
class PgPair:
    """The two servers; ``procs`` are the exporters (the servers run under ``pg_ctl``)."""

    root: Path
    nodes: list[PgNode]
    user: str
    bin: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A PostgreSQL tool from the server's ``bin`` folder, run as the servers' user."""
        return subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user,
            cwd=self.root,
        )

    def sql(self, node: PgNode, query: str) -> str:
        """``psql -Atc query`` on ``node``'s server ("" when it does not answer)."""
        try:
            done = self.run(
                "psql", "-h", "127.0.0.1", "-p", str(node.port), "-d", "postgres", "-Atc", query,
                timeout=10,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    def in_recovery(self, node: PgNode) -> str:
        """``t`` for a replica, ``f`` for a primary, "" when down."""
        return self.sql(node, "SELECT pg_is_in_recovery()")

    def start(self, node: PgNode) -> None:
        done = self.run("pg_ctl", "-D", str(node.data), "-l", str(node.log), "-w", "start")
        assert done.returncode == 0, done.stdout + done.stderr + node.log.read_text()

    def stop(self, node: PgNode, mode: str = "fast") -> None:
        """Stop ``node``'s server (``immediate`` is as a crash would)."""
        self.run("pg_ctl", "-D", str(node.data), "-m", mode, "-w", "stop")
        wait_until(lambda: self.in_recovery(node) == "", 20, f"postgres {node.name} to stop")

    def close(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.run("pg_ctl", "-D", str(node.data), "-m", "immediate", "-w", "stop")
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def start_pair(root: Path, user: str) -> PgPair:
    """initdb the primary, clone the replica with ``pg_basebackup -R``, start both and the
    exporters, and wait until the replica streams."""
    account = pwd.getpwnam(user)
    root.chmod(0o755)
    os.chown(root, account.pw_uid, account.pw_gid)
    nodes = [PgNode(name, free_port(), free_port(), root / name) for name in ("pg1", "pg2")]
    pair = PgPair(root, nodes, user, pg_bin_dir())
    for node in nodes:
        node.root.mkdir()
        os.chown(node.root, account.pw_uid, account.pw_gid)
    primary, replica = nodes
    done = pair.run("initdb", "-D", str(primary.data), "--auth=trust", "-U", user, "-E", "UTF8")
    assert done.returncode == 0, done.stdout + done.stderr
    settings = [
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{primary.root}'",
        "wal_level = replica",
        "max_wal_senders = 5",
        "hot_standby = on",
        "fsync = off",  # a test cluster: speed over durability
        "shared_buffers = 16MB",
        "max_connections = 20",
    ]
    with (primary.data / "postgresql.conf").open("a") as conf:
        conf.write("\n".join([*settings, f"port = {primary.port}"]) + "\n")
    with (primary.data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host replication {user} 127.0.0.1/32 trust\n")
    pair.start(primary)
    done = pair.run(
        "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-D", str(replica.data),
        "-R", "-X", "stream",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    with (replica.data / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {replica.port}\nunix_socket_directories = '{replica.root}'\n")
    pair.start(replica)
    wait_until(
        lambda: pair.sql(primary, "SELECT state FROM pg_stat_replication") == "streaming",
        30,
        "the replica to stream",
    )
    pair.sql(primary, "CREATE TABLE IF NOT EXISTS heartbeat (at timestamptz)")
    exporter = binary("prometheus-postgres-exporter", "prometheus-postgres-exporter")
    for node in nodes:
        log = (node.root / "exporter.log").open("ab")
        env = {
            "PATH": "/usr/bin:/bin",
            "DATA_SOURCE_NAME": (
                f"postgresql://{user}@127.0.0.1:{node.port}/postgres?sslmode=disable"
            ),
        }
        pair.procs.append(
            subprocess.Popen(
                [exporter, f"--web.listen-address=127.0.0.1:{node.exporter_port}"],
                stdout=log,
                stderr=log,
                env=env,
            )
        )
    return pair
