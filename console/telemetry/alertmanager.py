"""Alertmanager API v2 over async httpx: alerts, and the silence endpoints.

Replies are checked for shape before use; a garbage or error reply becomes a
``SourceUnavailable`` (or ``RequestRejected`` when Alertmanager refused a request) naming the
source, the URL and what happened.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from console.config import HttpSource
from console.source_errors import SourceUnavailable
from console.telemetry.alerts import Alert, parse_alertmanager_alerts
from console.telemetry.http import Access, request_json


class AlertmanagerSource:
    """One Alertmanager, as configured under ``alertmanager:``."""

    name = "alertmanager"

    def __init__(self, settings: HttpSource) -> None:
        self.access = Access.from_settings(self.name, settings)
        self.url = self.access.url  # without user:password@, which went into the access
        self.timeout = settings.timeout
        self._http: httpx.AsyncClient = self.access.async_client()

    def __repr__(self) -> str:
        return f"AlertmanagerSource({self.url})"

    async def alerts(self) -> list[Alert]:
        """Every active alert, including silenced and inhibited ones (marked as such)."""
        data = await request_json(self._http, self.access, "GET", "/api/v2/alerts")
        try:
            return parse_alertmanager_alerts(data)
        except ValueError as exc:
            raise self._down(f"unexpected reply to GET /api/v2/alerts: {exc}") from None

    async def get_silences(self) -> list[Any]:
        """The raw silence list (``GET /api/v2/silences``)."""
        data = await request_json(self._http, self.access, "GET", "/api/v2/silences")
        if not isinstance(data, list):
            raise self._down(
                f"unexpected reply to GET /api/v2/silences: expected a list, "
                f"got {type(data).__name__}"
            )
        return data

    async def post_silence(self, body: dict[str, Any]) -> str:
        """Create a silence; return its id. Never retried once the request may have been sent."""
        data = await request_json(
            self._http, self.access, "POST", "/api/v2/silences", body=body, idempotent=False
        )
        silence_id = data.get("silenceID") if isinstance(data, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise self._down(f"unexpected reply to POST /api/v2/silences: {str(data)[:120]}")
        return silence_id

    async def delete_silence(self, silence_id: str) -> None:
        """Expire a silence (``DELETE /api/v2/silence/{id}``)."""
        await request_json(
            self._http,
            self.access,
            "DELETE",
            f"/api/v2/silence/{quote(silence_id, safe='')}",
            rejected=frozenset({400, 404, 422}),
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    def _down(self, message: str) -> SourceUnavailable:
        return SourceUnavailable(self.name, self.url, message)
