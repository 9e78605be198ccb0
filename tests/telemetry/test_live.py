"""Against real Prometheus and Alertmanager: quorum, backlog trend, alerts and silences."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from console.cli import cli
from console.config import HttpSource
from console.journal.sink import MemorySink
from console.runbook.match import rank_runbooks
from console.runbook.parse import parse_runbook
from console.telemetry.poller import TelemetryPoller
from console.telemetry.prometheus import PrometheusSource, QueryRefused
from console.telemetry.state import TelemetryState
from tests.telemetry.conftest import Stack, wait_until

pytestmark = pytest.mark.prometheus

QUORUM = {
    "kind": "quorum",
    "title": "etcd quorum",
    "query": "sum(etcd_server_has_leader)",
    "need": 2,
    "of": 3,
    "leader_query": "etcd_server_is_leader",
}
LAG = {
    "kind": "lag",
    "title": "replication lag",
    "query": "pg_replication_lag_seconds",
    "by": "instance",
    "warn": 5,
    "crit": 30,
    "unit": "s",
}


async def poll_until(
    poller: TelemetryPoller, check: Callable[[TelemetryState], bool], what: str, timeout: float = 15
) -> TelemetryState:
    """Poll every refresh until ``check`` holds; fail with the last state otherwise."""
    deadline = time.monotonic() + timeout
    state = await poller.poll_once()
    while not check(state):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last state: {state}")
        await asyncio.sleep(poller.refresh)
        state = await poller.poll_once()
    return state


def am_alert_names(stack: Stack) -> list[str]:
    alerts = httpx.get(f"{stack.alertmanager.url}/api/v2/alerts", timeout=2).json()
    return [a["labels"]["alertname"] for a in alerts]


def quiet(stack: Stack) -> None:
    """Back to healthy values, and wait until Alertmanager has no alert left."""
    stack.exporter.healthy()
    wait_until(lambda: not am_alert_names(stack), 20, "Alertmanager to have no active alert")


async def test_quorum_goes_degraded_then_lost_with_the_leader_and_lag(stack: Stack) -> None:
    stack.exporter.healthy()
    config = stack.config([QUORUM, LAG])
    async with TelemetryPoller(config, MemorySink()) as poller:
        state = await poll_until(poller, lambda s: s.panels[0].state == "healthy", "healthy quorum")
        quorum, lag = state.panels
        assert (quorum.value, quorum.leader) == (3, "m1")
        assert quorum.detail == "3/3 up, need 2; leader m1"
        assert lag.series == {"m1": 0.5, "m2": 0.5, "m3": 0.5}

        stack.exporter.has_leader.labels("m3").set(0)
        stack.exporter.lag.labels("m2").set(12)
        state = await poll_until(
            poller,
            lambda s: s.panels[0].state == "degraded" and s.panels[1].state == "warn",
            "a degraded quorum and a lag warning",
        )
        quorum, lag = state.panels
        assert quorum.detail == "2/3 up, need 2; leader m1"
        assert lag.detail == "max 12 s on m2 (warn 5, crit 30)"
        assert state.exit_code() == 1

        stack.exporter.has_leader.labels("m2").set(0)
        stack.exporter.is_leader.labels("m1").set(0)
        stack.exporter.is_leader.labels("m2").set(1)
        state = await poll_until(poller, lambda s: s.panels[0].state == "lost", "a lost quorum")
        assert state.panels[0].detail == "1/3 up, need 2; leader m2"
    quiet(stack)


async def test_backlog_trend_and_eta_follow_the_queue(stack: Stack) -> None:
    window = 4.0
    panel = {
        "kind": "backlog",
        "title": "DLQ",
        "query": "sum by (queue) (dlq_depth)",
        "warn": 8000,
        "crit": 20000,
        "window": window,
    }
    gauge = stack.exporter.dlq.labels("orders")
    gauge.set(5000)
    async with TelemetryPoller(stack.config([panel], refresh=0.25), None) as poller:
        await poll_until(poller, lambda s: s.panels[0].value == 5000, "a queue of 5000")
        # each phase outlasts the window, so the rate sees only that phase's samples
        state = await change_for(poller, gauge.inc, 50, window + 1.5)  # +200 a second
        dlq = state.panels[0]
        assert dlq.trend == "growing", dlq
        assert dlq.rate is not None and 120 < dlq.rate < 280, dlq
        assert dlq.value is not None and 5000 < dlq.value < 20000
        assert dlq.eta_to == "crit"
        assert dlq.eta_s == pytest.approx((20000 - dlq.value) / dlq.rate, rel=0.01, abs=0.1)
        assert "growing, crit in " in dlq.detail

        state = await change_for(poller, gauge.dec, 50, window + 1.5)  # -200 a second
        dlq = state.panels[0]
        assert dlq.trend == "draining", dlq
        assert dlq.rate is not None and -280 < dlq.rate < -120, dlq
        assert dlq.eta_to == "empty"
        assert dlq.value is not None and dlq.value > 0
        assert dlq.eta_s == pytest.approx(dlq.value / -dlq.rate, rel=0.01, abs=0.1)
        assert "draining, empty in " in dlq.detail
    gauge.set(0)


async def change_for(
    poller: TelemetryPoller, change: Callable[[float], None], step: float, seconds: float
) -> TelemetryState:
    """Change the queue by ``step`` before each poll for ``seconds``; the last state."""
    deadline = time.monotonic() + seconds
    while True:
        change(step)
        state = await poller.poll_once()
        if time.monotonic() > deadline:
            return state
        await asyncio.sleep(poller.refresh)


RUNBOOK = """---
id: etcd-member-down
alerts: [EtcdMemberDown]
---
# etcd member down

## 1. Look

Check the member.
"""


async def test_alert_fires_silence_from_the_console_then_resolves(
    stack: Stack, tmp_path: Path
) -> None:
    quiet(stack)
    sink = MemorySink()
    config = stack.config([QUORUM, {"kind": "alerts"}])
    async with TelemetryPoller(config, sink) as poller:
        await poll_until(poller, lambda s: not s.alerts, "no alerts")
        stack.exporter.has_leader.labels("m3").set(0)
        state = await poll_until(poller, lambda s: bool(s.firing), "EtcdMemberDown to fire")
        (alert,) = state.alerts
        assert alert.alertname == "EtcdMemberDown"
        assert alert.labels["instance"] == "m3"
        assert alert.runbook_url == "https://runbooks.example.invalid/ops/etcd-member-down.md"
        assert alert.starts_at is not None and len(alert.fingerprint) >= 8
        assert state.panels[1].state == "crit"
        firing = sink.of_type("alert.firing")
        assert [e.data.fingerprint for e in firing] == [alert.fingerprint]  # type: ignore[attr-defined]

        runbook, _ = parse_runbook(RUNBOOK, tmp_path / "etcd-member-down.md")
        assert runbook is not None
        (match,) = rank_runbooks(alert, [runbook])
        assert match.reasons == (
            "runbook_url ends in etcd-member-down.md",
            "front matter lists EtcdMemberDown",
        )

        assert poller.silences is not None
        silence = await poller.silences.create(
            alert, duration=600, created_by="alice@bastion1", comment="m3 is being replaced"
        )
        listed = httpx.get(f"{stack.alertmanager.url}/api/v2/silences", timeout=2).json()
        (in_am,) = [s for s in listed if s["id"] == silence.id]
        assert in_am["createdBy"] == "alice@bastion1"
        assert in_am["comment"] == "m3 is being replaced"
        assert in_am["status"]["state"] == "active"
        assert {(m["name"], m["value"]) for m in in_am["matchers"]} == set(alert.labels.items())
        created = sink.of_type("silence.created")[0].data
        assert created.id == silence.id  # type: ignore[attr-defined]

        state = await poll_until(poller, lambda s: not s.firing, "the alert to be silenced")
        assert state.alerts[0].silenced_by == (silence.id,)
        assert state.panels[1].detail == "0 firing, 1 silenced or inhibited"
        assert [s.id for s in await poller.silences.list()] == [silence.id]

        await poller.silences.expire(silence.id)
        listed = httpx.get(f"{stack.alertmanager.url}/api/v2/silences", timeout=2).json()
        assert [s["status"]["state"] for s in listed if s["id"] == silence.id] == ["expired"]
        assert await poller.silences.list() == []
        assert [e.type for e in sink.events if e.type.startswith("silence.")] == [
            "silence.created",
            "silence.expired",
        ]

        stack.exporter.healthy()
        await poll_until(poller, lambda s: not s.alerts, "the alert to resolve")
    resolved = sink.of_type("alert.resolved")
    assert [e.data.fingerprint for e in resolved] == [alert.fingerprint]  # type: ignore[attr-defined]


def write_config(stack: Stack, tmp_path: Path) -> str:
    path = tmp_path / "console.yaml"
    path.write_text(
        f"prometheus: {{url: '{stack.prometheus.url}'}}\n"
        f"alertmanager: {{url: '{stack.alertmanager.url}'}}\n"
        "panels:\n"
        "  - {kind: quorum, title: etcd quorum, query: 'sum(etcd_server_has_leader)',"
        " need: 2, of: 3}\n"
        "  - {kind: alerts}\n"
    )
    return str(path)


def test_status_exit_codes_against_the_real_servers(stack: Stack, tmp_path: Path) -> None:
    quiet(stack)
    path = write_config(stack, tmp_path)
    result = CliRunner().invoke(cli, ["status", "--config", path])
    assert result.exit_code == 0, result.output
    assert "etcd quorum    healthy     3/3 up, need 2" in result.output
    assert "no alerts firing (from alertmanager)" in result.output

    stack.exporter.has_leader.labels("m3").set(0)
    wait_until(lambda: am_alert_names(stack) == ["EtcdMemberDown"], 20, "the alert in Alertmanager")
    result = CliRunner().invoke(cli, ["status", "--json", "--config", path])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["verdict"] == "degraded"
    assert data["panels"][0]["state"] == "degraded"
    assert [a["alertname"] for a in data["alerts"]] == ["EtcdMemberDown"]
    assert data["alerts"][0]["runbook_url"].endswith("/etcd-member-down.md")

    result = CliRunner().invoke(cli, ["status", "--watch", "--count", "2", "--config", path])
    assert result.exit_code == 1, result.output
    assert result.output.count("incident-console status") == 2
    assert "critical  EtcdMemberDown  instance=m3" in result.output
    quiet(stack)


async def test_bad_promql_is_refused_with_prometheus_own_status_and_error_type(
    stack: Stack,
) -> None:
    source = PrometheusSource(HttpSource(url=stack.prometheus.url, timeout=2.0))
    try:
        assert len(await source.query("etcd_server_has_leader")) == 3
        with pytest.raises(QueryRefused) as caught:
            await source.query("sum(etcd_server_has_leader")
    finally:
        await source.aclose()
    assert (caught.value.status, caught.value.error_type) == (400, "bad_data")
    assert caught.value.message.startswith("query refused (bad_data): ")
    assert "parse error" in caught.value.message
