"""Real Prometheus and Alertmanager on loopback, scraping an exporter the test controls.

The binaries are the Debian packages ``prometheus`` and ``prometheus-alertmanager``. A missing
binary fails the test (naming the package to install); it never skips silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from console.config import Config
from tests.servers import (
    Server,
    alertmanager_server,
    free_port,
    prometheus_server,
    prometheus_value,
    running,
    wait_until,
)

RULES = """
groups:
  - name: console-tests
    interval: 1s
    rules:
      - alert: EtcdMemberDown
        expr: etcd_server_has_leader == 0
        labels: {severity: critical}
        annotations:
          summary: "etcd member {{ $labels.instance }} has no leader"
          runbook_url: "https://runbooks.example.invalid/ops/etcd-member-down.md"
"""


def scraped(url: str) -> bool:
    """Whether Prometheus has scraped the exporter (its scrape manager starts up to 5 s late)."""
    return prometheus_value(url, "max(up)") == 1


class Exporter:
    """A prometheus_client HTTP server on 127.0.0.1 whose gauges the test sets."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.has_leader = Gauge(
            "etcd_server_has_leader", "member has a leader", ["instance"], registry=self.registry
        )
        self.is_leader = Gauge(
            "etcd_server_is_leader", "member is the leader", ["instance"], registry=self.registry
        )
        self.dlq = Gauge("dlq_depth", "messages in the DLQ", ["queue"], registry=self.registry)
        self.lag = Gauge(
            "pg_replication_lag_seconds", "replica lag", ["instance"], registry=self.registry
        )
        self.port = free_port()
        self.server, self.thread = start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )
        self.healthy()

    def healthy(self) -> None:
        """Three members with a leader (m1), an empty DLQ, small lag."""
        for member in ("m1", "m2", "m3"):
            self.has_leader.labels(member).set(1)
            self.is_leader.labels(member).set(1 if member == "m1" else 0)
            self.lag.labels(member).set(0.5)
        self.dlq.labels("orders").set(0)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def exporter_prometheus(tmp: Path, exporter: Exporter, alertmanager: Server | None) -> Server:
    """A Prometheus (not started) scraping ``exporter`` with the test rules above."""
    (tmp / "rules.yml").write_text(RULES)
    return prometheus_server(
        tmp,
        {"exporter": [f"127.0.0.1:{exporter.port}"]},
        rule_files=[tmp / "rules.yml"],
        alertmanager=alertmanager,
        honor_labels=True,
    )


@dataclass
class Stack:
    """The exporter, Alertmanager and Prometheus of one test module."""

    exporter: Exporter
    prometheus: Server
    alertmanager: Server

    def config(self, panels: list[dict[str, Any]], refresh: float = 0.5, **extra: Any) -> Config:
        data: dict[str, Any] = {
            "prometheus": {"url": self.prometheus.url, "timeout": "2s"},
            "alertmanager": {"url": self.alertmanager.url, "timeout": "2s"},
            "refresh": refresh,
            "panels": panels,
        }
        data.update(extra)
        return Config.model_validate(data)


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    yield exp
    exp.close()


@pytest.fixture(scope="module")
def stack(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    am = alertmanager_server(tmp)
    prom = exporter_prometheus(tmp, exporter, am)
    with running(am, prom):
        wait_until(lambda: scraped(prom.url), 20, "Prometheus' first scrape of the exporter")
        yield Stack(exporter, prom, am)
