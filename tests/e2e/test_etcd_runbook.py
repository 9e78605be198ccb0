"""End to end: the bundled etcd runbook against a real 3-member etcd cluster.

Each member is a node reached over real OpenSSH (its own 127.0.0.x address, where sshd sets
``ETCDCTL_ENDPOINTS`` to that member, as a real node's environment would point etcdctl at its
local member), and a real Prometheus scrapes the members' metrics for the runbook's PromQL.
Then a member is killed and the same checks must say which node is down.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from console.cli import cli
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
    env = "".join(
        f"Match LocalAddress {address}\n"
        f"  SetEnv ETCDCTL_API=3 ETCDCTL_ENDPOINTS={member.endpoint} ETCDCTL_DIAL_TIMEOUT=2s\n"
        for address, member in zip(ADDRESSES, etcd.members, strict=True)
    )
    cluster = SshdCluster.start(ADDRESSES, extra_config=env)
    yield cluster
    cluster.stop()


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
    entries = "".join(
        f"  - {{name: m{i}, host: {a}, port: {nodes.port}, user: {nodes.user}, roles: [etcd]}}\n"
        for i, a in enumerate(ADDRESSES, start=1)
    )
    path = tmp / "console.yaml"
    path.write_text(
        "profile: prod\n"
        f"prometheus: {{url: '{prometheus.url}', timeout: 3s}}\n"
        f"nodes:\n{entries}"
        f"ssh: {{known_hosts: {nodes.known_hosts}, identity_files: [{nodes.client_key}], "
        "agent: false, config: null}\n"
        f"runbooks: [{ROOT / 'runbooks'}]\n"
        f"checks: [{ROOT / 'checks'}]\n"
        f"journal: {{dir: {tmp / 'incidents'}}}\n"
    )
    return path


def run_step_one(cfg: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(ROOT / "runbooks" / "etcd-member-down.md"),
            "--step",
            "1",
            "--json",
            "--config",
            str(cfg),
        ],
    )
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def verdicts(data: dict, block: str) -> dict[str, str]:  # type: ignore[type-arg]
    run = next(b for s in data["steps"] for b in s["blocks"] if b["id"] == block)
    return {n["node"]: n["verdict"] for n in run["nodes"]}


def test_etcd_runbook_step_one_on_a_real_cluster(
    tmp_path: Path, etcd: EtcdCluster, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    lint = CliRunner().invoke(cli, ["lint", "--config", str(cfg)])
    assert lint.exit_code == 0, lint.output

    code, healthy = run_step_one(cfg)
    assert code == 0, healthy
    assert verdicts(healthy, "quorum") == {"prometheus": "pass"}
    assert verdicts(healthy, "endpoint-status") == {"m1": "pass", "m2": "pass", "m3": "pass"}

    etcd.stop(etcd.members[1])  # m2 goes down
    wait_until(lambda: leaders(prometheus.url) == 2, 30, "Prometheus to see m2 gone")
    code, degraded = run_step_one(cfg)
    assert code == 1
    assert verdicts(degraded, "quorum") == {"prometheus": "pass"}  # 2 of 3 still hold quorum
    status = verdicts(degraded, "endpoint-status")
    assert status == {"m1": "pass", "m2": "fail", "m3": "pass"}
    m2 = next(
        n
        for s in degraded["steps"]
        for b in s["blocks"]
        if b["id"] == "endpoint-status"
        for n in b["nodes"]
        if n["node"] == "m2"
    )
    assert "connection refused" in m2["stderr"] or "context deadline exceeded" in m2["stderr"]

    log = degraded["journal"]
    verified = CliRunner().invoke(cli, ["verify", log, "--head", degraded["head"]])
    assert verified.exit_code == 0, verified.output
    export = CliRunner().invoke(cli, ["export", log, "--format", "md"])
    assert export.exit_code == 0 and "m2" in export.output

    etcdctl = binary("etcdctl", "etcd-client")
    alive = subprocess.run(
        [etcdctl, "--endpoints", etcd.members[0].endpoint, "endpoint", "health"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert alive.returncode == 0  # the test left the rest of the cluster as it found it
