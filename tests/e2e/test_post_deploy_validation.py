"""The change pack's post-deploy validation runbook against a real HTTP service on loopback.

The bundled scenario can only show the service not answering (drills do not script HTTP), so
here a real server on 127.0.0.1 answers ``/healthz`` and ``/stats`` and the runbook's ``http``
checks judge its JSON: a good release passes, a bad number or a dependency down fails and names
the JSON path, and a 503 is a failure even with a body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import cli

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "post-deploy-validation.md"

HEALTHY = {"status": "ok", "checks": {"database": "up", "queue": "up", "cache": "up"}}
STATS = {
    "build": {"version": "2.5.0"},
    "requests": {"error_ratio": 0.002},
    "latency_ms": {"p99": 180},
    "dlq": {"depth": 3},
}


class Service:
    """A stand-in for the deployed service: serves ``replies[path] = (status, json)``."""

    def __init__(self) -> None:
        self.replies: dict[str, tuple[int, Any]] = {
            "/healthz": (200, HEALTHY),
            "/stats": (200, STATS),
        }
        self.paths: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.paths.append(self.path)
                status, data = service.replies.get(self.path, (404, {"error": "not found"}))
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def service() -> Iterator[Service]:
    server = Service()
    yield server
    server.close()


def validate(service: Service) -> tuple[int, str]:
    """Step 1 of the runbook (the http checks) against the service, as an engineer runs it."""
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(RUNBOOK),
            "--step",
            "1",
            "--no-journal",
            *("--var", "service=checkout", "--var", "version=2.5.0"),
            *("--var", "service_host=127.0.0.1", "--var", f"port={service.port}"),
        ],
        env={"INCIDENT_CONSOLE_CONFIG": ""},
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_good_release_passes_health_and_stats(service: Service) -> None:
    code, out = validate(service)
    assert code == 0, out
    assert "2 block(s): 2 pass" in out
    assert service.paths == ["/healthz", "/stats"]


def test_an_error_ratio_over_the_gate_fails_and_names_the_path(service: Service) -> None:
    service.replies["/stats"] = (200, {**STATS, "requests": {"error_ratio": 0.08}})
    code, out = validate(service)
    assert code == 1
    assert ".requests.error_ratio is 0.08, which does not hold '< 0.01'" in out


def test_a_critical_dependency_down_fails_health(service: Service) -> None:
    down = {"status": "degraded", "checks": {"database": "down", "queue": "up"}}
    service.replies["/healthz"] = (503, down)
    code, out = validate(service)
    assert code == 1
    assert "check health" in out and "FAIL" in out
    assert "503" in out


def test_stats_without_a_build_version_fails(service: Service) -> None:
    service.replies["/stats"] = (200, {k: v for k, v in STATS.items() if k != "build"})
    code, out = validate(service)
    assert code == 1
    assert ".build.version" in out
