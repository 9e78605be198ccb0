"""End to end: the bundled Redis failover runbook against a real Sentinel-managed group.

Three nodes, each one Redis server and one Sentinel reached over real OpenSSH (its own 127.0.0.x
address, where sshd sets the node's ports and puts a stand-in ``systemctl`` first on its PATH),
and a real Prometheus scraping a prometheus-redis-exporter per server. The primary is killed;
the runbook must confirm that Sentinel promoted one replica, bring the old primary back, and
see it rejoin as a replica with replication whole.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from tests.e2e.conftest import (
    ROOT,
    Data,
    assert_log_verifies,
    node_config,
    run_runbook,
    verdicts,
)
from tests.e2e.redis_cluster import RedisGroup, start_group
from tests.execute.sshd import SshdCluster, login_user
from tests.servers import Server, binary, prometheus_server, prometheus_value, running, wait_until

RUNBOOK = ROOT / "runbooks" / "redis-primary-failover.md"
ADDRESSES = ["127.0.0.41", "127.0.0.42", "127.0.0.43"]

STAND_IN = """#!/bin/sh
# The node's service manager, as far as this test needs one.
case "$1 $2" in
  "start redis-server"|"restart redis-server") exec {server} {conf} ;;
  *) echo "systemctl stand-in: only 'start redis-server' here, not: $*" >&2; exit 1 ;;
esac
"""


@pytest.fixture(scope="module")
def group() -> Iterator[RedisGroup]:
    root = Path(tempfile.mkdtemp(prefix="ic-redis-"))  # the login user must reach it
    started = start_group(root, login_user())
    yield started
    started.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def nodes(group: RedisGroup) -> Iterator[SshdCluster]:
    server = binary("redis-server", "redis-server")
    env = []
    for address, node in zip(ADDRESSES, group.nodes, strict=True):
        bin_dir = node.root / "bin"
        bin_dir.mkdir()
        stand_in = bin_dir / "systemctl"
        stand_in.write_text(STAND_IN.format(server=server, conf=node.conf))
        stand_in.chmod(0o755)
        env.append(
            f"Match LocalAddress {address}\n"
            f"  SetEnv REDIS_PORT={node.port} SENTINEL_PORT={node.sentinel_port} "
            f"PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin\n"
        )
    cluster = SshdCluster.start(ADDRESSES, extra_config="".join(env))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def prometheus(group: RedisGroup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    targets = [f"127.0.0.1:{n.exporter_port}" for n in group.nodes]
    server = prometheus_server(tmp_path_factory.mktemp("prom"), {"redis": targets})
    with running(server):
        wait_until(
            lambda: prometheus_value(server.url, "count(redis_up == 1)") == 3, 30, "3 Redis scraped"
        )
        yield server


def config(tmp: Path, nodes: SshdCluster, prometheus: Server) -> Path:
    entries = [(f"r{i}", a, "redis, sentinel") for i, a in enumerate(ADDRESSES, start=1)]
    return node_config(
        tmp, nodes, entries, extra=f"prometheus: {{url: '{prometheus.url}', timeout: 3s}}\n"
    )


def run(cfg: Path, *args: str) -> tuple[int, Data]:
    return run_runbook(cfg, RUNBOOK, "--var", "member=r1", *args)


def test_failover_runbook_brings_the_old_primary_back_as_a_replica(
    tmp_path: Path, group: RedisGroup, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    lint = CliRunner().invoke(cli, ["lint", "--config", str(cfg)])
    assert lint.exit_code == 0, lint.output

    code, healthy = run(cfg, "--step", "1")
    assert code == 0, healthy
    assert verdicts(healthy)["sentinel-agreement"] == {"r1": "pass", "r2": "pass", "r3": "pass"}

    old_primary = group.nodes[0]
    assert group.role(old_primary) == "master"
    group.kill_server(old_primary)  # the primary crashes

    # Headless, the typed confirmation a prod profile asks for is given as a recorded risk.
    code, data = run(cfg, "--yes", "--accept-risk", "e2e test: no terminal to type on")
    assert code == 0, json.dumps(verdicts(data), indent=1)
    results = verdicts(data)
    assert results["one-primary"] == {"prometheus": "pass"}
    assert results["start-member"] == {"r1": "pass"}
    assert results["rejoined-as-replica"] == {"r1": "pass"}
    assert results["replication-whole"] == {"prometheus": "pass"}

    # What the runbook concluded is what the group says.
    assert group.role(old_primary) == "slave"
    new_primary = group.primary_port()
    assert new_primary in {n.port for n in group.nodes[1:]}
    # One primary. With Sentinel's 1 s down-after, a loaded machine can make it fail over once
    # more after the runbook ended; the group must then settle on one primary again.
    wait_until(
        lambda: [group.role(n) for n in group.nodes].count("master") == 1,
        30,
        "the group to settle on one primary",
    )

    assert_log_verifies(data)
