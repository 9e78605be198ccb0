"""The session: write-ahead confirmation, requires, within/every, stop rules, promql and http."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from console.config import Config, HttpSource
from console.errors import SourceError
from console.execute.session import ConfirmAnswer, ConfirmRequest, RunbookSession
from console.journal.events import (
    ActionConfirmed,
    ActionDeclined,
    BlockCancelled,
    BlockFinished,
    BlockStarted,
    NodeResult,
)
from console.journal.sink import MemorySink
from console.telemetry.prometheus import PrometheusSource
from tests.execute.conftest import block_of, fence, payloads, types, write_runbook


async def yes(request: ConfirmRequest) -> ConfirmAnswer:
    return ConfirmAnswer(True, "flag")


class Stub(BaseHTTPRequestHandler):
    """A tiny Prometheus query API and health endpoint (counts requests per path)."""

    hits: dict[str, int] = {}

    def log_message(self, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query).get("query", [""])[0]
        key = query or url.path
        Stub.hits[key] = Stub.hits.get(key, 0) + 1
        if url.path == "/api/v1/query":
            self._query(query)
        elif url.path == "/health":
            self._send(200, {"health": "true", "members": 3})
        elif url.path == "/slow":
            time.sleep(2)
            self._send(200, {})
        else:
            self._send(404, {"error": "no such path"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._send(201, {"got": body.decode(), "auth": self.headers.get("X-Token")})

    def _query(self, query: str) -> None:
        if query == "slow":
            time.sleep(2)
        if query == "broken":
            self._send(503, {"status": "error"})
            return
        series = {
            "up": [
                {"metric": {"__name__": "up", "instance": f"m{i}"}, "value": [1.0, v]}
                for i, v in ((1, "1"), (2, "1"), (3, "0"))
            ],
            "sum(up)": [{"metric": {}, "value": [1.0, "2"]}],
            "scalar(3)": [1.0, "3"],
            "empty": [],
        }
        result: Any = series.get(query, [])
        kind = "scalar" if query.startswith("scalar") else "vector"
        self._send(200, {"status": "success", "data": {"resultType": kind, "result": result}})


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def local_session(tmp_path: Path, *steps: str, **kwargs: Any) -> RunbookSession:
    runbook = write_runbook(tmp_path, *steps)
    config = kwargs.pop("config", Config())
    return RunbookSession(runbook, config, kwargs.pop("sink", MemorySink()), **kwargs)


@contextlib.asynccontextmanager
async def prometheus_of(config: Config) -> AsyncIterator[PrometheusSource]:
    """The telemetry's client of ``config.prometheus``, as the workspace hands it to a session."""
    assert config.prometheus is not None
    source = PrometheusSource(config.prometheus)
    try:
        yield source
    finally:
        await source.aclose()


async def test_action_confirmed_is_recorded_before_block_started(tmp_path: Path) -> None:
    sink = MemorySink()
    session = local_session(
        tmp_path, fence("act", "echo done", kind="action", on_="local"), sink=sink, confirm=yes
    )
    run = await session.run_block(block_of(session.runbook, "act"))
    assert run.verdict == "pass"
    assert types(sink) == [
        "action.confirmed",
        "block.started",
        "block.output",
        "node.result",
        "block.finished",
    ]
    (confirmed,) = payloads(sink, ActionConfirmed)
    assert (confirmed.how, confirmed.stage, confirmed.nodes) == ("flag", "all", ["local"])
    assert payloads(sink, BlockStarted)[0].run == confirmed.run


async def test_without_anyone_to_confirm_an_action_is_declined_and_not_run(tmp_path: Path) -> None:
    sink = MemorySink()
    flag = tmp_path / "ran"
    session = local_session(
        tmp_path, fence("act", f"touch {flag}", kind="action", on_="local"), sink=sink
    )
    run = await session.run_block(block_of(session.runbook, "act"))
    assert run.verdict == "declined"
    assert not flag.exists()
    assert types(sink) == ["action.declined"]


async def test_typed_confirmation_follows_the_block_or_the_profile_floor(tmp_path: Path) -> None:
    asked: list[bool] = []

    async def record(request: ConfirmRequest) -> ConfirmAnswer:
        asked.append(request.typed)
        return ConfirmAnswer(False)

    plain = fence("plain", "true", kind="action", on_="local")
    typed = fence("typed", "true", kind="action", on_="local", confirm="typed")
    session = local_session(tmp_path, plain + "\n" + typed, confirm=record)
    for block in session.runbook.blocks():
        await session.run_block(block)
    prod = Config(profile="prod")
    session = local_session(tmp_path, plain, confirm=record, config=prod)
    await session.run_block(session.runbook.blocks()[0])
    assert asked == [False, True, True]


async def test_requires_refuses_an_action_until_its_check_passed(tmp_path: Path) -> None:
    sink = MemorySink()
    steps = (
        fence("gate", "exit 1", on_="local"),
        fence("act", "echo acted", kind="action", on_="local", requires=["gate"]),
    )
    session = local_session(tmp_path, *steps, sink=sink, confirm=yes)
    gate, act = session.runbook.blocks()
    refused_untried = await session.run_block(act)
    assert refused_untried.verdict == "refused"
    assert "gate (not run)" in refused_untried.reason
    await session.run_block(gate)
    refused_failed = await session.run_block(act)
    assert "gate (fail)" in refused_failed.reason
    assert types(sink, block="act") == ["action.declined", "action.declined"]
    trusting = local_session(tmp_path, *steps, confirm=yes, passed_checks=["gate"])
    assert (await trusting.run_block(act)).verdict == "pass"


async def test_within_every_reruns_a_check_until_it_holds(tmp_path: Path) -> None:
    sink = MemorySink()
    counter = tmp_path / "count"
    body = (
        f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ "$n" -ge 3 ]'
    )
    session = local_session(
        tmp_path, fence("converge", body, on_="local", within="5s", every="0.2s"), sink=sink
    )
    began = time.monotonic()
    run = await session.run_block(block_of(session.runbook, "converge"))
    assert run.verdict == "pass"
    assert run.attempt == 3
    assert 0.4 <= time.monotonic() - began < 2
    attempts = [e.attempt for e in payloads(sink, BlockStarted)]
    assert attempts == [1, 2, 3]
    assert [e.verdict for e in payloads(sink, BlockFinished)] == ["fail", "fail", "pass"]


async def test_within_gives_up_when_time_runs_out(tmp_path: Path) -> None:
    session = local_session(
        tmp_path, fence("never", "exit 1", on_="local", within="0.5s", every="0.2s")
    )
    began = time.monotonic()
    run = await session.run_block(block_of(session.runbook, "never"))
    assert run.verdict == "fail"
    assert run.attempt == 3
    assert time.monotonic() - began < 1


async def test_an_unmet_requirement_refuses_before_any_variable_is_asked(tmp_path: Path) -> None:
    asked: list[str] = []

    async def prompt(name: str, *_: Any) -> str | None:
        asked.append(name)
        return "m2"

    sink = MemorySink()
    steps = (
        fence("gate", "true", on_="local"),
        fence("act", "echo {{member}}", kind="action", on_="local", requires=["gate"]),
    )
    runbook = write_runbook(tmp_path, *steps, front="vars:\n  member: {}\n")
    session = RunbookSession(runbook, Config(), sink, confirm=yes, prompt=prompt)
    gate, act = session.runbook.blocks()
    assert await session.refuse_unmet(gate) is None  # a check is never refused
    refused = await session.refuse_unmet(act)
    assert refused is not None and refused.verdict == "refused"
    assert session.unmet_requires(act) == ["gate"]
    run = await session.run_block(act)
    assert run.verdict == "refused" and asked == []
    declined = payloads(sink, ActionDeclined)
    assert len(declined) == 2 and "gate (not run)" in declined[-1].reason
    assert declined[-1].nodes == []  # unknown until {{member}} is given, which was not asked
    session.set_var("member", "m2")
    assert (await session.run_block(act)).not_run == ["local"]  # known now: named
    await session.run_block(gate)
    assert session.unmet_requires(act) == [] and await session.refuse_unmet(act) is None


async def test_cancelling_between_attempts_ends_the_loop_and_is_logged(tmp_path: Path) -> None:
    sink = MemorySink()
    session = local_session(
        tmp_path, fence("never", "exit 1", on_="local", within="30s", every="10s"), sink=sink
    )
    task = asyncio.create_task(session.run_block(block_of(session.runbook, "never")))
    deadline = time.monotonic() + 5
    while "never" not in session.retrying:
        assert time.monotonic() < deadline, types(sink)
        await asyncio.sleep(0.02)
    waiting = session.retrying["never"]
    assert waiting.attempt == 1 and waiting.nodes == ["local"]
    assert 9 < waiting.next_at - time.time() <= 10
    assert 29 < waiting.gives_up_at - time.time() <= 30
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert session.retrying == {}
    assert types(sink) == ["block.started", "node.result", "block.finished", "block.cancelled"]
    (cancelled,) = payloads(sink, BlockCancelled)
    assert cancelled.run == payloads(sink, BlockStarted)[0].run
    assert cancelled.nodes_pending == ["local"]
    assert "between attempts: attempt 2" in cancelled.reason


def test_plan_errors_name_the_block_and_line(tmp_path: Path) -> None:
    session = local_session(
        tmp_path,
        fence("nowhere", "true"),
    )
    (nowhere,) = session.runbook.blocks()
    with pytest.raises(SourceError) as caught:
        session.plan(nowhere)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == (nowhere.file, nowhere.line)
    assert "block nowhere has no node selector" in problem.message


async def test_the_run_stops_after_an_action_that_did_not_pass(tmp_path: Path) -> None:
    sink = MemorySink()
    session = local_session(
        tmp_path,
        fence("breaks", "exit 2", kind="action", on_="local")
        + "\n"
        + fence("same-step", "true", on_="local"),
        fence("later", "true", on_="local"),
        sink=sink,
        confirm=yes,
    )
    result = await session.run()
    assert not result.passed
    assert result.stopped == "action breaks did not pass (fail)"
    first, second = result.steps
    assert [b.id for b, _ in first.not_run] == ["same-step"]
    assert [b.id for b, _ in second.not_run] == ["later"]
    assert types(sink)[-1] == "step.skipped"


async def test_promql_judges_each_series_and_same(tmp_path: Path, stub: str) -> None:
    config = Config(prometheus=HttpSource(url=stub, timeout=1.0))
    steps = (
        fence("sum", "sum(up)", lang="promql", expect={"value": ">= 2"})
        + fence("scalar", "scalar(3)", lang="promql", expect={"value": "== 3"})
        + fence("each", "up", lang="promql", expect={"value": "== 1"})
        + fence("agree", "up", lang="promql", expect={"same": True})
        + fence("none", "empty", lang="promql")
    )
    sink = MemorySink()
    async with prometheus_of(config) as source:
        session = local_session(tmp_path, steps, config=config, sink=sink, promql=source)
        runs = {r.block.id: r for r in (await session.run()).runs}
    assert runs["sum"].verdict == "pass" and runs["sum"].nodes[0].value == 2
    assert runs["sum"].nodes[0].node == "prometheus"
    assert runs["scalar"].verdict == "pass"
    each = runs["each"]
    assert [(n.node, n.verdict) for n in each.nodes] == [
        ('up{instance="m1"}', "pass"),
        ('up{instance="m2"}', "pass"),
        ('up{instance="m3"}', "fail"),
    ]
    assert each.nodes[2].reason == "value 0 does not hold '== 1'"
    assert [n.verdict for n in runs["agree"].nodes] == ["pass", "pass", "fail"]
    assert runs["none"].nodes[0].reason == "the query returned no samples"
    values = [e.value for e in payloads(sink, NodeResult)][:2]
    assert values == [2.0, 3.0]


async def test_promql_times_out_and_retries_at_most_once(tmp_path: Path, stub: str) -> None:
    config = Config(prometheus=HttpSource(url=stub, timeout=0.5))
    steps = fence("slow", "slow", lang="promql") + fence("broken", "broken", lang="promql")
    async with prometheus_of(config) as source:
        session = local_session(tmp_path, steps, config=config, promql=source)
        Stub.hits.clear()
        began = time.monotonic()
        slow, broken = (await session.run()).runs
    assert slow.nodes[0].verdict == "indeterminate"
    assert "no answer within 0.5s" in slow.nodes[0].reason
    assert broken.nodes[0].verdict == "error"
    assert "HTTP 503" in broken.nodes[0].reason
    assert Stub.hits["broken"] == 1  # a 5xx is an answer: not retried (a dropped link is)
    assert time.monotonic() - began < 4


async def test_http_checks_and_actions(tmp_path: Path, stub: str) -> None:
    health = f"GET {stub}/health\nAccept: application/json"
    post = f"POST {stub}/echo\nX-Token: {{{{token}}}}\n\nhello {{{{token}}}}"
    steps = (
        fence(
            "health",
            health,
            lang="http",
            expect={"status": 200, "json": {"path": ".members", "value": ">= 3"}},
        )
        + fence("missing", f"GET {stub}/nope", lang="http")
        + fence("slow", f"GET {stub}/slow", lang="http", timeout="0.5s")
        + fence("refused", "GET http://127.0.0.1:9/x", lang="http")
        + fence("post", post, lang="http", kind="action", expect={"status": 201, "body": "hello"})
    )
    runbook = write_runbook(tmp_path, steps, front="vars:\n  token: {}\n")
    session = RunbookSession(
        runbook, Config(), MemorySink(), confirm=yes, variables={"token": "t k"}
    )
    runs = {b.id: await session.run_block(b) for b in runbook.blocks()}
    host = stub.removeprefix("http://")
    assert runs["health"].verdict == "pass"
    assert runs["health"].nodes[0].node == host
    assert runs["health"].nodes[0].reason == "HTTP 200 OK"
    assert (
        runs["missing"].nodes[0].reason
        == "HTTP 404 Not Found; HTTP 404, expected a status below 400"
    )
    assert runs["slow"].nodes[0].verdict == "indeterminate"
    assert runs["refused"].nodes[0].verdict == "error"
    post_node = runs["post"].nodes[0]
    assert runs["post"].verdict == "pass", post_node.reason
    assert json.loads(post_node.stdout) == {"got": "hello t k", "auth": "t k"}


def test_http_values_cannot_add_header_lines(tmp_path: Path, stub: str) -> None:
    block = fence("h", f"GET {stub}/health\nX-Token: {{{{token}}}}", lang="http")
    runbook = write_runbook(tmp_path, block, front="vars:\n  token: {}\n")
    session = RunbookSession(runbook, Config(), MemorySink(), variables={"token": "a\nEvil: 1"})
    with pytest.raises(Exception, match="line break"):
        session.plan(runbook.blocks()[0])


@dataclass(frozen=True)
class FakeSeries:
    labels: dict[str, str]
    value: float


class FakePromQL:
    """A PromQL source like the drill's simulated Prometheus."""

    async def query(self, promql: str) -> list[FakeSeries]:
        if promql == "down":
            raise RuntimeError("prometheus drill://simulator: series engine stopped")
        if promql == "hang":
            await asyncio.sleep(60)
        return [FakeSeries({"instance": "m1"}, 4.0)]


async def test_an_injected_promql_source_answers_instead_of_the_config(tmp_path: Path) -> None:
    steps = (
        fence("ok", "anything", lang="promql", expect={"value": "== 4"})
        + fence("down", "down", lang="promql")
        + fence("hang", "hang", lang="promql", timeout="0.2s")
    )
    session = local_session(tmp_path, steps, promql=FakePromQL())
    ok, down, hang = (await session.run()).runs
    assert (ok.verdict, ok.nodes[0].node) == ("pass", '{instance="m1"}')
    assert down.nodes[0].verdict == "error"
    assert down.nodes[0].reason == "prometheus drill://simulator: series engine stopped"
    assert hang.nodes[0].verdict == "indeterminate"


async def test_a_session_given_no_source_builds_no_client(tmp_path: Path, stub: str) -> None:
    """Execution never builds a Prometheus client: without a source the block is an error."""
    config = Config(prometheus=HttpSource(url=stub.replace("//", "//u:secret@"), timeout=1.0))
    steps = fence("sum", "sum(up)", lang="promql", expect={"value": ">= 2"})
    Stub.hits.clear()
    session = local_session(tmp_path, steps, config=config)
    (run,) = (await session.run()).runs
    await session.close()
    assert run.nodes[0].verdict == "error"
    assert "no client" in run.nodes[0].reason and "secret" not in run.nodes[0].reason
    assert Stub.hits == {}
