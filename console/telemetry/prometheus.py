"""Prometheus: instant queries on ``/api/v1/query`` and its own alerts API, through httpx.

Both use one httpx client built from the source's ``Access`` (auth, TLS, timeout), the same
code as Alertmanager's. A query's HTTP status and Prometheus' ``status``/``errorType``/``error``
are read from the reply as data and pick the error class.

Bounds against a slow or hostile server:

- a query (with at most one retry, only after a dropped or refused connection) is bounded as a
  whole by ``asyncio.timeout``, so a server trickling a byte at a time cannot hold it past its
  timeout (httpx's own timeout is per read); cancelling it closes the connection;
- the reply is read as a stream and given up past ``MAX_REPLY_BYTES``;
- at most ``MAX_CONCURRENT`` queries are in flight per source. A query first waits for a free
  slot (at most ``queue_wait``, by default as long as the timeout) and only then starts its
  timeout, so queries queued behind others are not timed out before they are sent. The two
  limits fail with different messages: "no answer within ..." and "no free query slot within ...".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from console.config import HttpSource
from console.source_errors import RequestRejected, SourceTimedOut, SourceUnavailable
from console.telemetry.alerts import Alert, parse_prometheus_alerts
from console.telemetry.http import (
    Access,
    body_snippet,
    describe_transport_error,
    request_json,
    retryable_errors,
    seconds,
)
from console.telemetry.panels import Series

MAX_CONCURRENT = 8
"""Queries in flight at once per Prometheus; the others wait for a slot."""

MAX_REPLY_BYTES = 16 * 1024 * 1024
"""The largest query reply read; a bigger one is given up as it streams in."""

QUERY_PATH = "/api/v1/query"

REJECTED_STATUSES = frozenset({400, 422})
"""HTTP statuses with which Prometheus refuses a query (bad PromQL, cannot execute)."""

REJECTED_ERROR_TYPES = frozenset({"bad_data", "execution"})
"""Prometheus ``errorType`` values that blame the query, not the server."""


class QueryRefused(RequestRejected):
    """Prometheus refused a query; ``status`` and ``error_type`` are as it sent them."""

    def __init__(
        self, source: str, url: str, message: str, *, status: int, error_type: str | None
    ) -> None:
        super().__init__(source, url, message)
        self.status = status
        self.error_type = error_type


class _ReplyTooLarge(Exception):
    """The reply grew past ``MAX_REPLY_BYTES`` while streaming in."""


class PrometheusSource:
    """One Prometheus server, as configured under ``prometheus:``."""

    name = "prometheus"

    def __init__(self, settings: HttpSource, *, queue_wait: float | None = None) -> None:
        """``queue_wait``: how long a query may wait for a free slot (default: the timeout)."""
        self.access = Access.from_settings(self.name, settings)
        self.url = self.access.url  # without user:password@, which went into the access
        self.timeout = settings.timeout
        self.queue_wait = settings.timeout if queue_wait is None else queue_wait
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url})"

    async def query(self, promql: str) -> list[Series]:
        """Run an instant query; raise ``SourceUnavailable`` or ``RequestRejected``."""
        try:
            async with asyncio.timeout(self.queue_wait):
                await self._slots.acquire()
        except TimeoutError:
            raise self._down(
                f"no free query slot within {seconds(self.queue_wait)}: "
                f"all {MAX_CONCURRENT} are busy with earlier queries"
            ) from None
        try:
            async with asyncio.timeout(self.timeout):
                status, body = await self._get_query(promql)
        except TimeoutError:
            raise SourceTimedOut(
                self.name, self.url, f"no answer within {seconds(self.timeout)}"
            ) from None
        except _ReplyTooLarge:
            limit = MAX_REPLY_BYTES // (1024 * 1024)
            raise self._down(f"the reply is larger than {limit} MiB") from None
        except httpx.HTTPError as exc:
            raise self._down(describe_transport_error(exc)) from None
        finally:
            self._slots.release()
        return self._series(self._result(status, body), promql)

    async def alerts(self) -> list[Alert]:
        """The firing alerts from ``/api/v1/alerts`` (used when no Alertmanager is configured)."""
        data = await request_json(self._client(), self.access, "GET", "/api/v1/alerts")
        try:
            return parse_prometheus_alerts(data)
        except ValueError as exc:
            raise self._down(f"unexpected reply to GET /api/v1/alerts: {exc}") from None

    async def aclose(self) -> None:
        """Close the connections."""
        if self._http is not None:
            await self._http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = self.access.async_client()
        return self._http

    def _down(self, message: str) -> SourceUnavailable:
        return SourceUnavailable(self.name, self.url, message)

    async def _get_query(self, promql: str) -> tuple[int, bytes]:
        """The status and body of ``GET /api/v1/query``, sent again once after a dropped
        or refused connection (both tries within the caller's one timeout)."""
        try:
            return await self._get_once(promql)
        except retryable_errors(idempotent=True):
            return await self._get_once(promql)

    async def _get_once(self, promql: str) -> tuple[int, bytes]:
        url = self.url + QUERY_PATH
        async with self._client().stream("GET", url, params={"query": promql}) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
                raise _ReplyTooLarge
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise _ReplyTooLarge
            return response.status_code, bytes(body)

    def _result(self, status: int, body: bytes) -> Any:
        """The ``data.result`` of a successful reply, or the error its status and fields name."""
        try:
            reply = json.loads(body)
        except ValueError:
            reply = None
        fields = reply if isinstance(reply, dict) else {}
        ok = 200 <= status < 300
        if ok and fields.get("status") == "success":
            data = fields.get("data")
            if isinstance(data, dict) and "result" in data:
                return data["result"]
            raise self._down("the reply is not Prometheus API JSON")
        error_type = fields.get("errorType") if isinstance(fields.get("errorType"), str) else None
        kind = f" ({error_type})" if error_type else ""
        detail = body_snippet(body)
        if status in REJECTED_STATUSES or error_type in REJECTED_ERROR_TYPES:
            raise QueryRefused(
                self.name,
                self.url,
                f"query refused{kind}: {detail}",
                status=status,
                error_type=error_type,
            )
        if status in (401, 403):
            raise self._down(
                f"HTTP {status}: not authorized; check prometheus bearer_token_* or basic_auth"
            )
        if ok and error_type:  # an error of a type that does not blame the query
            raise self._down(f"Prometheus error{kind}: {detail}")
        if ok:
            raise self._down("the reply is not Prometheus API JSON")
        raise self._down(f"HTTP {status}{kind}" + (f": {detail}" if detail else ""))

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
