"""End to end: the consistency runbook names the one member of a real etcd cluster that really
diverged (issue 12, item 8: "one test where a check must fail").

The incident it stands for: a partition cuts member m3 off from m1 and m2; an operator, seeing
m3 without quorum, restarts it alone with ``etcd --force-new-cluster`` to get it serving again,
while the partition is still there. etcd allows it: m3 becomes a one-member cluster that keeps
the data it had and the cluster id, and takes writes m1 and m2 never see, while they, still a
quorum, take writes m3 never sees. Same cluster id everywhere, so step 1 cannot tell them
apart; the hashes at the common revision (step 2) can, and must name m3, and only m3.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import (
    Data,
    assert_log_verifies,
    block,
    config,
    run_runbook,
    verdicts,
)
from tests.e2e.etcd_cluster import EtcdCluster
from tests.execute.sshd import SshdCluster
from tests.servers import Server


def write(etcd: EtcdCluster, endpoints: str, prefix: str, count: int) -> None:
    for i in range(count):
        etcd.ctl("put", f"/split/{prefix}/{i}", f"{prefix} {i}", endpoints=endpoints)


def keys(etcd: EtcdCluster, endpoint: str) -> set[str]:
    """The keys under /split/ that the member at ``endpoint`` holds."""
    out = etcd.ctl("get", "/split/", "--prefix", "--keys-only", endpoints=endpoint)
    return {line for line in out.splitlines() if line}


def journal_results(data: Data, block_id: str) -> dict[str, tuple[str, str]]:
    """From the incident log itself: each node's verdict and reason for ``block_id``."""
    events = [json.loads(line) for line in Path(data["journal"]).read_text().splitlines()]
    return {
        e["data"]["node"]: (e["data"]["verdict"], e["data"]["reason"])
        for e in events
        if e["type"] == "node.result" and e["data"]["block"] == block_id
    }


def test_a_member_forced_into_its_own_cluster_is_named(
    tmp_path: Path, etcd: EtcdCluster, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    m1, m2, m3 = etcd.members
    write(etcd, etcd.endpoints, "before", 20)

    etcd.force_new_cluster(m3)
    majority = f"{m1.endpoint},{m2.endpoint}"
    etcd.wait_healthy(endpoints=majority)  # a new leader, if m3 led
    write(etcd, m3.endpoint, "m3-alone", 5)
    write(etcd, majority, "majority", 8)

    # the divergence is real: each side holds writes the other never saw
    only_m3 = {f"/split/m3-alone/{i}" for i in range(5)}
    only_majority = {f"/split/majority/{i}" for i in range(8)}
    assert only_m3 <= keys(etcd, m3.endpoint) and not only_majority & keys(etcd, m3.endpoint)
    for member in (m1, m2):
        held = keys(etcd, member.endpoint)
        assert only_majority <= held and not only_m3 & held

    revision = etcd.common_revision()  # m3's: fewer writes since the split
    code, data = run_runbook(cfg, "etcd-consistency.md", "--var", f"revision={revision}")
    every = {"m1": "pass", "m2": "pass", "m3": "pass"}
    assert verdicts(data) == {
        "same-cluster": every,  # --force-new-cluster keeps the cluster id: step 1 cannot see it
        "revisions": every,
        "hashkv-agree": {"m1": "pass", "m2": "pass", "m3": "fail"},
        "applied-spread": {"prometheus": "pass"},
    }, revision
    assert code == 1

    hashes = {
        n["node"]: str(json.loads(n["stdout"])[0]["HashKV"]["hash"])
        for n in block(data, "hashkv-agree")["nodes"]
    }
    assert hashes["m1"] == hashes["m2"] != hashes["m3"]
    logged = journal_results(data, "hashkv-agree")
    assert {node: verdict for node, (verdict, _) in logged.items()} == {
        "m1": "pass",
        "m2": "pass",
        "m3": "fail",
    }
    reason = logged["m3"][1]
    assert reason == (
        f"same: .[0].HashKV.hash is '{hashes['m3']}' here but '{hashes['m1']}' on the majority "
        f"('{hashes['m1']}' on m1, m2, '{hashes['m3']}' on m3)"
    )
    assert_log_verifies(data)
