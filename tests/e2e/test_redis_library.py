"""End to end: the library's Redis runbooks against a real primary and replica (issue 12).

Two nodes behind real OpenSSH (127.0.0.51 and .52), each running Debian's redis-server on its
own address and the same port. The primary is killed: the replication runbook finds it gone,
promotes the replica and verifies it; the old primary comes back and step 5 makes it a replica
of the promoted one. The capacity runbook reads memory, clients and snapshots and writes one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Data, node_config, run_runbook, verdicts
from tests.execute.sshd import SshdCluster
from tests.library.redis_servers import redis_cli, start_redis, stop
from tests.servers import free_port, wait_until

R1, R2 = "127.0.0.51", "127.0.0.52"


@pytest.fixture(scope="module")
def nodes() -> Iterator[SshdCluster]:
    cluster = SshdCluster.start([R1, R2])
    yield cluster
    cluster.stop()


def config(tmp: Path, nodes: SshdCluster) -> Path:
    # staging: prod refuses --yes for typed confirmations (by design)
    return node_config(tmp, nodes, [("r1", R1, "redis"), ("r2", R2, "redis")], profile="staging")


def run(cfg: Path, runbook: str, *args: str) -> tuple[int, dict[str, dict[str, str]], Data]:
    code, data = run_runbook(cfg, runbook, "--yes", *args)
    return code, verdicts(data), data


def test_replication_runbook_promotes_and_demotes(tmp_path: Path, nodes: SshdCluster) -> None:
    port = free_port()
    primary = start_redis(tmp_path / "r1", port, host=R1)
    replica = start_redis(tmp_path / "r2", port, "--replicaof", R1, str(port), host=R2)
    try:
        wait_until(
            lambda: "master_link_status:up" in redis_cli(R2, port, "info", "replication"),
            20,
            "the replica to sync",
        )
        redis_cli(R1, port, "set", "orders:42", "paid")
        cfg = config(tmp_path, nodes)
        names = ("--var", f"redis_port={port}", "--var", "primary=r1", "--var", "replica=r2")
        names += ("--var", f"new_primary_address={R2}")

        code, healthy, _ = run(cfg, "redis-replication.md", *names, "--step", "2")
        assert healthy["primary-down"] == {"r1": "fail"}  # it answers: nothing to promote
        assert "promote" not in healthy

        stop(primary)
        steps = ("--step", "1", "--step", "2", "--step", "3", "--step", "4")
        code, verdicts, data = run(cfg, "redis-replication.md", *names, *steps)
        assert verdicts["answers"] == {"r1": "fail", "r2": "pass"}
        assert verdicts["primary-down"] == {"r1": "pass"}
        assert verdicts["promote"] == {"r2": "pass"}, data.get("stopped")
        assert verdicts["promoted"] == {"r2": "pass"}
        assert "role:master" in redis_cli(R2, port, "info", "replication")
        assert redis_cli(R2, port, "get", "orders:42") == "paid\n"  # the data came along

        primary = start_redis(tmp_path / "r1", port, host=R1)  # back, still a primary
        code, verdicts, data = run(cfg, "redis-replication.md", *names, "--step", "5")
        assert code == 0, (verdicts, data.get("stopped"))
        assert verdicts == {
            "old-primary-back": {"r1": "pass"},
            "demote": {"r1": "pass"},
            "old-primary-linked": {"r1": "pass"},
        }
        assert "role:slave" in redis_cli(R1, port, "info", "replication")
    finally:
        for process in (replica, primary):
            stop(process)


def test_capacity_runbook_reads_and_writes_a_snapshot(tmp_path: Path, nodes: SshdCluster) -> None:
    port = free_port()
    servers = [start_redis(tmp_path / name, port, host=h) for name, h in (("r1", R1), ("r2", R2))]
    try:
        cfg = config(tmp_path, nodes)
        code, verdicts, data = run(
            cfg, "redis-capacity.md", "--var", f"redis_port={port}", "--var", "server=r2"
        )
        assert code == 0, (verdicts, data.get("stopped"))
        both = {"r1": "pass", "r2": "pass"}
        assert verdicts["memory"] == verdicts["clients"] == verdicts["persistence"] == both
        assert verdicts["bgsave"] == verdicts["saved"] == {"r2": "pass"}
        assert (tmp_path / "r2" / "dump.rdb").is_file()  # the snapshot really was written
        assert not (tmp_path / "r1" / "dump.rdb").exists()
    finally:
        for process in servers:
            stop(process)
