"""Prometheus: instant queries through prometheus-api-client, and its own alerts API.

prometheus-api-client is synchronous (requests), so each query runs in a worker thread. Its
defaults would retry 3 times with a 1 s backoff and no timeout (``MAX_REQUEST_RETRIES`` and
``RETRY_BACKOFF_FACTOR`` in prometheus_connect.py, ``timeout=None``); here the adapter is built
with retries disabled, the timeout is passed on every request, and the whole query (with at
most one retry, only after a failed connect) is bounded by the configured timeout.

At most ``MAX_CONCURRENT`` workers run for one source. A query first waits for a free worker
(at most ``queue_wait``, by default as long as the timeout) and only then starts its timeout, so
queries queued behind others are not timed out before they are sent. The two limits fail with
different messages: "no answer within ..." and "no free query worker within ...".

requests' timeout is per socket read, so a server that trickles a byte at a time can hold a
worker past the deadline. The caller is answered at the deadline regardless; the worker is a
daemon thread (``asyncio.to_thread``'s pool would be joined at exit and hang the process) and
keeps its place among the ``MAX_CONCURRENT`` until it ends. Once every worker is stuck like
that, new queries fail at once instead of waiting.
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
"""Worker threads (queries in flight, including ones stuck past their deadline) per Prometheus."""


@dataclass
class _Worker:
    """One query's worker thread: finished yet, and whether its caller gave up on it."""

    done: bool = False
    abandoned: bool = False


class PrometheusSource:
    """One Prometheus server, as configured under ``prometheus:``."""

    name = "prometheus"

    def __init__(self, settings: HttpSource, *, queue_wait: float | None = None) -> None:
        """``queue_wait``: how long a query may wait for a free worker (default: the timeout)."""
        self.access = Access.from_settings(self.name, settings)
        self.url = self.access.url  # without user:password@, which went into the access
        self.timeout = settings.timeout
        self.queue_wait = settings.timeout if queue_wait is None else queue_wait
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
        self._lock = threading.Lock()
        self._busy = 0  # worker threads alive, stuck ones included (guarded by _lock)
        self._abandoned = 0  # of those, the ones whose caller gave up (guarded by _lock)
        self._waiting: list[asyncio.Future[None]] = []  # queries waiting for a worker
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url})"

    async def query(self, promql: str) -> list[Series]:
        """Run an instant query; raise ``SourceUnavailable`` or ``RequestRejected``."""
        try:
            raw = await self._in_thread(self._query_once_or_twice, promql)
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

    def _query_once_or_twice(self, promql: str) -> Any:
        """The query, retried once after a failed connect (never after a timeout or TLS error).

        Runs in a worker thread, so both tries share one worker and one deadline.
        """
        try:
            return self._client.custom_query(promql)
        except requests.ConnectionError as exc:
            if isinstance(exc, requests.Timeout | requests.exceptions.SSLError):
                raise
            return self._client.custom_query(promql)

    async def _in_thread(self, call: Callable[[str], Any], promql: str) -> Any:
        """``call(promql)`` in a daemon worker thread, within the timeout once a worker has it.

        Waiting for a free worker is limited separately, by ``queue_wait``.
        """
        await self._take_worker()
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
                self._busy -= 1
                if worker.abandoned:
                    self._abandoned -= 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                loop.call_soon_threadsafe(settle, result, error)
                loop.call_soon_threadsafe(self._wake_waiting)

        try:
            threading.Thread(target=work, name="prometheus-query", daemon=True).start()
        except RuntimeError:  # "can't start new thread": give the worker back
            with self._lock:
                self._busy -= 1
            raise
        try:
            async with asyncio.timeout(self.timeout):
                return await future
        except TimeoutError:
            raise self._timed_out() from None
        finally:
            with self._lock:
                abandoned = not worker.done  # timed out or cancelled: the worker runs on
                if abandoned:
                    worker.abandoned = True
                    self._abandoned += 1
            if abandoned:
                self._wake_waiting()  # so the waiting see when every worker is stuck

    async def _take_worker(self) -> None:
        """Claim one of the ``MAX_CONCURRENT`` workers, waiting at most ``queue_wait``.

        Fails at once while every worker is stuck on a query its caller gave up on.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.queue_wait):
                while True:
                    with self._lock:
                        if self._abandoned >= MAX_CONCURRENT:
                            raise self._stuck()
                        if self._busy < MAX_CONCURRENT:
                            self._busy += 1
                            return
                    waiter: asyncio.Future[None] = loop.create_future()
                    self._waiting.append(waiter)
                    try:
                        await waiter
                    finally:
                        with contextlib.suppress(ValueError):
                            self._waiting.remove(waiter)
        except TimeoutError:
            with self._lock:
                if self._abandoned >= MAX_CONCURRENT:  # the real reason nothing came free
                    raise self._stuck() from None
            raise self._down(
                f"no free query worker within {seconds(self.queue_wait)}: "
                f"all {MAX_CONCURRENT} are busy with earlier queries"
            ) from None

    def _wake_waiting(self) -> None:
        """Let the queries waiting for a worker look again (a worker ended or got stuck)."""
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    def _stuck(self) -> SourceUnavailable:
        stuck = self._abandoned
        return self._down(f"{stuck} earlier queries are still stuck waiting for an answer")

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
