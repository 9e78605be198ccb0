"""Real Prometheus and Alertmanager on loopback, scraping an exporter the test controls.

The binaries are the Debian packages ``prometheus`` and ``prometheus-alertmanager``. A missing
binary fails the test (naming the package to install); it never skips silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from console.config import Config
from tests.servers import Server, binary, free_port, wait_until

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

AM_CONFIG = """
route:
  receiver: blackhole
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
"""


def scraped(url: str) -> bool:
    """Whether Prometheus has scraped the exporter (its scrape manager starts up to 5 s late)."""
    try:
        reply = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=0.5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return any(r["value"][1] == "1" for r in reply.get("data", {}).get("result", []))


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


def alertmanager_server(tmp: Path) -> Server:
    path = binary("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    (tmp / "am.yml").write_text(AM_CONFIG)
    (tmp / "am-data").mkdir()
    argv = [
        path,
        f"--config.file={tmp / 'am.yml'}",
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    return Server(argv, f"http://127.0.0.1:{port}", tmp / "alertmanager.log")


def prometheus_server(tmp: Path, exporter: Exporter, alertmanager: Server | None) -> Server:
    path = binary("prometheus", "prometheus")
    port = free_port()
    alerting = ""
    if alertmanager is not None:
        target = alertmanager.url.removeprefix("http://")
        alerting = (
            f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{target}']}}]\n"
        )
    (tmp / "rules.yml").write_text(RULES)
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [rules.yml]\n"
        f"{alerting}"
        "scrape_configs:\n"
        "  - job_name: exporter\n    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    (tmp / "prom-data").mkdir()
    argv = [
        path,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return Server(argv, f"http://127.0.0.1:{port}", tmp / "prometheus.log")


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
    prom = prometheus_server(tmp, exporter, am)
    try:
        am.start()
        prom.start()
        wait_until(lambda: scraped(prom.url), 20, "Prometheus' first scrape of the exporter")
        yield Stack(exporter, prom, am)
    finally:
        prom.stop()
        am.stop()
