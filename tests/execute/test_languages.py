"""A block language registered from this file alone runs end to end: parse, lint, session,
runner and journal look it up instead of branching on ``sh``/``promql``/``http``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.config import Config
from console.execute.languages import (
    OutputSink,
    Produced,
    RunContext,
    register_language,
    unregister_language,
)
from console.execute.session import RunbookSession
from console.journal.log import JournalLog
from console.journal.sink import MemorySink
from console.journal.verify import verify_path
from console.runbook.blocklangs.http import HttpRequest
from console.runbook.expect import Observation
from console.runbook.languages import BodyProblem
from console.runbook.lint import lint
from console.runbook.model import Block, Expect
from console.runbook.parse import parse_runbook
from console.runbook.render import VarError
from console.runbook.template import render


@dataclass(frozen=True)
class UpperPlan:
    """The typed plan of an ``upper`` block: the one line to shout."""

    line: str

    @property
    def command_text(self) -> str:
        return self.line


@dataclass(frozen=True)
class UpperFormat:
    """``upper``: the body upper-cased is its output; ``expect: {equals: TEXT}`` compares it."""

    name: str = "upper"
    runs_on_nodes: bool = False
    series_as_nodes: bool = False
    action_refusal: str | None = "upper only reads"
    shell_quoted: bool = False
    expect_keys: frozenset[str] = frozenset({"equals"})

    def body_problems(self, kind: str, body: str) -> list[BodyProblem]:
        return [
            BodyProblem(n, "upper takes one line", "upper")
            for n, _ in enumerate(body.split("\n"))
            if n > 0
        ]

    def render(self, block: Block, values: dict[str, str]) -> UpperPlan:
        return UpperPlan(render(block.body, values, shell=False))

    def judge(self, expect: Expect, obs: Observation) -> tuple[list[str], float | None]:
        wanted = expect.extra("equals")
        if wanted is not None and obs.stdout != wanted:
            return [f"got {obs.stdout!r}, expected {wanted!r}"], None
        return [], None

    def same_text(self, obs: Observation) -> str:
        return obs.stdout


class UpperRun:
    name = "upper"

    def timeout(self, block: Block, context: RunContext) -> float:
        return block.options.timeout or context.config.execution.timeout

    def node(self, block: Block, plan: UpperPlan) -> str:
        return "upper"

    async def run(
        self, block: Block, plan: UpperPlan, timeout: float, context: RunContext, output: OutputSink
    ) -> list[Produced]:
        await output("stdout", plan.line.upper().encode())
        return [Produced("upper", observation=Observation("upper", "upper"))]


@pytest.fixture
def upper() -> Iterator[None]:
    register_language(UpperFormat(), UpperRun())
    yield
    unregister_language("upper")


RUNBOOK = """---
id: shout
vars:
  who:
---
# Shout

## 1. Shout

```upper check
#| id: loud
#| expect: {equals: "HELLO WORLD"}
hello {{who}}
```

```upper check
#| id: wrong
#| expect: {equals: "hello"}
hello
```
"""


async def test_a_registered_language_runs_end_to_end(tmp_path: Path, upper: None) -> None:
    path = tmp_path / "shout.md"
    path.write_text(RUNBOOK)
    report = lint([path], None)
    assert report.ok, [str(p) for p in report.problems]
    (runbook,) = report.runbooks

    log = JournalLog.create(tmp_path, None, "shout test", runbook=str(path))
    session = RunbookSession(runbook, Config(), log, variables={"who": "world"})
    result = await session.run()
    await session.close()
    await log.close()

    verdicts = {r.block.id: (r.verdict, r.reason) for r in result.runs}
    assert verdicts["loud"] == ("pass", "")
    assert verdicts["wrong"] == ("fail", "upper: fail: got 'HELLO', expected 'hello'")
    (journal,) = tmp_path.glob("*.jsonl")
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    started = [e["data"] for e in events if e["type"] == "block.started"]
    assert [(s["block"], s["lang"], s["command"]) for s in started] == [
        ("loud", "upper", "hello world"),
        ("wrong", "upper", "hello"),
    ]
    outputs = [e["data"]["text"] for e in events if e["type"] == "block.output"]
    assert outputs == ["HELLO WORLD", "HELLO"]
    results = [
        (e["data"]["block"], e["data"]["verdict"]) for e in events if e["type"] == "node.result"
    ]
    assert results == [("loud", "pass"), ("wrong", "fail")]
    assert not verify_path(journal).findings


def test_its_syntax_checks_and_expect_keys_apply_to_its_blocks_only(
    tmp_path: Path, upper: None
) -> None:
    text = (
        "# T\n\n## 1. S\n\n```upper check\n#| expect: {exit: 0}\none\ntwo\n```\n\n"
        "```sh check\n#| on: local\n#| expect: {equals: x}\ntrue\n```\n\n"
        "```upper action\n#| confirm: true\nx\n```\n"
    )
    _, problems = parse_runbook(text, tmp_path / "t.md")
    found = sorted(f"{p.line}: {p.message}" for p in problems)
    assert found == [
        "13: expect.equals does not apply to sh blocks (use exit, json, same, stderr, stdout, "
        "value)",
        "17: a upper block cannot be an action: upper only reads",
        "6: expect.exit does not apply to upper blocks (use equals, same)",
        "8: upper takes one line",
    ]


def test_without_registration_the_language_and_its_key_are_unknown(tmp_path: Path) -> None:
    text = (
        "# T\n\n## 1. S\n\n```upper check\nx\n```\n\n"
        "```sh check\n#| expect: {equals: x}\ntrue\n```\n"
    )
    _, problems = parse_runbook(text, tmp_path / "t.md")
    messages = sorted(p.message for p in problems)
    assert messages[0].startswith("unknown block language 'upper': use one of sh, bash, promql")
    assert messages[1].startswith("unknown expect key 'equals'")


def test_a_bad_http_header_is_a_plan_problem_at_its_line(tmp_path: Path) -> None:
    text = (
        "# T\n\n## 1. S\n\n```http check\n#| id: probe\n"
        "GET http://127.0.0.1:9/\nAccept: text/plain\nnot a header\n```\n"
    )
    runbook, problems = parse_runbook(text, tmp_path / "t.md")
    assert runbook is not None and not problems
    session = RunbookSession(runbook, Config(), MemorySink(), variables={})
    (block,) = runbook.blocks()
    with pytest.raises(VarError) as caught:
        session.plan(block)
    problem = caught.value.problem
    assert (problem.line, problem.code) == (9, "http")
    assert problem.message == "block probe: expected 'Header: value', got 'not a header'"


def test_an_http_block_is_planned_as_a_parsed_request(tmp_path: Path) -> None:
    text = (
        "---\nvars:\n  path:\n---\n# T\n\n## 1. S\n\n```http action\n#| id: post\n"
        'post http://127.0.0.1:9/{{path}}\nX-Why: drill\n\n{"a": 1}\n```\n'
    )
    runbook, problems = parse_runbook(text, tmp_path / "t.md")
    assert runbook is not None and not problems
    session = RunbookSession(runbook, Config(), MemorySink(), variables={"path": "a b"})
    plan = session.plan(runbook.blocks()[0])
    request = plan.plans[""]
    assert isinstance(request, HttpRequest)
    assert (request.method, request.url, request.headers, request.body) == (
        "POST",
        "http://127.0.0.1:9/a%20b",
        (("X-Why", "drill"),),
        b'{"a": 1}',
    )
    assert (
        plan.command
        == request.command_text
        == ('post http://127.0.0.1:9/a%20b\nX-Why: drill\n\n{"a": 1}')
    )
