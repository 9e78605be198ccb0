"""Fixtures for the end-to-end tests: a real 3-member etcd cluster, each member a node behind
real OpenSSH, and a real Prometheus scraping the members (one of each per test module); the
node config every e2e test runs with, and how they run a runbook and read its JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import cli
from tests.e2e.etcd_cluster import EtcdCluster, start_cluster
from tests.execute.sshd import SshdCluster
from tests.servers import Server, prometheus_server, prometheus_value, running, wait_until

ROOT = Path(__file__).resolve().parents[2]
ADDRESSES = ["127.0.0.31", "127.0.0.32", "127.0.0.33"]
Data = dict[str, Any]


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("etcd"))
    yield cluster
    for member in cluster.members:
        cluster.stop(member)


@pytest.fixture(scope="module")
def nodes(etcd: EtcdCluster) -> Iterator[SshdCluster]:
    cluster = etcd_nodes(etcd)
    yield cluster
    cluster.stop()


def etcd_nodes(etcd: EtcdCluster, bin_dirs: list[Path] | None = None) -> SshdCluster:
    """sshd on ``ADDRESSES``, one node per member, whose etcdctl points at its own member;
    ``bin_dirs`` (one per member) come first on the nodes' PATH (stand-ins for their tools)."""
    env = "".join(
        f"Match LocalAddress {address}\n"
        f"  SetEnv ETCDCTL_API=3 ETCDCTL_ENDPOINTS={member.endpoint} ETCDCTL_DIAL_TIMEOUT=2s"
        + (f" PATH={bin_dirs[i]}:/usr/local/bin:/usr/bin:/bin\n" if bin_dirs else "\n")
        for i, (address, member) in enumerate(zip(ADDRESSES, etcd.members, strict=True))
    )
    return SshdCluster.start(ADDRESSES, extra_config=env)


@pytest.fixture(scope="module")
def prometheus(etcd: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    targets = [f"127.0.0.1:{m.client_port}" for m in etcd.members]
    server = prometheus_server(tmp_path_factory.mktemp("prom"), {"etcd": targets})
    with running(server):
        wait_until(lambda: leaders(server.url) == 3, 30, "Prometheus to scrape 3 etcd members")
        yield server


def leaders(url: str) -> float | None:
    """How many members Prometheus last saw with a leader."""
    return prometheus_value(url, "sum(etcd_server_has_leader)")


def config(tmp: Path, nodes: SshdCluster, prometheus: Server) -> Path:
    """A prod config: the three etcd members as nodes, and the Prometheus scraping them."""
    entries = [(f"m{i}", a, "etcd") for i, a in enumerate(ADDRESSES, start=1)]
    return node_config(
        tmp, nodes, entries, extra=f"prometheus: {{url: '{prometheus.url}', timeout: 3s}}\n"
    )


def node_config(
    tmp: Path,
    nodes: SshdCluster,
    entries: list[tuple[str, str, str]],
    *,
    profile: str = "prod",
    extra: str = "",
) -> Path:
    """A config with ``entries`` (name, address, roles: one, or several as ``"a, b"``) as nodes
    behind ``nodes``' sshd, the bundled runbooks and checks, and a journal under ``tmp``."""
    lines = "".join(
        f"  - {{name: {name}, host: {address}, port: {nodes.port}, user: {nodes.user}, "
        f"roles: [{role}]}}\n"
        for name, address, role in entries
    )
    path = tmp / "console.yaml"
    path.write_text(
        f"profile: {profile}\n"
        f"{extra}"
        f"nodes:\n{lines}"
        f"ssh: {{known_hosts: {nodes.known_hosts}, identity_files: [{nodes.client_key}], "
        "agent: false, config: null}\n"
        f"runbooks: [{ROOT / 'runbooks'}]\n"
        f"checks: [{ROOT / 'checks'}]\n"
        f"journal: {{dir: {tmp / 'incidents'}}}\n"
    )
    return path


def run_runbook(cfg: Path, runbook: str | Path, *args: str) -> tuple[int, Data]:
    """``incident-console run RUNBOOK --json --config CFG ARGS…`` (a name is one of the bundled
    runbooks): its exit code, which must say it ran (0 or 1), and its JSON."""
    path = runbook if isinstance(runbook, Path) else ROOT / "runbooks" / runbook
    result = CliRunner().invoke(cli, ["run", str(path), "--json", "--config", str(cfg), *args])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def verdicts(data: Data) -> dict[str, dict[str, str]]:
    """Each block's verdict on each node, from a run's JSON."""
    return {
        b["id"]: {n["node"]: n["verdict"] for n in b["nodes"]}
        for s in data["steps"]
        for b in s["blocks"]
    }


def block(data: Data, block_id: str) -> Data:
    """The block ``block_id`` of a run's JSON."""
    return next(b for s in data["steps"] for b in s["blocks"] if b["id"] == block_id)


def assert_log_verifies(data: Data) -> None:
    """The run's incident log verifies up to the head hash the run printed."""
    verified = CliRunner().invoke(cli, ["verify", data["journal"], "--head", data["head"]])
    assert verified.exit_code == 0, verified.output


def assert_consistent(cfg: Path, etcd: EtcdCluster) -> Data:
    """Run etcd-consistency at the members' common revision: every check passes on m1, m2 and
    m3, and their hashes are really one value. The run's JSON."""
    revision = etcd.common_revision()
    code, data = run_runbook(cfg, "etcd-consistency.md", "--var", f"revision={revision}")
    every = {"m1": "pass", "m2": "pass", "m3": "pass"}
    assert verdicts(data) == {
        "same-cluster": every,
        "revisions": every,
        "hashkv-agree": every,
        "applied-spread": {"prometheus": "pass"},
    }, revision
    assert code == 0
    hashkv = block(data, "hashkv-agree")
    assert len({json.loads(n["stdout"])[0]["HashKV"]["hash"] for n in hashkv["nodes"]}) == 1
    return data
