"""Fixtures for the end-to-end tests: a real 3-member etcd cluster, each member a node behind
real OpenSSH, and a real Prometheus scraping the members (one of each per test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.etcd_cluster import EtcdCluster, start_cluster
from tests.execute.sshd import SshdCluster
from tests.servers import Server, prometheus_server, prometheus_value, running, wait_until

ROOT = Path(__file__).resolve().parents[2]
ADDRESSES = ["127.0.0.31", "127.0.0.32", "127.0.0.33"]


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
