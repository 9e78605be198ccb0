"""Errors of the metric and alert sources, each naming the source, its URL and what went wrong.

They live below every engine so that telemetry, execution (``promql`` blocks) and the drill's
simulated sources raise and catch the same classes without importing one another.

``SourceUnavailable`` means no usable answer (refused, timed out, 5xx, garbage): the source
counts as down. ``RequestRejected`` means the source answered and refused this one request (a
bad PromQL query, an invalid silence): the source is up, the request is wrong.
``SourceConfigError`` means the configured credentials or TLS files cannot be used.
"""

from __future__ import annotations

from console.errors import ConsoleError


class TelemetryError(ConsoleError):
    """A telemetry request failed; the message is fit to show on screen as is."""

    def __init__(self, source: str, url: str, message: str) -> None:
        self.source = source
        self.url = url
        self.message = message
        super().__init__(f"{source} {url}: {message}")


class SourceUnavailable(TelemetryError):
    """The source gave no usable answer."""


class SourceTimedOut(SourceUnavailable):
    """The source did not answer within its timeout (a request may still be in flight)."""


class RequestRejected(TelemetryError):
    """The source answered but refused the request."""


class SourceConfigError(TelemetryError):
    """The source's auth or TLS settings cannot be used (missing variable, unreadable file)."""
