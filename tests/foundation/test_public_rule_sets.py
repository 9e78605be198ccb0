"""The bundled runbooks answer the public rule sets by their real names (issue 12, item 1).

Teams load a public rule set as it is and run ``incident-console lint runbooks --rules
THEIR_FILE``. For each set named in the issue, this file holds its upstream alert names (names
only, never the upstream rules; the repository and path are in the comment above each list)
and the names deliberately left out, each with why. The test writes a rule file with every
name, runs that very ``lint --rules`` over the bundled library (so the matching is the
console's own: ``alerts:`` lists, exact and case-sensitive) and asserts that exactly the
left-out names have no runbook, and that no runbook listing is reported as a near miss.

docs/runbook-library.md ("Public rule sets") is the user-facing account of the same lists:
change both together.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from console.cli import cli
from tests.foundation.test_shipped_rules import ETCD_MIXIN, alert_names

ROOT = Path(__file__).resolve().parents[2]

# etcd-io/etcd contrib/mixin/alerts/alerts.libsonnet (the etcd monitoring mixin).
ETCD_MIXIN_NAMES = sorted(ETCD_MIXIN)

# samber/awesome-prometheus-alerts dist/rules/etcd/embedded-exporter.yml at commit 549dd017,
# the newest version read (19 rules); runbooks/rules/etcd-awesome.yml holds all but the v2 ones.
AWESOME_ETCD = [
    "EtcdNoLeader",
    "EtcdInsufficientMembersForQuorum",
    "EtcdHighFsyncDurationsCritical",
    "EtcdHighFsyncDurations",
    "EtcdHighCommitDurations",
    "EtcdDatabaseHighFragmentationRatio",
    "EtcdInsufficientMembers",
    "EtcdHighNumberOfFailedGrpcRequestsCritical",
    "EtcdHighNumberOfFailedHttpRequestsCritical",
    "EtcdHighNumberOfLeaderChanges",
    "EtcdHighNumberOfFailedGrpcRequestsWarning",
    "EtcdGrpcRequestsSlow",
    "EtcdHighNumberOfFailedHttpRequestsWarning",
    "EtcdHttpRequestsSlow",
    "EtcdMemberCommunicationSlow",
    "EtcdHighNumberOfFailedProposals",
    "EtcdPeerCommunicationFailures",
    "EtcdDatabaseQuotaLowSpace",
    "EtcdExcessiveDatabaseGrowth",
]
_ETCD_V2 = "etcd v2 HTTP API: etcd 3 has no etcd_http_* metrics"
AWESOME_ETCD_LEFT_OUT = {
    "EtcdHighNumberOfFailedHttpRequestsWarning": _ETCD_V2,
    "EtcdHighNumberOfFailedHttpRequestsCritical": _ETCD_V2,
    "EtcdHttpRequestsSlow": _ETCD_V2,
}

# The same file at commit ccf24bcf, an earlier release teams still run: both failed-gRPC
# rules (1% and 5%) are EtcdHighNumberOfFailedGrpcRequests, both v2 ones ...FailedHttpRequests.
AWESOME_ETCD_EARLIER = [
    "EtcdInsufficientMembers",
    "EtcdNoLeader",
    "EtcdHighNumberOfLeaderChanges",
    "EtcdHighNumberOfFailedGrpcRequests",
    "EtcdGrpcRequestsSlow",
    "EtcdHighNumberOfFailedHttpRequests",
    "EtcdHttpRequestsSlow",
    "EtcdMemberCommunicationSlow",
    "EtcdHighNumberOfFailedProposals",
    "EtcdHighFsyncDurations",
    "EtcdHighCommitDurations",
]
AWESOME_ETCD_EARLIER_LEFT_OUT = {
    "EtcdHighNumberOfFailedHttpRequests": _ETCD_V2,
    "EtcdHttpRequestsSlow": _ETCD_V2,
}

# samber/awesome-prometheus-alerts dist/rules/redis/oliver006-redis-exporter.yml.
AWESOME_REDIS = [
    "RedisDown",
    "RedisMissingMaster",
    "RedisTooManyMasters",
    "RedisDisconnectedSlaves",
    "RedisReplicationBroken",
    "RedisClusterFlapping",
    "RedisMissingBackup",
    "RedisOutOfSystemMemory",
    "RedisOutOfConfiguredMaxmemory",
    "RedisTooManyConnections",
    "RedisNotEnoughConnections",
    "RedisRejectedConnections",
]

# oliver006/redis_exporter contrib/redis-mixin/alerts/redis.libsonnet (the exporter's mixin).
REDIS_MIXIN = [
    "RedisDown",
    "RedisOutOfMemory",
    "RedisTooManyConnections",
    "RedisClusterSlotFail",
    "RedisClusterSlotPfail",
    "RedisClusterStateNotOk",
]
_REDIS_CLUSTER = "Redis Cluster (sharded) mode: the runbooks cover a primary with replicas"
REDIS_MIXIN_LEFT_OUT = {
    "RedisClusterSlotFail": _REDIS_CLUSTER,
    "RedisClusterSlotPfail": _REDIS_CLUSTER,
    "RedisClusterStateNotOk": _REDIS_CLUSTER,
}

# samber/awesome-prometheus-alerts dist/rules/postgresql/postgres-exporter.yml.
AWESOME_POSTGRES = [
    "PostgresqlDown",
    "PostgresqlRestarted",
    "PostgresqlExporterError",
    "PostgresqlTableNotAutoVacuumed",
    "PostgresqlTableNotAutoAnalyzed",
    "PostgresqlTooManyConnections",
    "PostgresqlNotEnoughConnections",
    "PostgresqlDeadLocks",
    "PostgresqlHighRollbackRate",
    "PostgresqlCommitRateLow",
    "PostgresqlLowXidConsumption",
    "PostgresqlHighRateStatementTimeout",
    "PostgresqlHighRateDeadlock",
    "PostgresqlUnusedReplicationSlot",
    "PostgresqlTooManyDeadTuples",
    "PostgresqlConfigurationChanged",
    "PostgresqlSslCompressionActive",
    "PostgresqlTooManyLocksAcquired",
    "PostgresqlBloatIndexHigh(>80%)",
    "PostgresqlBloatTableHigh(>80%)",
    "PostgresqlInvalidIndex",
    "PostgresqlReplicationLag",
]
_MAINTENANCE = "table maintenance (vacuum, analyze, bloat, indexes): no runbook, a daytime job"
_WORKLOAD = "the application's queries and transactions, not the server: no runbook"
AWESOME_POSTGRES_LEFT_OUT = {
    "PostgresqlExporterError": "the exporter's own queries failing, not the database",
    "PostgresqlTableNotAutoVacuumed": _MAINTENANCE,
    "PostgresqlTableNotAutoAnalyzed": _MAINTENANCE,
    "PostgresqlTooManyDeadTuples": _MAINTENANCE,
    "PostgresqlBloatIndexHigh(>80%)": _MAINTENANCE,
    "PostgresqlBloatTableHigh(>80%)": _MAINTENANCE,
    "PostgresqlInvalidIndex": _MAINTENANCE,
    "PostgresqlDeadLocks": _WORKLOAD,
    "PostgresqlHighRateDeadlock": _WORKLOAD,
    "PostgresqlHighRollbackRate": _WORKLOAD,
    "PostgresqlCommitRateLow": _WORKLOAD,
    "PostgresqlLowXidConsumption": _WORKLOAD,
    "PostgresqlHighRateStatementTimeout": _WORKLOAD,
    "PostgresqlConfigurationChanged": "informational: a setting changed",
    "PostgresqlSslCompressionActive": "configuration to fix in daylight, nothing to run",
}

# prometheus-community/postgres_exporter postgres_mixin/alerts/postgres.libsonnet.
POSTGRES_MIXIN = [
    "PostgreSQLMaxConnectionsReached",
    "PostgreSQLHighConnections",
    "PostgreSQLDown",
    "PostgreSQLSlowQueries",
    "PostgreSQLQPS",
    "PostgreSQLCacheHitRatio",
    "PostgresHasTooManyRollbacks",
    "PostgresHasHighDeadLocks",
    "PostgresAcquiredTooManyLocks",
    "PostgresReplicationLaggingMore1Hour",
    "PostgresHasReplicationSlotUsed",
    "PostgresReplicationRoleChanged",
    "PostgresHasExporterErrors",
    "PostgresTablesNotVaccumed",
    "PostgresTooManyCheckpointsRequested",
]
POSTGRES_MIXIN_LEFT_OUT = {
    "PostgreSQLSlowQueries": _WORKLOAD,
    "PostgreSQLQPS": _WORKLOAD,
    "PostgreSQLCacheHitRatio": "tuning (shared_buffers, working set), not an incident step",
    "PostgresHasTooManyRollbacks": _WORKLOAD,
    "PostgresHasHighDeadLocks": _WORKLOAD,
    "PostgresHasExporterErrors": "the exporter's own queries failing, not the database",
    "PostgresTablesNotVaccumed": _MAINTENANCE,
    "PostgresTooManyCheckpointsRequested": "tuning (max_wal_size), not an incident step",
}

# samber/awesome-prometheus-alerts dist/rules/rabbitmq/rabbitmq-exporter.yml (RabbitMQ's
# built-in Prometheus plugin).
AWESOME_RABBITMQ = [
    "RabbitmqNodeDown",
    "RabbitmqNodeNotDistributed",
    "RabbitmqInstancesDifferentVersions",
    "RabbitmqMemoryHigh",
    "RabbitmqFileDescriptorsUsage",
    "RabbitmqTooManyUnackMessages",
    "RabbitmqTooManyConnections",
    "RabbitmqNoQueueConsumer",
    "RabbitmqUnroutableMessages",
]
# Every name is answered: the broker's own alerts by rabbitmq-broker, the queues' by the DLQ pack.
AWESOME_RABBITMQ_LEFT_OUT: dict[str, str] = {}

# samber/awesome-prometheus-alerts dist/rules/rabbitmq/kbudde-rabbitmq-exporter.yml.
AWESOME_RABBITMQ_KBUDDE = [
    "RabbitmqDown",
    "RabbitmqClusterDown",
    "RabbitmqClusterPartition",
    "RabbitmqOutOfMemory",
    "RabbitmqTooManyConnections",
    "RabbitmqDeadLetterQueueFillingUp",
    "RabbitmqTooManyMessagesInQueue",
    "RabbitmqSlowQueueConsuming",
    "RabbitmqNoConsumer",
    "RabbitmqTooManyConsumers",
    "RabbitmqUnactiveExchange",
]
AWESOME_RABBITMQ_KBUDDE_LEFT_OUT = {
    "RabbitmqTooManyConsumers": "a queue meant for one consumer has more: the application's",
    "RabbitmqUnactiveExchange": "the publishers went quiet: the application's, upstream",
}

# samber/awesome-prometheus-alerts dist/rules/host-and-hardware/node-exporter.yml.
AWESOME_NODE = [
    "HostOutOfMemory",
    "HostMemoryUnderMemoryPressure",
    "HostMemoryIsUnderutilized",
    "HostUnusualNetworkThroughputIn",
    "HostUnusualNetworkThroughputOut",
    "HostUnusualDiskReadRate",
    "HostOutOfDiskSpace",
    "HostDiskMayFillIn24Hours",
    "HostOutOfInodes",
    "HostFilesystemDeviceError",
    "HostInodesMayFillIn24Hours",
    "HostUnusualDiskReadLatency",
    "HostUnusualDiskWriteLatency",
    "HostHighCpuLoad",
    "HostCpuIsUnderutilized",
    "HostCpuStealNoisyNeighbor",
    "HostCpuHighIowait",
    "HostUnusualDiskIo",
    "HostContextSwitchingHigh",
    "HostSwapIsFillingUp",
    "HostSystemdServiceCrashed",
    "HostPhysicalComponentTooHot",
    "HostNodeOvertemperatureAlarm",
    "HostSoftwareRaidInsufficientDrives",
    "HostSoftwareRaidDiskFailure",
    "HostKernelVersionDeviations",
    "HostOomKillDetected",
    "HostEdacCorrectableErrorsDetected",
    "HostEdacUncorrectableErrorsDetected",
    "HostNetworkReceiveErrors",
    "HostNetworkTransmitErrors",
    "HostNetworkBondDegraded",
    "HostConntrackLimit",
    "HostClockSkew",
    "HostClockNotSynchronising",
]
_UNDERUSED = "capacity planning (a week under 20%), not an incident"
_DISK_IO = "disk I/O saturation or latency: no runbook finds the I/O hog yet"
_HARDWARE = "hardware (temperature, RAID, ECC memory): the data centre's or provider's"
_NETWORK = "the network (interfaces, bonds, conntrack): no runbook"
_CLOCK = "time sync (NTP/chrony): no runbook"
_SYSTEMD = "a failed systemd unit: answered by the runbook of the service that failed"
AWESOME_NODE_LEFT_OUT = {
    "HostMemoryIsUnderutilized": _UNDERUSED,
    "HostCpuIsUnderutilized": _UNDERUSED,
    "HostUnusualNetworkThroughputIn": _NETWORK,
    "HostUnusualNetworkThroughputOut": _NETWORK,
    "HostNetworkReceiveErrors": _NETWORK,
    "HostNetworkTransmitErrors": _NETWORK,
    "HostNetworkBondDegraded": _NETWORK,
    "HostConntrackLimit": _NETWORK,
    "HostUnusualDiskReadRate": _DISK_IO,
    "HostUnusualDiskReadLatency": _DISK_IO,
    "HostUnusualDiskWriteLatency": _DISK_IO,
    "HostUnusualDiskIo": _DISK_IO,
    "HostCpuHighIowait": _DISK_IO,
    "HostFilesystemDeviceError": "a file system that cannot be read: storage, not space",
    "HostCpuStealNoisyNeighbor": "the hypervisor takes the CPU: the provider's",
    "HostContextSwitchingHigh": "a trend against the daily average, nothing to act on alone",
    "HostSystemdServiceCrashed": _SYSTEMD,
    "HostPhysicalComponentTooHot": _HARDWARE,
    "HostNodeOvertemperatureAlarm": _HARDWARE,
    "HostSoftwareRaidInsufficientDrives": _HARDWARE,
    "HostSoftwareRaidDiskFailure": _HARDWARE,
    "HostEdacCorrectableErrorsDetected": _HARDWARE,
    "HostEdacUncorrectableErrorsDetected": _HARDWARE,
    "HostKernelVersionDeviations": "informational: a kernel changed",
    "HostClockSkew": _CLOCK,
    "HostClockNotSynchronising": _CLOCK,
}

# prometheus/node_exporter docs/node-mixin/alerts/alerts.libsonnet (the node_exporter mixin).
NODE_MIXIN = [
    "NodeFilesystemSpaceFillingUp",
    "NodeFilesystemAlmostOutOfSpace",
    "NodeFilesystemFilesFillingUp",
    "NodeFilesystemAlmostOutOfFiles",
    "NodeNetworkReceiveErrs",
    "NodeNetworkTransmitErrs",
    "NodeHighNumberConntrackEntriesUsed",
    "NodeTextFileCollectorScrapeError",
    "NodeClockSkewDetected",
    "NodeClockNotSynchronising",
    "NodeRAIDDegraded",
    "NodeRAIDDiskFailure",
    "NodeFileDescriptorLimit",
    "NodeCPUHighUsage",
    "NodeSystemSaturation",
    "NodeMemoryMajorPagesFaults",
    "NodeMemoryHighUtilization",
    "NodeDiskIOSaturation",
    "NodeSystemdServiceFailed",
    "NodeSystemdServiceCrashlooping",
    "NodeBondingDegraded",
]
NODE_MIXIN_LEFT_OUT = {
    "NodeNetworkReceiveErrs": _NETWORK,
    "NodeNetworkTransmitErrs": _NETWORK,
    "NodeHighNumberConntrackEntriesUsed": _NETWORK,
    "NodeBondingDegraded": _NETWORK,
    "NodeTextFileCollectorScrapeError": "the exporter's text file collector, not the host",
    "NodeClockSkewDetected": _CLOCK,
    "NodeClockNotSynchronising": _CLOCK,
    "NodeRAIDDegraded": _HARDWARE,
    "NodeRAIDDiskFailure": _HARDWARE,
    "NodeFileDescriptorLimit": "kernel-wide file descriptors: no runbook",
    "NodeDiskIOSaturation": _DISK_IO,
    "NodeSystemdServiceFailed": _SYSTEMD,
    "NodeSystemdServiceCrashlooping": _SYSTEMD,
}

PUBLIC_RULE_SETS: dict[str, tuple[list[str], dict[str, str]]] = {
    "etcd-mixin": (ETCD_MIXIN_NAMES, {}),
    "awesome-etcd": (AWESOME_ETCD, AWESOME_ETCD_LEFT_OUT),
    "awesome-etcd-earlier": (AWESOME_ETCD_EARLIER, AWESOME_ETCD_EARLIER_LEFT_OUT),
    "awesome-redis": (AWESOME_REDIS, {}),
    "redis-mixin": (REDIS_MIXIN, REDIS_MIXIN_LEFT_OUT),
    "awesome-postgres": (AWESOME_POSTGRES, AWESOME_POSTGRES_LEFT_OUT),
    "postgres-mixin": (POSTGRES_MIXIN, POSTGRES_MIXIN_LEFT_OUT),
    "awesome-rabbitmq": (AWESOME_RABBITMQ, AWESOME_RABBITMQ_LEFT_OUT),
    "awesome-rabbitmq-kbudde": (AWESOME_RABBITMQ_KBUDDE, AWESOME_RABBITMQ_KBUDDE_LEFT_OUT),
    "awesome-node": (AWESOME_NODE, AWESOME_NODE_LEFT_OUT),
    "node-mixin": (NODE_MIXIN, NODE_MIXIN_LEFT_OUT),
}

# The pages of these sets (the alerts a person is woken for) that must have a runbook.
PAGES = [
    "etcdMembersDown",
    "etcdInsufficientMembers",
    "etcdNoLeader",
    "EtcdNoLeader",
    "EtcdInsufficientMembersForQuorum",
    "EtcdDatabaseQuotaLowSpace",
    "RedisDown",
    "RedisMissingMaster",
    "RedisTooManyMasters",
    "RedisOutOfMemory",
    "PostgresqlDown",
    "PostgreSQLDown",
    "PostgreSQLMaxConnectionsReached",
    "HostOomKillDetected",
    "HostOutOfDiskSpace",
    "NodeFilesystemAlmostOutOfSpace",
    "NodeFilesystemSpaceFillingUp",
    "RabbitmqNoConsumer",
    "RabbitmqNodeDown",
    "RabbitmqDown",
    "RabbitmqClusterDown",
    "RabbitmqClusterPartition",
]


def lint_with_rules(tmp_path: Path, names: list[str]) -> str:
    """``incident-console lint runbooks checks --rules FILE`` on a rule file carrying ``names``
    (no ``runbook_url``, as upstream ships them), as a tester runs it; its output."""
    rules = tmp_path / "public.yml"
    alerts = [{"alert": name, "expr": "vector(1)"} for name in names]
    rules.write_text(yaml.safe_dump({"groups": [{"name": "public", "rules": alerts}]}))
    args = ["lint", str(ROOT / "runbooks"), str(ROOT / "checks"), "--rules", str(rules)]
    result = CliRunner().invoke(cli, args, env={"INCIDENT_CONSOLE_CONFIG": ""})
    return result.output


@pytest.mark.parametrize("rule_set", PUBLIC_RULE_SETS, ids=str)
def test_the_public_rule_set_is_answered_but_for_what_is_left_out(
    rule_set: str, tmp_path: Path
) -> None:
    names, left_out = PUBLIC_RULE_SETS[rule_set]
    assert set(left_out) <= set(names), "a left-out name is not in the set"
    output = lint_with_rules(tmp_path, names)
    answered = len(set(names)) - len(left_out)
    assert f"coverage: {answered}/{len(set(names))} alerts have a runbook" in output, output
    # Every left-out name, and only those, is reported without a runbook (quoted in the
    # problem line), so the docs' list of what is left out stays true.
    unanswered = {n for n in names if f"alert '{n}' has no runbook" in output}
    assert unanswered == set(left_out), output
    # No runbook lists a name of this set under another spelling (a near miss).
    assert "did you mean" not in output, output


def test_the_pages_of_the_public_sets_have_a_runbook(tmp_path: Path) -> None:
    everything = {name for names, _ in PUBLIC_RULE_SETS.values() for name in names}
    assert set(PAGES) <= everything
    output = lint_with_rules(tmp_path, PAGES)
    assert f"coverage: {len(PAGES)}/{len(PAGES)} alerts have a runbook" in output, output


def test_the_shipped_awesome_etcd_file_holds_exactly_upstreams_etcd_3_alerts() -> None:
    """runbooks/rules/etcd-awesome.yml claims upstream's names: no invented name, none missing
    but the v2 ones, and both failed-gRPC thresholds (1% and 5%) kept."""
    shipped = alert_names(ROOT / "runbooks" / "rules" / "etcd-awesome.yml")
    assert shipped == set(AWESOME_ETCD) - set(AWESOME_ETCD_LEFT_OUT)
    assert {
        "EtcdHighNumberOfFailedGrpcRequestsWarning",
        "EtcdHighNumberOfFailedGrpcRequestsCritical",
    } <= shipped


def test_the_docs_name_every_left_out_alert() -> None:
    doc = (ROOT / "docs" / "runbook-library.md").read_text()
    section = doc.split("## Public rule sets", 1)[1]
    for rule_set, (_, left_out) in PUBLIC_RULE_SETS.items():
        for name in left_out:
            assert f"`{name}`" in section, f"{rule_set}: {name} is not in the docs' section"
