"""``http`` blocks: ``METHOD URL``, optional ``Header: value`` lines, a blank line and a body.

Run once, from the console. A check may only ``GET`` or ``HEAD``. In the URL line values are
percent-encoded (so they cannot change the host or port or add path segments or query
parameters), and no value may hold a line break there or in a header. The rendered text is
parsed into an ``HttpRequest`` when the run is planned, so a bad request line or header is a
problem at its file:line before anything is recorded. Without ``expect`` the status must be
below 400; ``status``, ``body`` and ``json`` (the body as JSON) test it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from console.config import display_url, url_problem
from console.errors import Problem
from console.runbook.expect import Observation, json_problems, status_problems, text_problems
from console.runbook.languages import BodyProblem, PlanProblem
from console.runbook.model import Block, Expect
from console.runbook.template import render, variables_in

CHECK_METHODS = ("GET", "HEAD")
ACTION_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class HttpRequest:
    """A rendered ``http`` block, parsed: what is sent, and the text it was parsed from."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    text: str

    @property
    def command_text(self) -> str:
        """The rendered block as written, from which it was parsed."""
        return self.text

    @property
    def node(self) -> str:
        """What the verdict table calls this request: the URL's host and port (no userinfo)."""
        netloc = urlsplit(self.url).netloc.rpartition("@")[2]
        return netloc or display_url(self.url)


def parse_request(text: str, *, action: bool) -> HttpRequest:
    """Parse a rendered ``http`` block; raise ``PlanProblem`` saying what is wrong and where."""
    lead = len(text) - len(text.lstrip("\n"))
    lines = text.strip("\n").split("\n")
    words = lines[0].split()
    allowed = ACTION_METHODS if action else CHECK_METHODS
    if len(words) != 2 or words[0].upper() not in allowed:
        raise PlanProblem(
            lead, f"the first line must be 'METHOD URL' with METHOD one of {', '.join(allowed)}"
        )
    method, url = words[0].upper(), words[1]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PlanProblem(lead, f"{display_url(url)!r} is not an http:// or https:// URL")
    headers: list[tuple[str, str]] = []
    index = 1
    while index < len(lines) and lines[index].strip():
        name, sep, value = lines[index].partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise PlanProblem(lead + index, f"expected 'Header: value', got {lines[index]!r}")
        headers.append((name.strip(), value.strip()))
        index += 1
    rest = "\n".join(lines[index + 1 :]) if index < len(lines) else ""
    body = rest.encode() if rest.strip() else None
    if body is not None and method in ("GET", "HEAD"):
        raise PlanProblem(lead + index + 1, f"a {method} request has no body")
    return HttpRequest(method, url, tuple(headers), body, text)


@dataclass(frozen=True)
class HttpFormat:
    """The ``http`` language."""

    name: str = "http"
    runs_on_nodes: bool = False
    series_as_nodes: bool = False
    action_refusal: str | None = None
    shell_quoted: bool = False
    expect_keys: frozenset[str] = frozenset({"status", "body", "json"})

    def body_problems(self, kind: str, body: str) -> list[BodyProblem]:
        """The first line must be ``METHOD URL`` with a method the kind allows."""
        first = body.strip().split("\n", 1)[0].split()
        methods = CHECK_METHODS if kind == "check" else ACTION_METHODS
        if (
            len(first) != 2
            or first[0].upper() not in methods
            or not re.match(r"^(https?://|\{\{)", first[1])
        ):
            message = f"an http {kind} starts with 'METHOD URL' ({', '.join(methods)})"
            return [BodyProblem(0, message, "http")]
        if "{{" not in first[1] and (problem := url_problem(first[1])):
            return [BodyProblem(0, problem, "http")]
        return []

    def render(self, block: Block, values: dict[str, str]) -> HttpRequest:
        """Percent-encode values in the URL; refuse line breaks in the URL and headers; parse."""
        from console.runbook.render import VarError

        out: list[str] = []
        in_headers = True
        for index, line in enumerate(block.body.split("\n")):
            if index == 0:
                # every reserved character encoded: a value cannot add a port, userinfo or path
                encoded = {k: quote(v, safe="") for k, v in values.items()}
                out.append(render(line, encoded, shell=False))
                continue
            if in_headers and not line.strip():
                in_headers = False
            if in_headers:
                for use in variables_in(line):
                    value = values.get(use.name)
                    if value is not None and ("\n" in value or "\r" in value):
                        raise VarError(
                            Problem(
                                block.file,
                                block.body_line + index,
                                f"block {block.id}: {{{{{use.name}}}}} holds a line break, "
                                "which is not allowed in an HTTP header",
                                code="var",
                            )
                        )
            out.append(render(line, values, shell=False))
        return parse_request("\n".join(out), action=block.is_action)

    def judge(self, expect: Expect, obs: Observation) -> tuple[list[str], float | None]:
        """Status, body texts and the body as JSON."""
        reasons = status_problems(expect.status, obs.status)
        reasons += text_problems("body", expect.body, obs.stdout, obs.truncated)
        reasons += json_problems(expect.json_, obs.stdout, "body", obs.truncated)
        return reasons, obs.value

    def same_text(self, obs: Observation) -> str:
        """The response body."""
        return obs.stdout


HTTP = HttpFormat()
