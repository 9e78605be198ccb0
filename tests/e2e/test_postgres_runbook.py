"""End to end: the bundled PostgreSQL runbooks against a real primary and streaming replica.

Two nodes, each one PostgreSQL server (Debian ``postgresql``) reached over real OpenSSH (its
own 127.0.0.x address, where sshd sets the node's ``PGHOST``/``PGPORT``/``PGDATABASE``/``PGDATA``
and puts the server's tools first on its ``PATH``), and a real Prometheus scraping a
prometheus-postgres-exporter per server. Two failures, each on a fresh pair:

- WAL replay is paused on the replica while the primary writes: the lag runbook must see the
  lag, find replay paused, resume it and see the replica catch up;
- the primary stops: the failover runbook must promote the replica, see it take writes and
  fence the old primary, which then starts as a read-only standby, not a second primary;
- sessions left idle in a transaction fill the primary's connections: the connections runbook
  must terminate those, and only those.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
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
from tests.e2e.postgres_cluster import PgPair, start_pair
from tests.execute.sshd import SshdCluster, login_user
from tests.servers import Server, prometheus_server, prometheus_value, running, wait_until

LAG_RUNBOOK = ROOT / "runbooks" / "postgres-replica-lag.md"
FAILOVER_RUNBOOK = ROOT / "runbooks" / "postgres-primary-down.md"
CONNECTIONS_RUNBOOK = ROOT / "runbooks" / "postgres-too-many-connections.md"
ADDRESSES = ["127.0.0.51", "127.0.0.52"]
LAG = "max(pg_stat_replication_pg_wal_lsn_diff)"


@pytest.fixture
def pair() -> Iterator[PgPair]:
    root = Path(tempfile.mkdtemp(prefix="ic-pg-"))  # the login user must reach it
    started = start_pair(root, login_user())
    yield started
    started.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def nodes(pair: PgPair) -> Iterator[SshdCluster]:
    env = "".join(
        f"Match LocalAddress {address}\n"
        f"  SetEnv PGHOST=127.0.0.1 PGPORT={node.port} PGDATABASE=postgres "
        f"PGDATA={node.data} PATH={pair.bin}:/usr/bin:/bin\n"
        for address, node in zip(ADDRESSES, pair.nodes, strict=True)
    )
    cluster = SshdCluster.start(ADDRESSES, extra_config=env)
    yield cluster
    cluster.stop()


@pytest.fixture
def prometheus(pair: PgPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = prometheus_server(
        tmp_path_factory.mktemp("prom"),
        {"postgres": [f"127.0.0.1:{n.exporter_port}" for n in pair.nodes]},
        # The exporter spends about a second retrying a server that refuses connections, so
        # a 1s scrape timeout would lose pg_up 0 (the scrape fails, up is 0): 2s.
        scrape_interval="2s",
        scrape_timeout="2s",
    )
    with running(server):
        wait_until(
            lambda: prometheus_value(server.url, "count(pg_up == 1)") == 2,
            30,
            "2 PostgreSQL scraped",
        )
        wait_until(
            lambda: prometheus_value(server.url, LAG) is not None, 30, "the replica's lag scraped"
        )
        yield server


def config(tmp: Path, nodes: SshdCluster, prometheus: Server) -> Path:
    entries = [(f"pg{i}", a, "postgres") for i, a in enumerate(ADDRESSES, start=1)]
    return node_config(
        tmp, nodes, entries, extra=f"prometheus: {{url: '{prometheus.url}', timeout: 3s}}\n"
    )


def run(cfg: Path, runbook: Path, *args: str) -> tuple[int, Data]:
    names = ("--var", "server=pg1") if runbook == CONNECTIONS_RUNBOOK else (
        "--var", "primary=pg1", "--var", "replica=pg2"
    )  # fmt: skip
    return run_runbook(cfg, runbook, *names, *args)


# Headless, the typed confirmation a prod profile asks for is given as a recorded risk.
RISK = ("--yes", "--accept-risk", "e2e test: no terminal to type on")


def test_lag_runbook_finds_paused_replay_resumes_it_and_sees_the_replica_catch_up(
    tmp_path: Path, pair: PgPair, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    lint = CliRunner().invoke(cli, ["lint", "--config", str(cfg)])
    assert lint.exit_code == 0, lint.output
    primary, replica = pair.nodes

    # Healthy: replay is not paused, so the runbook's gate refuses to resume anything.
    code, healthy = run(cfg, LAG_RUNBOOK, "--step", "3")
    assert verdicts(healthy)["replay-paused"] == {"pg2": "fail"}

    pair.sql(replica, "SELECT pg_wal_replay_pause()")
    wait_until(lambda: pair.sql(replica, "SELECT pg_is_wal_replay_paused()") == "t", 10, "pause")
    pair.sql(primary, "INSERT INTO heartbeat SELECT now() FROM generate_series(1, 500000)")
    # Over the runbook's 16 MiB threshold, so its "caught up" has something to prove.
    wait_until(
        lambda: (prometheus_value(prometheus.url, LAG) or 0) > 20_000_000, 30, "lag in Prometheus"
    )

    code, data = run(cfg, LAG_RUNBOOK, *RISK)
    assert code == 0, json.dumps(verdicts(data), indent=1)
    results = verdicts(data)
    assert results["primary-view"] == {"pg1": "pass"}
    assert results["replay-paused"] == {"pg2": "pass"}
    assert results["resume-replay"] == {"pg2": "pass"}
    assert results["replay-running"] == {"pg2": "pass"}
    assert results["caught-up"] == {"pg1": "pass"}
    assert results["lag-under-threshold"] == {"prometheus": "pass"}

    # What the runbook concluded is what the servers say.
    assert pair.sql(replica, "SELECT pg_is_wal_replay_paused()") == "f"
    wait_until(
        lambda: pair.sql(replica, "SELECT count(*) FROM heartbeat") == "500000", 15, "the rows"
    )
    assert_log_verifies(data)


def test_failover_runbook_promotes_the_replica_and_fences_the_old_primary(
    tmp_path: Path, pair: PgPair, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    primary, replica = pair.nodes
    pair.sql(primary, "INSERT INTO heartbeat VALUES (now())")
    wait_until(lambda: pair.sql(replica, "SELECT count(*) FROM heartbeat") == "1", 10, "the row")

    # Nothing seen down in this incident: the promotion is refused.
    code, refused = run(cfg, FAILOVER_RUNBOOK, "--step", "3", *RISK)
    assert code != 0
    assert verdicts(refused)["promote"] == {}, refused
    assert pair.in_recovery(replica) == "t"

    pair.stop(primary, mode="immediate")  # the primary crashes
    code, data = run(cfg, FAILOVER_RUNBOOK, *RISK)
    assert code == 0, json.dumps(verdicts(data), indent=1)
    results = verdicts(data)
    assert results["primary-down"] == {"pg1": "pass"}
    down = f'pg_up{{instance="127.0.0.1:{primary.exporter_port}",job="postgres"}}'
    assert results["exporter-sees-down"] == {down: "pass"}  # the primary's, and only it
    assert results["promote"] == {"pg2": "pass"}
    assert results["takes-writes"] == {"pg2": "pass"}
    assert results["fence-old-primary"] == {"pg1": "pass"}
    assert results["old-primary-fenced"] == {"pg1": "pass"}

    # The replica is the primary now, with the old primary's last write, and takes writes.
    assert pair.in_recovery(replica) == "f"
    assert pair.sql(replica, "INSERT INTO heartbeat VALUES (now())") == "INSERT 0 1"
    assert pair.sql(replica, "SELECT count(*) FROM heartbeat") == "2"
    # Someone starts the old primary anyway: fenced, it comes up read-only, not as a primary.
    pair.start(primary)
    assert pair.in_recovery(primary) == "t"
    assert_log_verifies(data)


def session(pair: PgPair, *, in_transaction: bool) -> subprocess.Popen[str]:
    """An application's connection to the primary, left idle (in a transaction or not)."""
    proc = subprocess.Popen(
        [str(pair.bin / "psql"), "-X", "-h", "127.0.0.1", "-p", str(pair.nodes[0].port),
         "-d", "postgres"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        text=True, user=pair.user,
        env={"PATH": "/usr/bin:/bin", "PGAPPNAME": "leaky-app"},
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write("BEGIN;\nSELECT 1;\n" if in_transaction else "SELECT 1;\n")
    proc.stdin.flush()
    return proc


def test_connections_runbook_terminates_only_the_stuck_idle_transactions(
    tmp_path: Path, pair: PgPair, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    primary = pair.nodes[0]
    count = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leaky-app' AND state = "
    )
    stuck = [session(pair, in_transaction=True) for _ in range(12)]
    idle = session(pair, in_transaction=False)
    try:
        wait_until(lambda: pair.sql(primary, count + "'idle in transaction'") == "12", 20, "12")
        wait_until(lambda: pair.sql(primary, count + "'idle'") == "1", 20, "the idle session")
        time.sleep(1.5)  # older than the runbook's idle_for below

        code, data = run(cfg, CONNECTIONS_RUNBOOK, "--var", "idle_for=1 seconds", *RISK)
        assert code == 0, json.dumps(verdicts(data), indent=1)
        results = verdicts(data)
        assert results["stuck-idle"] == {"pg1": "pass"}
        assert results["terminate-stuck-idle"] == {"pg1": "pass"}
        assert results["no-stuck-idle"] == {"pg1": "pass"}
        assert results["under-80-percent"] == {"pg1": "pass"}
        terminated = next(
            n["stdout"]
            for s in data["steps"]
            for b in s["blocks"]
            if b["id"] == "terminate-stuck-idle"
            for n in b["nodes"]
        )
        assert terminated.strip() == "12"

        # The stuck transactions are gone; the session that was merely idle is untouched.
        assert pair.sql(primary, count + "'idle in transaction'") == "0"
        assert pair.sql(primary, count + "'idle'") == "1"
        assert_log_verifies(data)
    finally:
        for proc in [*stuck, idle]:
            proc.kill()
            proc.wait(timeout=10)
