"""Alert and silence parsing, silence validation, and journaled metric snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from console.config import Config, HttpSource
from console.journal.events import MetricSnapshot
from console.journal.sink import MemorySink
from console.telemetry.alertmanager import AlertmanagerSource
from console.telemetry.alerts import Alert, parse_alertmanager_alerts, parse_prometheus_alerts
from console.telemetry.poller import TelemetryPoller
from console.telemetry.silences import InvalidSilence, Silences, matchers_for, parse_silences
from tests.telemetry.fault_server import FaultServer


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


def test_alertmanager_alerts_parse_oldest_first_with_their_status() -> None:
    alerts = parse_alertmanager_alerts(
        [
            {
                "fingerprint": "b",
                "labels": {"alertname": "Late", "replicas": 3},
                "annotations": {"runbook": "https://x.invalid/late.md"},
                "status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": None},
                "startsAt": "2026-01-01T10:00:00Z",
            },
            {
                "fingerprint": "a",
                "labels": {"alertname": "Early"},
                "startsAt": "2026-01-01T09:00:00Z",
            },
        ]
    )
    assert [a.alertname for a in alerts] == ["Early", "Late"]
    late = alerts[1]
    assert late.labels["replicas"] == "3"  # a number from a sloppy sender, kept as text
    assert (late.suppressed, late.silenced_by, late.runbook_url) == (
        True,
        ("s1",),
        "https://x.invalid/late.md",
    )
    assert alerts[0].suppressed is False


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"alerts": []}, "expected a JSON list of alerts, got dict"),
        ([{"labels": {}}], "alert #1, fingerprint: Field required"),
        (
            [{"fingerprint": "a", "labels": ["x"]}],
            "alert #1, labels: Input should be a valid dictionary",
        ),
        ([{"fingerprint": "a", "labels": {}, "startsAt": "yesterday"}], "alert #1, startsAt"),
    ],
)
def test_alertmanager_garbage_is_a_clear_value_error(reply: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_alertmanager_alerts(reply)
    assert message in str(caught.value)


def test_prometheus_alerts_keep_only_firing_and_refuse_errors() -> None:
    reply = {
        "status": "success",
        "data": {
            "alerts": [
                {"labels": {"alertname": "A", "x": "1"}, "state": "firing"},
                {"labels": {"alertname": "B"}, "state": "pending"},
            ]
        },
    }
    (alert,) = parse_prometheus_alerts(reply)
    assert alert.alertname == "A"
    assert alert.fingerprint == parse_prometheus_alerts(reply)[0].fingerprint  # stable
    with pytest.raises(ValueError, match="status is 'error'"):
        parse_prometheus_alerts({"status": "error", "data": {"alerts": []}})
    with pytest.raises(ValueError, match="data"):
        parse_prometheus_alerts({"status": "success"})


def test_silence_list_parsing_names_the_bad_entry() -> None:
    good = {
        "id": "s1",
        "matchers": [{"name": "alertname", "value": "A", "isRegex": False, "isEqual": True}],
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2026-01-01T01:00:00Z",
        "createdBy": "alice",
        "comment": "why",
        "status": {"state": "expired"},
    }
    (silence,) = parse_silences([good])
    assert (silence.id, silence.state, str(silence.matchers[0])) == (
        "s1",
        "expired",
        'alertname="A"',
    )
    with pytest.raises(ValueError, match="silence #2 is not a valid silence"):
        parse_silences([good, "nonsense"])


ALERT = Alert(fingerprint="f", labels={"alertname": "A", "instance": "m3"}, state="active")


def test_matchers_from_all_labels_or_the_ones_named() -> None:
    assert [str(m) for m in matchers_for(ALERT)] == ['alertname="A"', 'instance="m3"']
    assert [str(m) for m in matchers_for(ALERT, ["alertname"])] == ['alertname="A"']
    with pytest.raises(InvalidSilence, match="the alert has no label zone"):
        matchers_for(ALERT, ["zone"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": 600, "created_by": "alice", "comment": "  "}, "needs a comment"),
        ({"duration": 600, "created_by": "", "comment": "why"}, "needs its author"),
        ({"duration": 0, "created_by": "alice", "comment": "why"}, "positive duration"),
    ],
)
async def test_a_silence_needs_comment_author_and_duration(
    fault: FaultServer, kwargs: dict[str, Any], message: str
) -> None:
    source = AlertmanagerSource(HttpSource(url=fault.url))
    try:
        with pytest.raises(InvalidSilence, match=message):
            await Silences(source).create(ALERT, **kwargs)
    finally:
        await source.aclose()
    assert fault.hits["/api/v2/silences"] == 0  # refused before anything was sent


async def test_record_snapshot_journals_every_panel(fault: FaultServer) -> None:
    fault.vector = [{"metric": {"queue": "orders"}, "value": [0, "42"]}]
    config = Config.model_validate(
        {
            "prometheus": {"url": fault.url},
            "panels": [
                {"kind": "backlog", "title": "DLQ", "query": "sum(dlq_depth)", "crit": 100},
                {"kind": "stat", "title": "q", "query": "sum(dlq_depth)"},
            ],
        }
    )
    sink = MemorySink()
    async with TelemetryPoller(config, sink) as poller:
        before = await poller.record_snapshot("step")
        assert [p.state for p in before.panels] == ["unknown", "unknown"]  # nothing polled yet
        after = await poller.record_snapshot("action", refresh=True)
    assert fault.hits["/api/v1/query"] == 1  # the same query is asked once per poll
    assert [(p.title, p.state, p.value) for p in after.panels] == [
        ("DLQ", "ok", 42),
        ("q", "ok", 42),
    ]
    snapshots = sink.of_type("metric.snapshot")
    assert [e.data.reason for e in snapshots] == ["step", "action"]  # type: ignore[attr-defined]
    assert isinstance(snapshots[1].data, MetricSnapshot)
    assert snapshots[1].data.panels[0].detail == "42, trend unknown (needs two samples) (crit 100)"
