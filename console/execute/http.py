"""``http`` blocks: one request from the console with httpx.

The block's text is ``METHOD URL``, then optional ``Header: value`` lines, then a blank line
and an optional body; its format half (``console.runbook.blocklangs.http``) parses it into the
``HttpRequest`` sent here when the run is planned. A request that never reached the server
(refused, no connection, a URL that cannot be used, such as a port out of range) is an
``error``; one that timed out or broke after it was sent is ``indeterminate``.
``user:password@`` in the URL is sent as basic auth and never shown: the node is the URL's
``host:port`` and messages show the URL without it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from console.config import display_url, url_problem
from console.execute.languages import OutputSink, Produced, RunContext
from console.execute.target import ConnectionLost, TargetError
from console.runbook.blocklangs.http import HttpRequest
from console.runbook.expect import Observation
from console.runbook.model import Block


class RequestTimedOut(Exception):
    """The server did not answer in time; a sent request may have taken effect."""


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

    def node(self, block: Block, plan: HttpRequest) -> str:
        """The URL's host and port."""
        return plan.node

    async def run(
        self,
        block: Block,
        request: HttpRequest,
        timeout: float,
        context: RunContext,
        output: OutputSink,
    ) -> list[Produced]:
        """Send it, streaming the response body as stdout."""

        async def take(data: bytes) -> None:
            await output("stdout", data)

        try:
            code, phrase = await send(request, timeout, take)
        except RequestTimedOut as exc:
            return [Produced(request.node, "timeout", str(exc))]
        observation = Observation(request.node, "http", status=code)
        return [Produced(request.node, observation=observation, note=f"HTTP {code} {phrase}")]


HTTP_RUN = HttpRun()
