"""End to end: the bundled etcd runbook against a real 3-member etcd cluster.

Each member is a node reached over real OpenSSH (its own 127.0.0.x address, where sshd sets
``ETCDCTL_ENDPOINTS`` to that member, as a real node's environment would point etcdctl at its
local member), and a real Prometheus scrapes the members' metrics for the runbook's PromQL.
Then a member is killed and the same checks must say which node is down.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from console.cli import cli
from tests.e2e.conftest import (
    Data,
    assert_log_verifies,
    block,
    config,
    leaders,
    run_runbook,
    verdicts,
)
from tests.e2e.etcd_cluster import EtcdCluster
from tests.execute.sshd import SshdCluster
from tests.servers import Server, wait_until


def run_step_one(cfg: Path) -> tuple[int, Data]:
    return run_runbook(cfg, "etcd-member-down.md", "--step", "1")


def test_etcd_runbook_step_one_on_a_real_cluster(
    tmp_path: Path, etcd: EtcdCluster, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    lint = CliRunner().invoke(cli, ["lint", "--config", str(cfg)])
    assert lint.exit_code == 0, lint.output

    code, healthy = run_step_one(cfg)
    assert code == 0, healthy
    assert verdicts(healthy)["quorum"] == {"prometheus": "pass"}
    assert verdicts(healthy)["endpoint-status"] == {"m1": "pass", "m2": "pass", "m3": "pass"}

    etcd.stop(etcd.members[1])  # m2 goes down
    wait_until(lambda: leaders(prometheus.url) == 2, 30, "Prometheus to see m2 gone")
    code, degraded = run_step_one(cfg)
    assert code == 1
    assert verdicts(degraded)["quorum"] == {"prometheus": "pass"}  # 2 of 3 still hold quorum
    status = verdicts(degraded)["endpoint-status"]
    assert status == {"m1": "pass", "m2": "fail", "m3": "pass"}
    m2 = next(n for n in block(degraded, "endpoint-status")["nodes"] if n["node"] == "m2")
    assert "connection refused" in m2["stderr"] or "context deadline exceeded" in m2["stderr"]

    assert_log_verifies(degraded)
    export = CliRunner().invoke(cli, ["export", degraded["journal"], "--format", "md"])
    assert export.exit_code == 0 and "m2" in export.output

    # the test left the rest of the cluster as it found it
    assert etcd.healthy(etcd.members[0].endpoint)
