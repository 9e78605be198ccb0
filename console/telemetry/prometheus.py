"""Prometheus: instant queries through prometheus-api-client, and its own alerts API.

prometheus-api-client is synchronous (requests), so each query runs in a worker thread. Its
defaults would retry 3 times with a 1 s backoff and no timeout (``MAX_REQUEST_RETRIES`` and
``RETRY_BACKOFF_FACTOR`` in prometheus_connect.py, ``timeout=None``); here the adapter is built
with retries disabled, the timeout is passed on every request, and the whole query (with at
most one retry, only after a failed connect) is bounded by the configured timeout.

requests' timeout is per socket read, so a server that trickles a byte at a time can hold a
worker past the deadline. The caller is answered at the deadline regardless; the worker is a
daemon thread (``asyncio.to_thread``'s pool would be joined at exit and hang the process), and
at most ``MAX_ABANDONED`` of them may be left waiting on one source.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from console.config import HttpSource
from console.source_errors import RequestRejected, SourceTimedOut, SourceUnavailable
from console.telemetry.alerts import Alert, parse_prometheus_alerts
from console.telemetry.http import (
    Access,
    body_snippet,
    describe_transport_error,
    request_json,
    seconds,
)
from console.telemetry.panels import Series

NO_RETRY = Retry(total=0, read=False, redirect=False, status=0)
"""urllib3 retry policy with every retry off (requests' own default, made explicit)."""

_STATUS = re.compile(r"^HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)

MAX_CONCURRENT = 8
"""Queries run at once against one Prometheus."""

MAX_ABANDONED = 8
"""Workers left stuck on a hung server before new queries fail at once."""


@dataclass
class _Worker:
    """One query's worker thread: finished yet, and whether its caller gave up on it."""

    done: bool = False
    abandoned: bool = False


class PrometheusSource:
    """One Prometheus server, as configured under ``prometheus:``."""

    name = "prometheus"

    def __init__(self, settings: HttpSource) -> None:
        self.access = Access.from_settings(self.name, settings)
        self.url = self.access.url  # without user:password@, which went into the access
        self.timeout = settings.timeout
        session = requests.Session()
        session.verify = (self.access.ca_file or True) if settings.tls.verify else False
        session.cert = self.access.cert
        adapter = HTTPAdapter(max_retries=NO_RETRY)  # PrometheusConnect mounts the same on its URL
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        self._client = PrometheusConnect(
            url=self.url,
            headers=self.access.headers or None,
            auth=self.access.basic,
            session=session,
            retry=NO_RETRY,
            timeout=self.timeout,
        )
        self._concurrency = asyncio.Semaphore(MAX_CONCURRENT)
        self._lock = threading.Lock()
        self._abandoned = 0
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url})"

    async def query(self, promql: str) -> list[Series]:
        """Run an instant query; raise ``SourceUnavailable`` or ``RequestRejected``."""
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    raw = await self._in_thread(self._client.custom_query, promql)
                except requests.ConnectionError as exc:
                    if isinstance(exc, requests.Timeout | requests.exceptions.SSLError):
                        raise
                    raw = await self._in_thread(self._client.custom_query, promql)
        except TimeoutError:
            raise self._timed_out() from None
        except PrometheusApiClientException as exc:
            raise self._http_error(str(exc)) from None
        except requests.Timeout:
            raise self._timed_out() from None
        except (requests.JSONDecodeError, ValueError, KeyError, TypeError):
            raise self._down("the reply is not Prometheus API JSON") from None
        except requests.RequestException as exc:
            raise self._down(describe_transport_error(exc)) from None
        return self._series(raw, promql)

    async def alerts(self) -> list[Alert]:
        """The firing alerts from ``/api/v1/alerts`` (used when no Alertmanager is configured)."""
        if self._http is None:
            self._http = self.access.async_client()
        data = await request_json(self._http, self.access, "GET", "/api/v1/alerts")
        try:
            return parse_prometheus_alerts(data)
        except ValueError as exc:
            raise self._down(f"unexpected reply to GET /api/v1/alerts: {exc}") from None

    async def aclose(self) -> None:
        """Close the connections (a worker still waiting on a hung server is abandoned)."""
        self._session.close()
        if self._http is not None:
            await self._http.aclose()

    def _timed_out(self) -> SourceTimedOut:
        return SourceTimedOut(self.name, self.url, f"no answer within {seconds(self.timeout)}")

    def _down(self, message: str) -> SourceUnavailable:
        return SourceUnavailable(self.name, self.url, message)

    async def _in_thread(self, call: Callable[[str], Any], promql: str) -> Any:
        """``call(promql)`` in a daemon thread; its result or exception, awaited on the loop.

        At most ``MAX_CONCURRENT`` run at once (others wait their turn within their deadline);
        once ``MAX_ABANDONED`` workers are stuck on a server past their caller's deadline, new
        queries fail at once instead of piling up more threads.
        """
        with self._lock:
            if self._abandoned >= MAX_ABANDONED:
                raise self._down(
                    f"{self._abandoned} earlier queries are still stuck waiting for an answer"
                )
        async with self._concurrency:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            worker = _Worker()

            def settle(result: Any, error: BaseException | None) -> None:
                if future.done():  # the caller gave up at its deadline
                    return
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

            def work() -> None:
                result: Any = None
                error: BaseException | None = None
                try:
                    result = call(promql)
                except Exception as exc:  # handed to the awaiting coroutine
                    error = exc
                with self._lock:
                    worker.done = True
                    if worker.abandoned:
                        self._abandoned -= 1
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                    loop.call_soon_threadsafe(settle, result, error)

            threading.Thread(target=work, name="prometheus-query", daemon=True).start()
            try:
                return await future
            except asyncio.CancelledError:
                with self._lock:
                    if not worker.done:
                        worker.abandoned = True
                        self._abandoned += 1
                raise

    def _http_error(self, text: str) -> SourceUnavailable | RequestRejected:
        """Classify the library's "HTTP Status Code N (b'...')" error."""
        match = _STATUS.match(text)
        if not match:
            return self._down(text[:200])
        status = int(match.group(1))
        try:
            body = ast.literal_eval(match.group(2))
        except (ValueError, SyntaxError):
            body = match.group(2)
        detail = body_snippet(body if isinstance(body, bytes | str) else str(body))
        if status in (400, 422):
            return RequestRejected(self.name, self.url, f"query refused: {detail}")
        if status in (401, 403):
            return self._down(
                f"HTTP {status}: not authorized; check prometheus bearer_token_* or basic_auth"
            )
        return self._down(f"HTTP {status}" + (f": {detail}" if detail else ""))

    def _series(self, raw: Any, promql: str) -> list[Series]:
        """Series from the ``result`` of a query reply: a vector or a scalar."""
        if isinstance(raw, list) and len(raw) == 2 and not isinstance(raw[0], dict):
            return [Series({}, self._number(raw[1], promql))]
        if not isinstance(raw, list):
            raise self._down(f"unexpected query result: {type(raw).__name__}")
        out: list[Series] = []
        for item in raw:
            if not isinstance(item, dict):
                raise self._down(f"unexpected query result item: {str(item)[:80]}")
            if "values" in item:
                raise RequestRejected(
                    self.name,
                    self.url,
                    f"{promql!r} returns a range vector; panels need an instant vector "
                    "(drop the [range] or wrap it, e.g. in rate(...))",
                )
            metric, value = item.get("metric"), item.get("value")
            if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
                raise self._down(f"unexpected query result item: {str(item)[:80]}")
            labels = {str(k): str(v) for k, v in metric.items()}
            out.append(Series(labels, self._number(value[1], promql)))
        return out

    def _number(self, text: Any, promql: str) -> float:
        try:
            return float(text)
        except (TypeError, ValueError):
            raise RequestRejected(
                self.name, self.url, f"{promql!r} returned {str(text)[:40]!r}, not a number"
            ) from None
