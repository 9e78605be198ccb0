"""A tiny HTTP server on 127.0.0.1 that answers like Prometheus and Alertmanager — or not.

``mode`` picks the behaviour of every reply: ``ok`` (valid API answers built from the
attributes below), ``slow`` (answers after ``delay`` seconds), ``trickle`` (a 200 whose body
arrives one byte at a time, never finishing in time), ``garbage`` (200 with HTML), ``shape``
(200 with JSON of the wrong shape), ``error500``, ``unauthorized`` (401), ``close`` (drops
the connection without a reply), ``badquery`` (Prometheus' 400 for bad PromQL), ``overloaded``
(Prometheus' 503 for a query it timed out), ``huge`` (a valid reply padded past 16 MiB, sent
without a Content-Length) and ``hold`` (answers once ``release`` is set). ``by_query`` overrides
``mode`` for single PromQL queries. ``active`` counts the requests being answered now.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class _Server(ThreadingHTTPServer):
    """Room for a burst of connections: with the default listen backlog of 5, the 6th connect
    of a burst waits for TCP's 1 s SYN retransmit whenever the accepting thread is slow."""

    request_queue_size = 64


class FaultServer:
    """Serve scripted replies on 127.0.0.1 from a background thread."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.mode = "ok"
        self.delay = 5.0
        self.vector: list[dict[str, Any]] = [{"metric": {"instance": "m1"}, "value": [0, "1"]}]
        self.am_alerts: list[dict[str, Any]] = []
        self.prom_alerts: list[dict[str, Any]] = []
        self.by_query: dict[str, str] = {}
        self.release = threading.Event()
        self.hits: Counter[str] = Counter()
        self.authorization: dict[str, str | None] = {}
        self.stopping = threading.Event()
        self.active = 0
        self._count = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def do_POST(self) -> None:
                server.handle(self)

            def do_DELETE(self) -> None:
                server.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _ok_body(self, path: str) -> bytes:
        if path == "/api/v1/query":
            data: Any = {
                "status": "success",
                "data": {"resultType": "vector", "result": self.vector},
            }
        elif path == "/api/v1/alerts":
            data = {"status": "success", "data": {"alerts": self.prom_alerts}}
        elif path == "/api/v2/alerts":
            data = self.am_alerts
        else:
            data = {}
        return json.dumps(data).encode()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._count:
            self.active += 1
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._handle(handler)  # (the client may give up first: the timeout tests want that)
        finally:
            with self._count:
                self.active -= 1

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlparse(handler.path)
        path = url.path
        self.hits[path] += 1
        self.authorization[path] = handler.headers.get("Authorization")
        promql = parse_qs(url.query).get("query", [""])[0]
        mode = self.by_query.get(promql, self.mode)
        if mode == "hold":
            self.release.wait()
            mode = "ok"
        if mode == "slow":
            deadline = time.monotonic() + self.delay
            while time.monotonic() < deadline and not self.stopping.is_set():
                time.sleep(0.05)
            mode = "ok"
        if mode == "ok":
            self._reply(handler, 200, self._ok_body(path))
        elif mode == "trickle":
            handler.send_response(200)
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            for _ in range(200):  # 10 s, a byte well within any read timeout the tests use
                if self.stopping.is_set():
                    break
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.05)
        elif mode == "garbage":
            self._reply(handler, 200, b"<html><body>It works!</body></html>")
        elif mode == "shape":
            self._reply(handler, 200, b'{"status": "success", "data": 5}')
        elif mode == "error500":
            self._reply(handler, 500, b"internal error: the TSDB is on fire")
        elif mode == "unauthorized":
            self._reply(handler, 401, b"Unauthorized")
        elif mode == "badquery":
            body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}
            self._reply(handler, 400, json.dumps(body).encode())
        elif mode == "overloaded":
            body = {"status": "error", "errorType": "timeout", "error": "query timed out"}
            self._reply(handler, 503, json.dumps(body).encode())
        elif mode == "huge":
            handler.send_response(200)
            handler.end_headers()  # no Content-Length: the body ends when the connection does
            pad = b" " * 65536
            for _ in range(17 * 16):  # 17 MiB of whitespace before valid JSON
                handler.wfile.write(pad)
            handler.wfile.write(self._ok_body("/api/v1/query"))
        elif mode == "close":
            handler.close_connection = True
        else:
            raise AssertionError(f"unknown mode {mode}")
