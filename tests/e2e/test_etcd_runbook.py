"""End to end: the bundled etcd runbook against a real 3-member etcd cluster.

Each member is a node reached over real OpenSSH (its own 127.0.0.x address, where sshd sets
``ETCDCTL_ENDPOINTS`` to that member, as a real node's environment would point etcdctl at its
local member), and a real Prometheus scrapes the members' metrics for the runbook's PromQL.
Then a member is killed and the same checks must say which node is down.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli
from tests.e2e.conftest import ROOT, config, leaders
from tests.e2e.etcd_cluster import EtcdCluster
from tests.execute.sshd import SshdCluster
from tests.servers import Server, binary, wait_until


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
