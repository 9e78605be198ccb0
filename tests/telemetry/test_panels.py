"""The pure panel models: thresholds, quorum, trend and ETA, history, staleness."""

from __future__ import annotations

import math

import pytest

from console.config import AlertsPanel, BacklogPanel, LagPanel, QuorumPanel, StatPanel
from console.telemetry.alerts import Alert
from console.telemetry.panels import (
    AlertsModel,
    BacklogModel,
    Failed,
    LagModel,
    QuorumModel,
    Ring,
    Series,
    StatModel,
    trend_of,
)

REFRESH = 5.0


def quorum(**extra: object) -> QuorumModel:
    spec = QuorumPanel.model_validate(
        {"kind": "quorum", "title": "etcd", "query": "q", "need": 2, "of": 3, **extra}
    )
    return QuorumModel(spec, REFRESH)


def members(*values: float, label: str = "instance") -> list[Series]:
    return [Series({label: f"m{i + 1}"}, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("values", "state"),
    [((1, 1, 1), "healthy"), ((1, 1, 0), "degraded"), ((1, 0, 0), "lost"), ((), "lost")],
)
def test_quorum_states_from_members_up(values: tuple[float, ...], state: str) -> None:
    model = quorum()
    model.update({"value": members(*values)}, at=10.0)
    view = model.value(now=10.0)
    assert view.state == state
    assert view.value == sum(values)
    assert f"{sum(values)}/3 up, need 2" in view.detail


def test_quorum_empty_result_says_it_counted_zero() -> None:
    model = quorum()
    model.update({"value": []}, at=1.0)
    assert "returned no series" in model.value(1.0).detail


def test_quorum_leader_from_the_leader_query() -> None:
    model = quorum(leader_query="etcd_server_is_leader", leader_label="member")
    assert model.queries() == {"value": "q", "leader": "etcd_server_is_leader"}
    model.update({"value": members(1, 1, 1), "leader": members(0, 1, 0, label="member")}, at=1.0)
    view = model.value(1.0)
    assert view.leader == "m2"
    assert "leader m2" in view.detail
    model.update({"value": members(1, 1, 1), "leader": members(0, 0, 0, label="member")}, at=2.0)
    assert model.value(2.0).leader is None
    assert "no leader" in model.value(2.0).detail
    model.update({"value": members(1, 1, 1), "leader": members(1, 1, 0, label="member")}, at=3.0)
    assert "2 leaders: m1,m2" in model.value(3.0).detail


def test_quorum_leader_query_failure_keeps_the_count() -> None:
    model = quorum(leader_query="bad(")
    model.update({"value": members(1, 1, 0), "leader": Failed("query refused: parse error")}, 1.0)
    view = model.value(1.0)
    assert view.state == "degraded"
    assert view.error is None
    assert "leader unknown (query refused: parse error)" in view.detail


def test_lag_per_label_and_the_worst_sets_the_state() -> None:
    spec = LagPanel(kind="lag", title="lag", query="q", by="instance", warn=100, crit=1000)
    model = LagModel(spec, REFRESH)
    model.update({"value": members(5, 150, 3)}, at=1.0)
    view = model.value(1.0)
    assert view.series == {"m1": 5, "m2": 150, "m3": 3}
    assert (view.state, view.value) == ("warn", 150)
    assert "max 150 on m2" in view.detail
    model.update({"value": members(5, 1500, 3)}, at=2.0)
    assert model.value(2.0).state == "crit"
    model.update({"value": members(5, 6, 3)}, at=3.0)
    assert model.value(3.0).state == "ok"
    assert model.series_history["m2"].values() == [150, 1500, 6]


def test_lag_without_the_by_label_names_series_by_their_labels() -> None:
    model = LagModel(LagPanel(kind="lag", query="q", by="pod"), REFRESH)
    model.update({"value": [Series({"job": "pg", "__name__": "x"}, 2.0)]}, at=1.0)
    assert model.value(1.0).series == {'{job="pg"}': 2.0}


def backlog(**extra: object) -> BacklogModel:
    spec = BacklogPanel.model_validate(
        {"kind": "backlog", "title": "DLQ", "query": "q", "warn": 500, "crit": 1000, **extra}
    )
    return BacklogModel(spec, REFRESH)


def feed(model: BacklogModel, points: list[tuple[float, float]]) -> None:
    for at, value in points:
        model.update(
            {"value": [Series({"queue": "a"}, value * 0.75), Series({"queue": "b"}, value * 0.25)]},
            at,
        )


def test_backlog_growing_gives_rate_and_eta_to_crit() -> None:
    model = backlog()
    feed(model, [(t, 100 + 10 * t) for t in range(0, 30, 5)])  # 100 → 350, +10/s
    view = model.value(25.0)
    assert view.value == pytest.approx(350)
    assert view.rate == pytest.approx(10)
    assert (view.trend, view.eta_to) == ("growing", "crit")
    assert view.eta_s == pytest.approx(65)  # (1000 - 350) / 10
    assert view.state == "ok"
    assert "crit in 1m5s" in view.detail


def test_backlog_draining_gives_eta_to_empty() -> None:
    model = backlog()
    feed(model, [(t, 2000 - 20 * t) for t in range(0, 30, 5)])  # 2000 → 1500, -20/s
    view = model.value(25.0)
    assert view.state == "crit"
    assert (view.trend, view.eta_to) == ("draining", "empty")
    assert view.eta_s == pytest.approx(75)  # 1500 / 20
    assert "empty in 1m15s" in view.detail


def test_backlog_flat_has_no_eta_and_one_sample_no_trend() -> None:
    model = backlog()
    feed(model, [(0, 400)])
    assert model.value(0).trend == "unknown"
    assert "trend unknown" in model.value(0).detail
    feed(model, [(5, 401), (10, 400), (15, 401)])
    view = model.value(15)
    assert (view.trend, view.eta_s, view.eta_to) == ("flat", None, None)
    assert view.state == "ok"


def test_backlog_rate_only_looks_at_the_window() -> None:
    model = backlog(window="10s")
    feed(model, [(0, 0), (5, 500), (10, 600), (15, 600), (20, 600)])
    assert model.value(20).trend == "flat"  # the jump is older than the window


def test_trend_of_needs_two_distinct_times() -> None:
    assert trend_of([(1.0, 5.0), (1.0, 9.0)]) == (None, "unknown")
    rate, trend = trend_of([(0.0, 5.0), (1.0, 6.0)])
    assert (rate, trend) == (pytest.approx(1.0), "growing")


def test_stat_one_value_with_thresholds_and_many_series_is_an_error() -> None:
    model = StatModel(StatPanel(kind="stat", query="q", warn=10, crit=20, unit="ms"), REFRESH)
    model.update({"value": [Series({}, 12.5)]}, at=1.0)
    view = model.value(1.0)
    assert (view.state, view.value, view.detail) == ("warn", 12.5, "12.5 ms (warn 10, crit 20)")
    model.update({"value": members(1, 2)}, at=2.0)
    view = model.value(2.0)
    assert view.error is not None and "returned 2 series" in view.error
    assert view.value == 12.5  # the last good value stays, marked by the error


def test_not_a_number_series_are_left_out() -> None:
    model = LagModel(LagPanel(kind="lag", query="q"), REFRESH)
    model.update({"value": [*members(1, 2), Series({"instance": "m9"}, math.nan)]}, at=1.0)
    view = model.value(1.0)
    assert "m9" not in view.series
    assert "1 series without a number left out" in view.detail


def test_staleness_after_two_refreshes_keeps_last_value_and_error() -> None:
    model = quorum()
    model.update({"value": members(1, 1, 1)}, at=100.0)
    model.update({"value": Failed("prometheus http://p: cannot connect")}, at=105.0)
    view = model.value(now=105.0)
    assert (view.state, view.stale) == ("healthy", False)  # one missed poll is not stale yet
    assert view.error == "prometheus http://p: cannot connect"
    assert view.age_s == 5.0
    model.update({"value": Failed("prometheus http://p: no answer within 2s")}, at=110.5)
    view = model.value(now=110.5)
    assert (view.state, view.stale) == ("stale", True)
    assert view.value == 3  # the last known value, flagged stale
    assert view.error == "prometheus http://p: no answer within 2s"
    assert view.age_s == 10.5
    model.update({"value": members(1, 1, 0)}, at=115.0)
    view = model.value(now=115.0)
    assert (view.state, view.stale, view.error, view.age_s) == ("degraded", False, None, 0.0)


def test_staleness_grows_between_polls_without_new_samples() -> None:
    model = quorum()
    model.update({"value": members(1, 1, 1)}, at=0.0)
    assert model.value(now=10.0).state == "healthy"
    assert model.value(now=10.1).state == "stale"


def test_never_polled_successfully_is_unknown_with_the_error() -> None:
    model = backlog()
    model.update({"value": Failed("prometheus http://p: HTTP 500")}, at=1.0)
    view = model.value(1.0)
    assert (view.state, view.value, view.error) == (
        "unknown",
        None,
        "prometheus http://p: HTTP 500",
    )
    assert view.detail == "no value yet"


def test_ring_keeps_the_newest_samples() -> None:
    ring = Ring(3)
    for t in range(5):
        ring.add(float(t), float(t * 10))
    assert ring.values() == [20, 30, 40]
    assert ring.since(3.0) == [(3.0, 30.0), (4.0, 40.0)]
    assert len(ring) == 3


def test_history_is_bounded() -> None:
    model = backlog()
    feed(model, [(float(t), float(t)) for t in range(500)])
    assert len(model.history) == 240
    assert len(model.value(499).history) == 60
    assert model.value(499).history[-1] == 499


def alert(name: str, severity: str, silenced: bool = False) -> Alert:
    return Alert(
        fingerprint=name,
        labels={"alertname": name, "severity": severity},
        state="suppressed" if silenced else "active",
        silenced_by=("s1",) if silenced else (),
    )


def test_alerts_panel_counts_unsilenced_and_critical_is_crit() -> None:
    model = AlertsModel(AlertsPanel(kind="alerts"), REFRESH)
    model.update_alerts([alert("A", "warning"), alert("B", "critical", silenced=True)], at=1.0)
    view = model.value(1.0)
    assert (view.state, view.value) == ("warn", 1)
    assert view.detail == "1 firing, 1 silenced or inhibited: A"
    model.update_alerts([alert("B", "critical")], at=2.0)
    assert model.value(2.0).state == "crit"
    model.update_alerts([], at=3.0)
    assert (model.value(3.0).state, model.value(3.0).detail) == ("ok", "0 firing")
    model.fail("alertmanager http://a: HTTP 503")
    assert model.value(100.0).state == "stale"
