"""Fixtures for the end-to-end tests: a real 3-member etcd cluster, each member a node behind
real OpenSSH, and a real Prometheus scraping the members (one of each per test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.etcd_cluster import EtcdCluster, start_cluster
from tests.execute.sshd import SshdCluster
from tests.servers import Server, binary, free_port, wait_until

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
    tmp = tmp_path_factory.mktemp("prom")
    targets = ", ".join(f"'127.0.0.1:{m.client_port}'" for m in etcd.members)
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: etcd\n    static_configs: [{{targets: [{targets}]}}]\n"
    )
    (tmp / "data").mkdir()
    port = free_port()
    server = Server(
        [
            binary("prometheus", "prometheus"),
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        f"http://127.0.0.1:{port}",
        tmp / "prometheus.log",
    )
    server.start()
    wait_until(lambda: leaders(server.url) == 3, 30, "Prometheus to scrape 3 etcd members")
    yield server
    server.stop()


def leaders(url: str) -> float | None:
    try:
        reply = httpx.get(
            f"{url}/api/v1/query", params={"query": "sum(etcd_server_has_leader)"}, timeout=1
        ).json()
        result = reply["data"]["result"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    return float(result[0]["value"][1]) if result else None


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
    """A config with ``entries`` (name, address, role) as nodes behind ``nodes``' sshd, the
    bundled runbooks and checks, and a journal under ``tmp``."""
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
