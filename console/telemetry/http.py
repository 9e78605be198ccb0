"""Reaching an HTTP source: credentials, TLS, and JSON requests with one bounded retry.

Secrets are read once, from the ``*_env`` variable or ``*_file`` the config names, and are
never put in a message or a ``repr``. Every request is bounded by the source's timeout as a
whole (connect, send, read and the one retry together), so a slow or silent server costs at
most that long. The retry happens only when the connection failed before the request could
have reached the server, so a silence is never created twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from console.config import MAX_SECRET_BYTES, HttpSource, url_credentials, url_problem
from console.durations import format_duration
from console.errors import ProblemList
from console.source_errors import RequestRejected, SourceConfigError, SourceUnavailable
from console.yamlsrc import read_source_bytes

_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")
_SSL = re.compile(r"\[SSL: [A-Z0-9_]+\] ([^'\"(|]+)")


def _secret(source: str, url: str, what: str, env: str | None, file: Path | None) -> str | None:
    """The secret named by ``env`` or ``file`` (stripped), or ``None`` when neither is set."""
    if env and file:
        raise SourceConfigError(source, url, f"set {what}_env or {what}_file, not both")
    if env:
        value = os.environ.get(env)
        if not value:
            raise SourceConfigError(
                source, url, f"{what}_env names ${env}, which is not set in the environment"
            )
        return value.strip()
    if file:
        path = Path(os.path.expanduser(str(file)))
        problems = ProblemList()
        raw = read_source_bytes(path, f"{what}_file", problems, limit=MAX_SECRET_BYTES)
        if raw is None:
            reason = problems.items[0].message if problems.items else "cannot read it"
            raise SourceConfigError(source, url, f"{path}: {reason}")
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SourceConfigError(
                source, url, f"cannot read {what}_file {path}: it is not UTF-8 text"
            ) from None
        if not value:
            raise SourceConfigError(source, url, f"{what}_file {path} is empty")
        return value
    return None


@dataclass(frozen=True, repr=False)
class Access:
    """Everything needed to talk to one source; its ``repr`` never shows a secret."""

    source: str
    url: str
    timeout: float
    headers: dict[str, str]
    basic: tuple[str, str] | None
    verify: ssl.SSLContext | bool
    ca_file: str | None
    cert: tuple[str, str] | str | None

    def __repr__(self) -> str:
        return f"Access({self.source} {self.url})"

    @classmethod
    def from_settings(cls, source: str, settings: HttpSource) -> Access:
        """Read the credentials and TLS files named by ``settings``; raise ``SourceConfigError``.

        ``user:password@`` in the URL becomes basic auth and is removed from the URL, so the
        URL the client uses (and every message shows) carries no secret.
        """
        url, url_auth = url_credentials(settings.url)
        problem = url_problem(url)
        if problem:
            raise SourceConfigError(source, url, problem)
        headers = dict(settings.headers)
        token = _secret(
            source, url, "bearer_token", settings.bearer_token_env, settings.bearer_token_file
        )
        if token:
            headers["Authorization"] = f"Bearer {token}"
        basic = None
        if settings.basic_auth is not None:
            auth = settings.basic_auth
            password = _secret(
                source, url, "basic_auth.password", auth.password_env, auth.password_file
            )
            basic = (auth.username, password or "")
        elif url_auth is not None:
            basic = url_auth
        tls = settings.tls
        ca_file = str(tls.ca_file) if tls.ca_file else None
        cert: tuple[str, str] | str | None = None
        if tls.cert_file and tls.key_file:
            cert = (str(tls.cert_file), str(tls.key_file))
        elif tls.cert_file:
            cert = str(tls.cert_file)
        elif tls.key_file:
            raise SourceConfigError(source, url, "tls.key_file is set without tls.cert_file")
        verify: ssl.SSLContext | bool = tls.verify
        if url.startswith("https://"):
            verify = _ssl_context(source, url, ca_file, cert, tls.verify)
        return cls(source, url, settings.timeout, headers, basic, verify, ca_file, cert)

    def async_client(self) -> httpx.AsyncClient:
        """An httpx client with these credentials, TLS settings and timeout."""
        return httpx.AsyncClient(
            headers=self.headers,
            auth=httpx.BasicAuth(*self.basic) if self.basic else None,
            verify=self.verify,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
        )


def _ssl_context(
    source: str, url: str, ca_file: str | None, cert: tuple[str, str] | str | None, verify: bool
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if isinstance(cert, tuple):
            context.load_cert_chain(cert[0], cert[1])
        elif cert:
            context.load_cert_chain(cert)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SourceConfigError(source, url, f"cannot load the TLS files: {reason}") from None
    return context


def seconds(value: float) -> str:
    """A timeout for a message: ``2s``, ``0.5s``."""
    return format_duration(value)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (httpx and httpcore wrap the socket error deeply)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in out):
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def describe_transport_error(exc: BaseException) -> str:
    """A short, readable reason for a failed httpx connection."""
    chain = _chain(exc)
    text = " | ".join(str(e) for e in chain)
    tls = _SSL.search(text)
    if tls:
        return f"TLS error: {tls.group(1)}".rstrip()
    for error in chain:  # asyncio's reads "Connect call failed (address)": use the errno's
        if isinstance(error, OSError) and error.errno is not None and error.strerror:
            reason = os.strerror(error.errno) if error.errno > 0 else error.strerror
            return f"cannot connect: [Errno {error.errno}] {reason}"
    found = _ERRNO.search(text)
    if found:
        return f"cannot connect: {found.group(0).strip()}"
    if any(isinstance(e, httpx.RemoteProtocolError) for e in chain):
        return "the server closed the connection without a valid HTTP reply"
    name = type(exc).__name__
    first = str(exc)
    return f"{name}: {first[:200]}" if first else name


def body_snippet(body: bytes | str, limit: int = 200) -> str:
    """The error message inside a reply body (JSON ``error``/``message``), else its start."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "msg"):
            if isinstance(data.get(key), str):
                text = data[key]
                break
    elif isinstance(data, str):
        text = data
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def request_json(
    client: httpx.AsyncClient,
    access: Access,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    body: Any = None,
    idempotent: bool = True,
    rejected: frozenset[int] = frozenset({400, 422}),
) -> Any:
    """Send one request and return the decoded JSON reply (``None`` for an empty body).

    Raises ``SourceUnavailable`` (no usable answer) or ``RequestRejected`` (a status in
    ``rejected``: the server refused this request).
    """
    what = f"{method} {path}"
    try:
        async with asyncio.timeout(access.timeout):
            response = await _send(client, access, method, path, params, body, idempotent)
    except TimeoutError:
        raise SourceUnavailable(
            access.source, access.url, f"no answer within {seconds(access.timeout)} ({what})"
        ) from None
    except httpx.HTTPError as exc:
        raise SourceUnavailable(
            access.source, access.url, f"{describe_transport_error(exc)} ({what})"
        ) from None
    status = response.status_code
    content = response.content
    if status in rejected:
        raise RequestRejected(
            access.source, access.url, f"{what} refused (HTTP {status}): {body_snippet(content)}"
        )
    if status in (401, 403):
        raise SourceUnavailable(
            access.source,
            access.url,
            f"HTTP {status} for {what}: not authorized; check the source's bearer_token_* "
            "or basic_auth settings",
        )
    if not 200 <= status < 300:
        snippet = body_snippet(content)
        raise SourceUnavailable(
            access.source,
            access.url,
            f"HTTP {status} for {what}" + (f": {snippet}" if snippet else ""),
        )
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except ValueError:
        raise SourceUnavailable(
            access.source,
            access.url,
            f"the reply to {what} is not JSON (starts {body_snippet(content, 60)!r})",
        ) from None


async def _send(
    client: httpx.AsyncClient,
    access: Access,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: Any,
    idempotent: bool,
) -> httpx.Response:
    """Send, retrying once when the connection failed before the request could be sent (or,
    for idempotent requests, when a kept-alive connection was closed under us)."""
    retry_on = retryable_errors(idempotent)
    url = access.url + path
    try:
        return await client.request(method, url, params=params, json=body)
    except retry_on:
        return await client.request(method, url, params=params, json=body)


def retryable_errors(idempotent: bool) -> tuple[type[Exception], ...]:
    """The httpx errors after which a request may be sent once more: a failed connect (the
    request never left), and for idempotent requests a kept-alive connection closed under us."""
    if idempotent:
        return (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)
    return (httpx.ConnectError,)
