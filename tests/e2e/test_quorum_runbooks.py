"""End to end: the generic quorum runbooks' default (etcd) catalog against a real 3-member
etcd cluster, each member a node behind real OpenSSH whose etcdctl points at its own member,
and a real Prometheus scraping the members (fixtures in conftest.py).

The scenarios prove the runbooks' paths; this proves that the `quorum/` checks' etcd bodies
(metric names, etcdctl output, the data directory's layout) hold on the real thing: healthy,
then with a member stopped, then with it back and caught up.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.conftest import Data, config, run_runbook, verdicts
from tests.e2e.etcd_cluster import EtcdCluster
from tests.execute.sshd import SshdCluster
from tests.servers import Server, prometheus_value, wait_until


def run(cfg: Path, runbook: str, *args: str) -> tuple[int, Data]:
    return run_runbook(cfg, runbook, "--var", "quorum=2", *args)  # 2 of 3


@contextmanager
def listable(data_dir: Path) -> Iterator[None]:
    """Let other accounts (the nodes' login user) reach ``data_dir/member/snap/db`` and list
    ``member/wal``, as a group with read access to etcd's data directory would; the modes it
    changed are put back afterwards, before etcd starts there again."""
    member = data_dir / "member"
    wal = member / "wal"
    changed: dict[Path, int] = {}
    try:
        for path in [*reversed(data_dir.parents), data_dir, member, member / "snap", wal]:
            mode = path.stat().st_mode
            wanted = mode | stat.S_IXOTH | (stat.S_IROTH if path == wal else 0)
            if wanted != mode:
                path.chmod(wanted)
                changed[path] = mode
        yield
    finally:
        for path, mode in changed.items():
            path.chmod(mode)


def all_pass(found: dict[str, str]) -> bool:
    return bool(found) and set(found.values()) == {"pass"}


def test_the_leader_checks_on_a_healthy_cluster(
    tmp_path: Path, etcd: EtcdCluster, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    for i in range(20):  # writes, so that every member has fsyncs to measure
        etcd.ctl("put", f"/quorum-test/{i}", "x")
    for rates in (
        "count(rate(etcd_network_peer_round_trip_time_seconds_count[5m]) > 0) == 6",
        "count(rate(etcd_disk_wal_fsync_duration_seconds_count[5m]) > 0) == 3",
    ):
        wait_until(
            lambda q=rates: prometheus_value(prometheus.url, q) is not None,
            60,
            f"Prometheus to answer {rates}",
        )
    code, data = run(cfg, "quorum-leader-unstable.md", "--only", "checks")
    found = verdicts(data)
    # the Prometheus checks: quorum, no elections, fsync and peer latency, all per member
    assert found["quorum"] == {"prometheus": "pass"}
    for block in ("elections", "fsync", "peer-rtt", "settled"):
        assert all_pass(found[block]), (block, found[block])
    assert len(found["fsync"]) == 3  # one judgement per member, from the real metric names
    assert len(found["peer-rtt"]) == 6  # each member to each of its two peers
    assert found["leader-agreement"] == {"m1": "pass", "m2": "pass", "m3": "pass"}
    # clocks and the service log need systemd, which the test's nodes do not run
    assert set(found["clocks"]) == {"m1", "m2", "m3"}
    assert code == 1


def test_a_stopped_member_then_its_recovery(
    tmp_path: Path, etcd: EtcdCluster, nodes: SshdCluster, prometheus: Server
) -> None:
    cfg = config(tmp_path, nodes, prometheus)
    m3 = etcd.members[2]
    member = ("--var", "member=m3")
    with_data = (*member, "--var", f"data_dir={m3.data_dir}")

    code, healthy = run(cfg, "quorum-network-partition.md", "--step", "2", *member)
    assert code == 0, healthy
    assert all_pass(verdicts(healthy)["writes"])

    etcd.stop(m3)
    code, down = run(cfg, "quorum-network-partition.md", "--step", "2", *member)
    assert code == 1
    assert verdicts(down)["writes"] == {"m1": "pass", "m2": "pass", "m3": "fail"}

    # the crash-recovery checks before the start: quorum holds, m3's data is intact
    code, before = run(cfg, "quorum-crash-recovery.md", "--step", "1", *with_data)
    assert code == 0, before
    code, denied = run(cfg, "quorum-crash-recovery.md", "--step", "3", *with_data)
    assert verdicts(denied)["data-intact"] == {"m3": "fail"}  # etcd keeps it 0700: no access
    with listable(m3.data_dir):  # as for an on-call account given read access to the dir
        code, data_dir = run(cfg, "quorum-crash-recovery.md", "--step", "3", *with_data)
    assert verdicts(data_dir)["data-intact"] == {"m3": "pass"}, data_dir
    code, elsewhere = run(
        cfg, "quorum-crash-recovery.md", "--step", "3", "--var", "member=m3",
        "--var", f"data_dir={m3.data_dir}-missing",
    )  # fmt: skip
    assert verdicts(elsewhere)["data-intact"] == {"m3": "fail"}

    etcd.start(m3, initial_state="existing")  # what `systemctl start etcd` does on a node
    etcd.wait_healthy()
    wait_until(
        lambda: prometheus_value(prometheus.url, "sum(etcd_server_has_leader) == 3") is not None,
        30,
        "m3 scraped again",
    )
    code, after = run(cfg, "quorum-crash-recovery.md", "--step", "5", *with_data)
    assert code == 0, after
    assert verdicts(after) == {
        "member-healthy": {"m3": "pass"},
        "caught-up": {"prometheus": "pass"},
        "leader-agreement": {"m1": "pass", "m2": "pass", "m3": "pass"},
    }
