"""Variables: substitution, shell quoting against injection, patterns, selectors, prompting."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import Config, Node
from console.execute.session import RunbookSession
from console.journal.sink import MemorySink
from console.runbook.model import Runbook, VarSpec
from console.runbook.parse import parse_runbook
from console.runbook.render import VarError
from tests.execute.conftest import block_of

INJECTIONS = [
    "'; rm -rf / #",
    "$(touch {canary})",
    "`touch {canary}`",
    "a\"b'c\\d",
    "x; touch {canary}",
    "$HOME ${{PATH}} && touch {canary}",
    "line1\nline2",
]

RUNBOOK = """---
id: vars
vars:
  value: {{prompt: "Which value?"}}
  member: {{pattern: "^m[0-9]+$"}}
  zone: {{default: b}}
---
# Vars

## 1. Echo

```sh check
#| id: echo
#| on: local
printf '%s|%s|%s\\n' {{{{value}}}} "$HOME" "${{HOME}}"
```

```sh check
#| id: member-node
#| on: name={{{{member}}}}
echo {{{{node}}}} {{{{host}}}} {{{{incident}}}}
```

```sh check
#| id: by-zone
#| on: label.zone={{{{zone}}}}
echo zone
```
"""


def runbook(tmp_path: Path) -> Runbook:
    path = tmp_path / "vars.md"
    path.write_text(RUNBOOK.format())
    parsed, problems = parse_runbook(path.read_text(), path)
    assert parsed is not None, [str(p) for p in problems]
    return parsed


def config() -> Config:
    return Config(
        nodes=[
            Node(name="m1", host="10.9.0.1", labels={"zone": "a"}),
            Node(name="m2", host="10.9.0.2", labels={"zone": "b"}),
            Node(name="m3", host="10.9.0.3", labels={"zone": "b"}),
        ]
    )


@pytest.mark.parametrize("template", INJECTIONS)
async def test_injection_attempts_come_out_as_literal_text(tmp_path: Path, template: str) -> None:
    canary = tmp_path / "injected"
    value = template.format(canary=canary)
    rb = runbook(tmp_path)
    session = RunbookSession(rb, config(), MemorySink(), variables={"value": value})
    run = await session.run_block(block_of(rb, "echo"))
    assert run.verdict == "pass", run.reason
    home = str(Path.home())
    assert run.nodes[0].stdout == f"{value}|{home}|{home}\n"
    assert not canary.exists()


def test_node_builtins_are_per_node_and_the_selector_takes_the_var(tmp_path: Path) -> None:
    rb = runbook(tmp_path)
    session = RunbookSession(
        rb, config(), MemorySink(), variables={"member": "m2"}, incident="INC-1"
    )
    plan = session.plan(block_of(rb, "member-node"))
    assert [n.name for n in plan.nodes] == ["m2"]
    assert plan.selector == "name=m2"
    assert plan.commands == {"m2": "echo m2 10.9.0.2 INC-1"}
    assert plan.command == "echo {{node}} {{host}} INC-1"


def test_defaults_apply_and_node_filter_narrows(tmp_path: Path) -> None:
    rb = runbook(tmp_path)
    session = RunbookSession(rb, config(), MemorySink(), node_filter="!name=m3")
    plan = session.plan(block_of(rb, "by-zone"))
    assert [n.name for n in plan.nodes] == ["m2"]


def test_a_value_that_breaks_the_pattern_names_the_front_matter_line(tmp_path: Path) -> None:
    rb = runbook(tmp_path)
    with pytest.raises(VarError) as caught:
        RunbookSession(rb, config(), MemorySink(), variables={"member": "m1 !name=m2"})
    problem = caught.value.problem
    assert (problem.file, problem.line) == (rb.file, 5)
    assert "does not match ^m[0-9]+$" in problem.message


@pytest.mark.parametrize("value", ["a role=x", "*", "!a", "b\tc", "a,", "a,b", "b*", "{a}"])
def test_a_selector_value_cannot_rewrite_or_widen_it(tmp_path: Path, value: str) -> None:
    rb = runbook(tmp_path)
    block = block_of(rb, "by-zone")
    assert block is not None
    session = RunbookSession(rb, config(), MemorySink(), variables={"zone": value})
    with pytest.raises(VarError) as caught:
        session.plan(block)
    assert caught.value.problem.line == block.line_of("on")
    assert "cannot be used in on:" in caught.value.problem.message


def test_unknown_and_builtin_vars_are_refused(tmp_path: Path) -> None:
    rb = runbook(tmp_path)
    with pytest.raises(VarError, match="no variable 'nope' is declared"):
        RunbookSession(rb, config(), MemorySink(), variables={"nope": "1"})
    with pytest.raises(VarError, match="built in"):
        RunbookSession(rb, config(), MemorySink(), variables={"node": "m1"})


async def test_missing_vars_are_prompted_and_revalidated(tmp_path: Path) -> None:
    rb = runbook(tmp_path)
    asked: list[tuple[str, str | None]] = []
    answers = iter(["bad", "m7"])

    async def prompt(name: str, spec: VarSpec, problem: str | None) -> str | None:
        asked.append((name, problem))
        return next(answers)

    session = RunbookSession(rb, config(), MemorySink(), prompt=prompt)
    blocks = [block_of(rb, "member-node")]
    assert set(session.missing_vars(blocks)) == {"member"}
    await session.ask_vars(blocks)
    assert session.values["member"] == "m7"
    assert asked == [("member", None), ("member", "'bad' does not match ^m[0-9]+$")]


async def test_a_missing_var_without_a_prompt_points_at_its_use(tmp_path: Path) -> None:
    rb = runbook(tmp_path)
    session = RunbookSession(rb, config(), MemorySink())
    block = block_of(rb, "echo")
    with pytest.raises(VarError) as caught:
        await session.ask_vars([block])
    assert caught.value.problem.line == block.body_line
    assert "--var value=VALUE" in caught.value.problem.message


def test_the_recorded_command_keeps_node_placeholders_in_any_quoting(tmp_path: Path) -> None:
    path = tmp_path / "q.md"
    path.write_text(
        "---\nid: q\n---\n# Q\n\n## 1. Q\n\n```sh check\n#| id: q\n#| on: all\n"
        "echo {{node}} \"on {{node}}\" 'at {{host}}'\n```\n"
    )
    rb, problems = parse_runbook(path.read_text(), path)
    assert rb is not None, [str(p) for p in problems]
    plan = RunbookSession(rb, config(), MemorySink()).plan(block_of(rb, "q"))
    assert plan.command == "echo {{node}} \"on {{node}}\" 'at {{host}}'"
    assert plan.commands["m1"] == "echo m1 \"on m1\" 'at 10.9.0.1'"
