"""``http`` blocks: one request from the console with httpx.

The block's text is ``METHOD URL``, then optional ``Header: value`` lines, then a blank line
and an optional body. Checks may only ``GET`` or ``HEAD``; actions may also ``POST``, ``PUT``,
``PATCH`` and ``DELETE``. A request that never reached the server (refused, no connection, a
URL that cannot be used, such as a port out of range) is an ``error``; one that timed out or
broke after it was sent is ``indeterminate``. ``user:password@`` in the URL is sent as basic
auth and never shown: the node is the URL's ``host:port`` and messages show the URL without it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from console.config import display_url, url_problem
from console.execute.languages import OutputSink, Produced, RunContext
from console.execute.target import ConnectionLost, TargetError
from console.runbook.blocklangs.http import ACTION_METHODS, CHECK_METHODS
from console.runbook.expect import Observation
from console.runbook.model import Block


class RequestTimedOut(Exception):
    """The server did not answer in time; a sent request may have taken effect."""


@dataclass(frozen=True)
class HttpRequest:
    """A parsed ``http`` block."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None

    @property
    def node(self) -> str:
        """What the verdict table calls this request: the URL's host and port (no userinfo)."""
        netloc = urlsplit(self.url).netloc.rpartition("@")[2]
        return netloc or display_url(self.url)


def parse_request(text: str, *, action: bool) -> HttpRequest:
    """Parse a rendered ``http`` block; raise ``ValueError`` saying what is wrong."""
    lines = text.strip("\n").split("\n")
    words = lines[0].split()
    allowed = ACTION_METHODS if action else CHECK_METHODS
    if len(words) != 2 or words[0].upper() not in allowed:
        raise ValueError(
            f"the first line must be 'METHOD URL' with METHOD one of {', '.join(allowed)}"
        )
    method, url = words[0].upper(), words[1]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{display_url(url)!r} is not an http:// or https:// URL")
    headers: list[tuple[str, str]] = []
    index = 1
    while index < len(lines) and lines[index].strip():
        name, sep, value = lines[index].partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise ValueError(f"line {index + 1}: expected 'Header: value', got {lines[index]!r}")
        headers.append((name.strip(), value.strip()))
        index += 1
    rest = "\n".join(lines[index + 1 :]) if index < len(lines) else ""
    body = rest.encode() if rest.strip() else None
    if body is not None and method in ("GET", "HEAD"):
        raise ValueError(f"a {method} request has no body")
    return HttpRequest(method, url, tuple(headers), body)


async def send(
    request: HttpRequest, timeout: float, on_chunk: Callable[[bytes], Awaitable[None]]
) -> tuple[int, str]:
    """Send ``request``, hand the body to ``on_chunk`` as it arrives; return the status.

    Raises ``TargetError`` when the request could not be sent, ``RequestTimedOut`` or
    ``ConnectionLost`` when it may have been.
    """
    import httpx

    problem = url_problem(request.url)
    if problem:
        raise TargetError("config", f"bad URL: {problem}")
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream(
                request.method, request.url, headers=list(request.headers), content=request.body
            ) as response,
        ):
            async for data in response.aiter_bytes():
                await on_chunk(data)
            return response.status_code, response.reason_phrase
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise TargetError("unreachable", f"cannot reach {request.node}: {exc}") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
        raise TargetError("config", f"bad request to {display_url(request.url)}: {exc}") from None
    except httpx.TimeoutException:
        raise RequestTimedOut(f"{request.node} did not answer within {timeout:g}s") from None
    except httpx.TransportError as exc:
        raise ConnectionLost(f"the connection to {request.node} broke: {exc}") from None


class HttpRun:
    """The execute half of ``http``: send the request; the response is judged as one node."""

    name = "http"

    def timeout(self, block: Block, context: RunContext) -> float:
        """The block's timeout, else the execution default."""
        return block.options.timeout or context.config.execution.timeout

    def problem(self, block: Block, rendered: str) -> str | None:
        """Why the rendered request cannot be sent (a bad method, URL or header)."""
        try:
            parse_request(rendered, action=block.is_action)
        except ValueError as exc:
            return str(exc)
        return None

    def node(self, block: Block, rendered: str) -> str:
        """The URL's host and port."""
        return parse_request(rendered, action=block.is_action).node

    async def run(
        self, block: Block, rendered: str, timeout: float, context: RunContext, output: OutputSink
    ) -> list[Produced]:
        """Send it, streaming the response body as stdout."""
        request = parse_request(rendered, action=block.is_action)

        async def take(data: bytes) -> None:
            await output("stdout", data)

        try:
            code, phrase = await send(request, timeout, take)
        except RequestTimedOut as exc:
            return [Produced(request.node, "timeout", str(exc))]
        observation = Observation(request.node, "http", status=code)
        return [Produced(request.node, observation=observation, note=f"HTTP {code} {phrase}")]


HTTP_RUN = HttpRun()
