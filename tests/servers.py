"""Real servers the tests start on loopback: finding the binaries, free ports, processes.

A missing binary fails the test, naming the Debian package to install; it never skips.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest


def binary(name: str, package: str) -> str:
    """The path of ``name``; fail (never skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package (apt-get install -y {package})")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Server:
    """A Prometheus or Alertmanager process that can be killed and restarted in place."""

    argv: list[str]
    url: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.argv[0]} exited with {self.proc.returncode}:\n{self.tail()}")
            if _ready(self.url):
                return
            time.sleep(0.1)
        pytest.fail(f"{self.argv[0]} not ready after {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


def prometheus_server(
    tmp: Path,
    jobs: Mapping[str, Sequence[str]],
    *,
    rule_files: Sequence[Path] = (),
    alertmanager: Server | None = None,
    scrape_interval: str = "1s",
    scrape_timeout: str | None = None,
    evaluation_interval: str = "1s",
    honor_labels: bool = False,
) -> Server:
    """A Prometheus (Debian prometheus) on a free port, not started yet, scraping each job's
    ``host:port`` targets, evaluating ``rule_files`` and sending alerts to ``alertmanager``.
    Its config, data and log are under ``tmp``; start it with :func:`running`."""
    timeout = f", scrape_timeout: {scrape_timeout}" if scrape_timeout else ""
    lines = [
        f"global: {{scrape_interval: {scrape_interval}{timeout}, "
        f"evaluation_interval: {evaluation_interval}}}",
        f"rule_files: [{', '.join(repr(str(path)) for path in rule_files)}]",
    ]
    if alertmanager is not None:
        target = alertmanager.url.removeprefix("http://")
        lines += [
            "alerting:",
            f"  alertmanagers: [{{static_configs: [{{targets: ['{target}']}}]}}]",
        ]
    lines.append("scrape_configs:")
    for job, targets in jobs.items():
        listed = ", ".join(f"'{target}'" for target in targets)
        lines.append(f"  - job_name: {job}")
        if honor_labels:
            lines.append("    honor_labels: true")
        lines.append(f"    static_configs: [{{targets: [{listed}]}}]")
    (tmp / "prometheus.yml").write_text("\n".join(lines) + "\n")
    (tmp / "prometheus-data").mkdir()
    port = free_port()
    argv = [
        binary("prometheus", "prometheus"),
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return Server(argv, f"http://127.0.0.1:{port}", tmp / "prometheus.log")


ALERTMANAGER_CONFIG = """
route:
  receiver: blackhole
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
"""


def alertmanager_server(tmp: Path) -> Server:
    """An Alertmanager (Debian prometheus-alertmanager) on a free port, not started yet, that
    keeps the alerts it is sent and notifies nobody; its files are under ``tmp``."""
    path = binary("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    (tmp / "alertmanager.yml").write_text(ALERTMANAGER_CONFIG)
    (tmp / "alertmanager-data").mkdir()
    argv = [
        path,
        f"--config.file={tmp / 'alertmanager.yml'}",
        f"--storage.path={tmp / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    return Server(argv, f"http://127.0.0.1:{port}", tmp / "alertmanager.log")


@contextmanager
def running(*servers: Server) -> Iterator[None]:
    """Start ``servers`` in order, each ready before the next; stop them all on the way out."""
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in reversed(servers):
            server.stop()


def prometheus_value(url: str, promql: str) -> float | None:
    """The first sample's value of ``promql`` on the Prometheus at ``url`` (None: no sample,
    or no answer)."""
    try:
        reply = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=2).json()
        result = reply["data"]["result"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return float(result[0]["value"][1]) if result else None
