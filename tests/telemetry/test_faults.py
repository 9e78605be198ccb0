"""Slow, garbage and failing sources: the poller neither crashes nor waits past its timeout."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.config import Config, HttpSource
from console.journal.sink import MemorySink
from console.source_errors import RequestRejected, SourceUnavailable
from console.telemetry.poller import TelemetryPoller
from console.telemetry.prometheus import MAX_CONCURRENT, PrometheusSource, QueryRefused
from tests.telemetry.fault_server import FaultServer

TIMEOUT = 0.5
SLACK = 0.6  # thread hand-offs and scheduling on a busy 2-core machine


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


def config(url: str, *, alertmanager: bool = True, **extra: Any) -> Config:
    data: dict[str, Any] = {
        "prometheus": {"url": url, "timeout": TIMEOUT},
        "refresh": 0.2,
        "panels": [
            {"kind": "quorum", "title": "etcd", "query": "sum(up)", "need": 2, "of": 3},
            {"kind": "alerts"},
        ],
        **extra,
    }
    if alertmanager:
        data["alertmanager"] = {"url": url, "timeout": TIMEOUT}
    return Config.model_validate(data)


AM_ALERT = {
    "fingerprint": "aaa",
    "labels": {"alertname": "EtcdMemberDown", "severity": "critical", "instance": "m3"},
    "annotations": {"summary": "m3 down"},
    "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    "startsAt": "2026-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("mode", "prometheus_says", "alertmanager_says"),
    [
        ("slow", "no answer within 0.5s", "no answer within 0.5s (GET /api/v2/alerts)"),
        ("trickle", "no answer within 0.5s", "no answer within 0.5s (GET /api/v2/alerts)"),
        (
            "garbage",
            "the reply is not Prometheus API JSON",
            "reply to GET /api/v2/alerts is not JSON",
        ),
        (
            "shape",
            "the reply is not Prometheus API JSON",
            "expected a JSON list of alerts, got dict",
        ),
        (
            "error500",
            "HTTP 500: internal error: the TSDB is on fire",
            "HTTP 500 for GET /api/v2/alerts",
        ),
        (
            "unauthorized",
            "HTTP 401: not authorized",
            "HTTP 401 for GET /api/v2/alerts: not authorized",
        ),
        ("close", "the server closed the connection", "the server closed the connection"),
    ],
)
async def test_bad_sources_are_reported_not_fatal_and_bounded(
    fault: FaultServer, mode: str, prometheus_says: str, alertmanager_says: str
) -> None:
    fault.mode = mode
    sink = MemorySink()
    async with TelemetryPoller(config(fault.url), sink) as poller:
        started = time.monotonic()
        state = await poller.poll_once()
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + SLACK, f"{mode}: the poll took {elapsed:.2f}s"
    assert state.verdict() == "unreachable"
    assert state.exit_code() == 2
    quorum, alerts = state.panels
    assert quorum.state == "unknown" and quorum.value is None
    assert quorum.error is not None
    assert quorum.error.startswith(f"prometheus {fault.url}: ")
    assert prometheus_says in quorum.error
    assert alerts.error is not None
    assert alerts.error.startswith(f"alertmanager {fault.url}: ")
    assert alertmanager_says in alerts.error
    downs = sink.of_type("source.down")
    assert {e.data.source for e in downs} == {"prometheus", "alertmanager"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("mode", "requests_sent"), [("error500", 1), ("slow", 1), ("close", 2)])
async def test_at_most_one_retry_and_only_after_a_dropped_connection(
    fault: FaultServer, mode: str, requests_sent: int
) -> None:
    fault.mode = mode
    async with TelemetryPoller(config(fault.url), None) as poller:
        await poller.poll_once()
    assert fault.hits["/api/v1/query"] == requests_sent
    assert fault.hits["/api/v2/alerts"] == requests_sent


async def test_source_events_on_transitions_only_and_alerts_kept_while_down(
    fault: FaultServer,
) -> None:
    second = {**AM_ALERT, "fingerprint": "bbb", "labels": {"alertname": "DLQGrowing"}}
    fault.am_alerts = [AM_ALERT, second]
    sink = MemorySink()
    async with TelemetryPoller(config(fault.url), sink) as poller:
        await poller.poll_once()
        assert [e.type for e in sink.events] == ["alert.firing", "alert.firing"]
        fault.mode = "error500"
        for _ in range(3):
            state = await poller.poll_once()
        assert state.verdict() == "unreachable"
        assert len(state.alerts) == 2  # the last known alerts; an outage resolves nothing
        assert [e.type for e in sink.events[2:]] == ["source.down", "source.down"]
        fault.mode = "ok"
        fault.am_alerts = [second]
        state = await poller.poll_once()
    types = [e.type for e in sink.events[4:]]
    assert types == ["source.up", "source.up", "alert.resolved"]
    ups = sink.of_type("source.up")
    assert all(e.data.down_for_s and e.data.down_for_s > 0 for e in ups)  # type: ignore[attr-defined]
    resolved = sink.of_type("alert.resolved")[0].data
    assert (resolved.fingerprint, resolved.alertname) == ("aaa", "EtcdMemberDown")  # type: ignore[attr-defined]
    assert state.verdict() == "degraded"  # DLQGrowing still fires


async def test_a_bad_query_is_the_panel_s_problem_not_a_source_outage(fault: FaultServer) -> None:
    fault.mode = "badquery"
    cfg = config(fault.url, alertmanager=False)
    async with TelemetryPoller(cfg, MemorySink()) as poller:
        state = await poller.poll_once()
    assert state.sources[0].up is True
    assert state.verdict() == "degraded"
    assert state.panels[0].error == (
        f"prometheus {fault.url}: query refused (bad_data): parse error at char 4"
    )


async def test_the_status_and_prometheus_error_type_pick_the_error_class(
    fault: FaultServer,
) -> None:
    source = PrometheusSource(HttpSource(url=fault.url, timeout=TIMEOUT))
    fault.mode = "badquery"
    with pytest.raises(QueryRefused) as refused:
        await source.query("sum(")
    assert (refused.value.status, refused.value.error_type) == (400, "bad_data")
    fault.mode = "overloaded"  # Prometheus gave up on the query: the server, not the query
    with pytest.raises(SourceUnavailable) as down:
        await source.query("sum(up)")
    assert not isinstance(down.value, RequestRejected)
    assert down.value.message == "HTTP 503 (timeout): query timed out"
    await source.aclose()


async def test_a_reply_past_the_size_cap_is_given_up(fault: FaultServer) -> None:
    fault.mode = "huge"
    source = PrometheusSource(HttpSource(url=fault.url, timeout=5.0))
    with pytest.raises(SourceUnavailable) as caught:
        await source.query("sum(up)")
    assert caught.value.message == "the reply is larger than 16 MiB"
    await source.aclose()


async def test_range_vectors_and_non_numbers_are_explained(fault: FaultServer) -> None:
    fault.vector = [{"metric": {}, "values": [[0, "1"]]}]
    async with TelemetryPoller(config(fault.url, alertmanager=False), None) as poller:
        state = await poller.poll_once()
        assert state.panels[0].error is not None
        assert "returns a range vector; panels need an instant vector" in state.panels[0].error
        fault.vector = [{"metric": {}, "value": [0, "yes"]}]
        state = await poller.poll_once()
        assert state.panels[0].error is not None
        assert "returned 'yes', not a number" in state.panels[0].error


async def test_prometheus_alerts_are_the_fallback_without_alertmanager(fault: FaultServer) -> None:
    fault.prom_alerts = [
        {"labels": {"alertname": "A"}, "annotations": {}, "state": "firing", "activeAt": None},
        {"labels": {"alertname": "B"}, "annotations": {}, "state": "pending"},
    ]
    sink = MemorySink()
    async with TelemetryPoller(config(fault.url, alertmanager=False), sink) as poller:
        state = await poller.poll_once()
    assert state.alert_source == "prometheus"
    assert [a.alertname for a in state.alerts] == ["A"]
    assert [e.data.source for e in sink.of_type("alert.firing")] == ["prometheus"]  # type: ignore[attr-defined]


async def test_updates_and_run_deliver_each_poll(fault: FaultServer) -> None:
    async with TelemetryPoller(config(fault.url), None) as poller:
        runner = asyncio.create_task(poller.run())
        seen = []
        async for state in poller.updates():
            seen.append(state.polls)
            if len(seen) == 3:
                break
        runner.cancel()
    assert seen == [1, 2, 3]


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "console.yaml"
    path.write_text(text)
    return str(path)


def test_status_exit_2_names_the_unreachable_source(fault: FaultServer, tmp_path: Path) -> None:
    fault.mode = "garbage"
    path = write_config(
        tmp_path,
        f"prometheus: {{url: '{fault.url}', timeout: 0.5s}}\n"
        "panels:\n  - {kind: stat, title: up, query: 'sum(up)'}\n",
    )
    result = CliRunner().invoke(cli, ["status", "--config", path])
    assert result.exit_code == 2, result.output
    assert f"prometheus {fault.url} DOWN: the reply is not Prometheus API JSON" in result.output
    result = CliRunner().invoke(cli, ["status", "--json", "--config", path])
    data = json.loads(result.output)
    assert (data["verdict"], data["exit"]) == ("unreachable", 2)
    assert data["sources"][0]["error"] == "the reply is not Prometheus API JSON"


async def wait_for(check: Callable[[], bool], within: float) -> bool:
    """Whether ``check`` holds within ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_many_queries_run_and_a_hung_server_cannot_pile_up_queries(
    fault: FaultServer,
) -> None:
    panels = [{"kind": "stat", "query": f"sum(up) + {n}"} for n in range(MAX_CONCURRENT + 4)]
    cfg = Config.model_validate(
        {"prometheus": {"url": fault.url, "timeout": TIMEOUT}, "panels": panels}
    )
    prefix = f"prometheus {fault.url}: "
    timed_out = prefix + "no answer within 0.5s"
    no_slot = prefix + f"no free query slot within 0.5s: all {MAX_CONCURRENT} are busy"
    async with TelemetryPoller(cfg, None) as poller:
        state = await poller.poll_once()
        assert [p.state for p in state.panels] == ["ok"] * len(panels)  # more than run at once

        fault.mode = "trickle"
        for _ in range(2):
            sent_before = fault.hits["/api/v1/query"]
            started = time.monotonic()
            state = await poller.poll_once()
            elapsed = time.monotonic() - started
            errors = [str(p.error) for p in state.panels]
            # the first eight time out; the queued four either get no slot in time or, sent
            # once a slot is free, time out in turn: never more than a queue wait + a timeout
            assert sum(e == timed_out for e in errors) >= MAX_CONCURRENT, errors
            assert all(e == timed_out or e.startswith(no_slot) for e in errors), errors
            assert elapsed < 2 * TIMEOUT + SLACK, f"the poll took {elapsed:.2f}s"
            sent = fault.hits["/api/v1/query"] - sent_before
            # each query sent once at most (on a busy machine one can time out before it is
            # sent, so fewer may reach the server, never more)
            assert sent <= sum(e == timed_out for e in errors)
            # a query given up is over: its connection is closed, nothing keeps running
            assert await wait_for(lambda: fault.active == 0, 1.0), f"{fault.active} still open"


async def held_busy(fault: FaultServer, source: PrometheusSource) -> list[asyncio.Task[Any]]:
    """Occupy every slot of ``source`` with a query the server holds until ``release``."""
    fault.by_query = {f"held {n}": "hold" for n in range(MAX_CONCURRENT)}
    held = [asyncio.create_task(source.query(q)) for q in fault.by_query]
    while fault.hits["/api/v1/query"] < MAX_CONCURRENT:  # each slot's query is at the server
        await asyncio.sleep(0.01)
    return held


async def test_a_queued_query_gets_its_full_timeout_once_it_has_a_slot(
    fault: FaultServer,
) -> None:
    source = PrometheusSource(HttpSource(url=fault.url, timeout=1.0))
    held = await held_busy(fault, source)
    fault.by_query["slow"] = "slow"
    fault.delay = 0.7  # answered 0.7 s after it is sent, over 1.1 s after it was asked
    queued = asyncio.create_task(source.query("slow"))
    await asyncio.sleep(0.4)
    assert not queued.done()
    fault.release.set()  # the held queries answer within their timeout; the queued one runs
    assert [len(series) for series in await asyncio.gather(*held)] == [1] * MAX_CONCURRENT
    assert len(await queued) == 1
    await source.aclose()


async def test_a_query_that_gets_no_slot_in_time_says_so(fault: FaultServer) -> None:
    source = PrometheusSource(HttpSource(url=fault.url, timeout=1.0), queue_wait=0.2)
    held = await held_busy(fault, source)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        await source.query("sum(up)")
    elapsed = time.monotonic() - started
    assert caught.value.message == (
        f"no free query slot within 0.2s: all {MAX_CONCURRENT} are busy with earlier queries"
    )
    assert 0.2 <= elapsed < 0.2 + SLACK
    assert fault.hits["/api/v1/query"] == MAX_CONCURRENT  # it was never sent
    fault.release.set()
    assert len(await asyncio.gather(*held)) == MAX_CONCURRENT  # the busy ones still answer
    await source.aclose()


def test_the_status_process_exits_at_its_timeout_despite_a_trickling_server(
    fault: FaultServer, tmp_path: Path
) -> None:
    fault.mode = "trickle"  # 10 s of bytes, each well within a per-read timeout
    path = write_config(
        tmp_path,
        f"prometheus: {{url: '{fault.url}', timeout: 0.5s}}\n"
        f"alertmanager: {{url: '{fault.url}', timeout: 0.5s}}\n",
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "console", "status", "--config", path],
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert "no answer within 0.5s" in result.stdout
    assert elapsed < 6, f"the process took {elapsed:.1f}s"


@pytest.mark.parametrize(("alertmanager", "queries"), [(True, 1), (False, 0)])
async def test_an_otherwise_unused_prometheus_is_still_checked(
    fault: FaultServer, alertmanager: bool, queries: int
) -> None:
    cfg = config(fault.url, alertmanager=alertmanager, panels=[])
    async with TelemetryPoller(cfg, None) as poller:
        state = await poller.poll_once()
    assert all(s.up for s in state.sources)
    assert state.sources[0].name == "prometheus"
    assert fault.hits["/api/v1/query"] == queries  # a probe, unless it serves the alerts
    assert fault.hits["/api/v1/alerts"] == 1 - queries
