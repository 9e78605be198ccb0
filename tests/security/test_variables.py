"""Hostile variable values: shell quoting by context, refused places, selectors, patterns."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from console.cli import cli
from console.config import Config, Node
from console.execute.session import RunbookSession
from console.journal.sink import MemorySink
from console.runbook.model import VarSpec
from console.runbook.parse import parse_runbook
from console.runbook.render import VarError
from console.runbook.template import (
    REFUSED,
    MissingVariable,
    UnsafeVariable,
    render,
    render_promql,
    shell_sites,
    variables_in,
)
from console.selector import Term
from tests.execute.conftest import block_of

SHELL_CHARS = [*"'\"$`\\;&|()<>{}[]*?!#~=%^\n\t -_az09", "$(", "${", "'\\''", "\r", "é", "☃"]
VALUES = st.lists(
    st.one_of(
        st.sampled_from(SHELL_CHARS),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=40,
).map("".join)
PRINT_ALL = "printf '%s\\n' {{v}}\nprintf '%s\\n' \"..{{v}}..\"\nprintf '%s\\n' '..{{v}}..'\n"


def run_in(shell: str, script: str, cwd: str) -> bytes:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [shell, "-c", script], cwd=cwd, env=env, capture_output=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("shell", ["dash", "bash"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_every_quoting_context_prints_the_value_exactly(shell: str, value: str) -> None:
    script = render(PRINT_ALL, {"v": value}, shell=True)
    with tempfile.TemporaryDirectory() as cwd:
        out = run_in(shell, script, cwd)
        assert os.listdir(cwd) == []
    assert out.decode() == f"{value}\n..{value}..\n..{value}..\n"


# -- the two injections of the issue, end to end -----------------------------------------------

INJECTION_RUNBOOK = """---
id: inject
vars:
  v: {}
---
# Inject

## 1. Echo

```sh check
#| id: dq
#| on: local
echo "dq:{{v}}"
```

```sh check
#| id: sq
#| on: local
echo 'sq:{{v}}'
```
"""


@pytest.mark.parametrize(
    ("block_id", "template"),
    [("dq", "$(touch {canary})"), ("sq", "'; touch {canary} #")],
)
async def test_the_issue_injections_arrive_as_text(
    tmp_path: Path, block_id: str, template: str
) -> None:
    canary = tmp_path / "injected"
    value = template.format(canary=canary)
    path = tmp_path / "inject.md"
    path.write_text(INJECTION_RUNBOOK)
    runbook, problems = parse_runbook(path.read_text(), path)
    assert runbook is not None, [str(p) for p in problems]
    session = RunbookSession(runbook, Config(), MemorySink(), variables={"v": value})
    run = await session.run_block(block_of(runbook, block_id))
    assert run.verdict == "pass", run.reason
    assert run.nodes[0].stdout == f"{block_id}:{value}\n"
    assert not canary.exists()


# -- refused places: parse, lint and render all say so ------------------------------------------

REFUSED_CASES = [
    ("comment", "echo hi # {{v}}", "echo hi"),
    ("heredoc", "cat <<EOF\n{{v}}\nEOF", "{{v}}"),
    ("heredoc-word", "cat <<{{v}}\nx\n", "cat <<"),
    ("backticks", "echo `echo {{v}}`", "echo `"),
    ("brace", "echo ${x:-{{v}}}", "echo ${x"),
    ("arith", "echo $((1 + {{v}}))", "echo $(("),
    ("arith", "(( n = {{v}} ))", "(( n"),
    ("arith", "echo $[{{v}} + 1]", "echo $["),
    ("test-arith", '[[ "$n" -gt "{{v}}" ]] && echo big', "[[ "),
    ("ansi", "echo $'{{v}}'", "echo $'"),
    ("dollar", "echo ${{v}}", "echo $"),
    ("backslash", 'echo "\\{{v}}"', "echo"),
    ("fd", "echo hi >& {{v}}", ">&"),
]


def refusing_runbook(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rb.md"
    text = "---\nid: rb\nvars:\n  v: {}\n---\n# Rb\n\n## 1. Step\n\n```sh check\n#| id: b\n"
    path.write_text(text + "#| on: local\n" + body + "\n```\n")
    return path


@pytest.mark.parametrize(("context", "body", "needle"), REFUSED_CASES)
def test_lint_refuses_each_unquotable_place(
    tmp_path: Path, context: str, body: str, needle: str
) -> None:
    path = refusing_runbook(tmp_path, body)
    line = 1 + next(i for i, text in enumerate(path.read_text().split("\n")) if needle in text)
    result = CliRunner().invoke(
        cli, ["lint", str(path)], env={"INCIDENT_CONSOLE_CONFIG": ""}, catch_exceptions=False
    )
    assert result.exit_code == 1
    reason = REFUSED[context].replace("NAME", "v")
    assert f"{path}:{line}: block b: {{{{v}}}} {reason} [v]" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("context", "body", "needle"), REFUSED_CASES)
def test_render_refuses_each_unquotable_place_too(context: str, body: str, needle: str) -> None:
    with pytest.raises(UnsafeVariable) as caught:
        render(body, {"v": "x"}, shell=True)
    assert caught.value.context == context


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ('bash -c "echo {{v}}"', "bash -c"),
        ("eval echo {{v}}", "eval"),
        ("ssh m1 cat {{v}}", "ssh"),
        ("echo x | xargs rm {{v}}", "xargs"),
        ("su - postgres -c 'psql {{v}}'", "su -c"),
        ("declare -i n={{v}}", "declare -i"),
        ("unset {{v}}", "unset"),
    ],
)
def test_lint_warns_where_a_command_reparses_the_value(
    tmp_path: Path, body: str, command: str
) -> None:
    path = refusing_runbook(tmp_path, body)
    result = CliRunner().invoke(
        cli, ["lint", str(path)], env={"INCIDENT_CONSOLE_CONFIG": ""}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert (
        f"{path}:13: warning: block b: {{{{v}}}} reaches {command}, which reads its arguments"
        in (result.output)
    )


def test_no_warning_for_a_plain_argument(tmp_path: Path) -> None:
    path = refusing_runbook(tmp_path, "systemctl restart {{v}}  # sh -c would warn")
    result = CliRunner().invoke(
        cli, ["lint", str(path)], env={"INCIDENT_CONSOLE_CONFIG": ""}, catch_exceptions=False
    )
    assert result.exit_code == 0
    assert "0 warning(s)" in result.output


SYNTAX = st.lists(
    st.sampled_from(
        [
            *SHELL_CHARS,
            "{{v}}",
            "{{ w }}",
            "<<",
            "<<-",
            "EOF",
            ">&",
            "$((",
            "((",
            "))",
            "case",
            "esac",
        ]
    ),
    max_size=80,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=SYNTAX)
@example(text="`\\{{v}}")  # a backslash inside backticks once made the reader skip the variable
@example(text="$'\\{{v}}'")
def test_the_shell_reader_never_crashes_and_places_every_variable(text: str) -> None:
    sites = shell_sites(text)
    assert [s.name for s in sites] == [u.name for u in variables_in(text)]
    try:
        render(text, {"v": "$(x)", "w": "'"}, shell=True)
    except UnsafeVariable as exc:
        assert exc.context in REFUSED
    except MissingVariable:  # pragma: no cover - every name has a value
        pytest.fail("a variable with a value was reported missing")


# -- promql: a value stays one string or one token ---------------------------------------------


def read_promql_string(text: str, start: int) -> tuple[str, int]:
    """Decode the PromQL string opening at ``text[start]``; return it and where it ends."""
    quote, out, i = text[start], [], start + 1
    while text[i] != quote:
        if text[i] == "\\":
            out.append({"n": "\n", "r": "\r"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out), i


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_a_promql_string_value_stays_inside_its_string(value: str) -> None:
    for quote in "\"'":
        query = f"up{{job={quote}{{{{v}}}}{quote}}} > 0"
        rendered = render_promql(query, {"v": value})
        decoded, end = read_promql_string(rendered, len("up{job="))
        assert decoded == value
        assert rendered[end:] == f"{quote}}} > 0"


@pytest.mark.parametrize("value", ["1 or vector(1)", "x) or up", "5m]", "a\nb", ""])
def test_a_bare_promql_value_must_be_one_token(value: str) -> None:
    with pytest.raises(UnsafeVariable, match="is not one number, name or duration"):
        render_promql("rate(up[{{v}}]) > 1", {"v": value})
    assert render_promql("rate(up[{{v}}]) > 1", {"v": "5m"}) == "rate(up[5m]) > 1"


def test_a_raw_promql_string_refuses_a_backtick() -> None:
    with pytest.raises(UnsafeVariable, match="holds a backtick"):
        render_promql("up{job=`{{v}}`}", {"v": "a`} or up{x=`"})


# -- selectors: a value is one plain name -------------------------------------------------------

SELECTOR_RUNBOOK = """---
id: sel
vars:
  member: {}
---
# Sel

## 1. Restart

```sh action
#| id: restart
#| on: name={{member}}
systemctl restart etcd
```
"""


def selector_session(tmp_path: Path, value: str, nodes: int = 3) -> RunbookSession:
    path = tmp_path / "sel.md"
    path.write_text(SELECTOR_RUNBOOK)
    runbook, problems = parse_runbook(path.read_text(), path)
    assert runbook is not None, [str(p) for p in problems]
    config = Config(nodes=[Node(name=f"m{i}", host="127.0.0.1") for i in range(1, nodes + 1)])
    return RunbookSession(runbook, config, MemorySink(), variables={"member": value})


@pytest.mark.parametrize("value", ["m1,m2,m3", "m1,", "{m1}"])
def test_a_selector_variable_cannot_widen_the_selection(tmp_path: Path, value: str) -> None:
    session = selector_session(tmp_path, value)
    block = block_of(session.runbook, "restart")
    with pytest.raises(VarError) as caught:
        session.plan(block)
    problem = caught.value.problem
    assert (problem.file, problem.line) == (session.runbook.file, 12)
    assert f"{{{{member}}}} = {value!r} cannot be used in on:" in problem.message


def test_selection_evaluates_each_node_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    original = Term.matches

    def counting(self: Term, node: Node) -> bool:
        nonlocal calls
        calls += 1
        return original(self, node)

    session = selector_session(tmp_path, "m7", nodes=400)
    monkeypatch.setattr(Term, "matches", counting)
    plan = session.plan(block_of(session.runbook, "restart"))
    assert [n.name for n in plan.nodes] == ["m7"]
    assert calls <= 400  # one term, one evaluation per node: linear, not 400 x 400


# -- variable patterns match the whole value ----------------------------------------------------


@pytest.mark.parametrize("value", ["abc\n", "abc\nrm -rf /", "x abc"])
def test_a_variable_pattern_must_match_the_whole_value(value: str) -> None:
    spec = VarSpec(pattern="^[a-z]+$")
    assert spec.problem_with(value) == f"{value!r} does not match ^[a-z]+$"
    assert VarSpec(pattern="[a-z]+").problem_with(value) is not None
    assert spec.problem_with("abc") is None


def test_unanchored_patterns_are_whole_value_too() -> None:
    assert VarSpec(pattern="m[0-9]+").problem_with("m12") is None
    assert VarSpec(pattern="m[0-9]+").problem_with("xm12") is not None


def test_lint_refuses_an_unquotable_variable_in_a_catalog_body(tmp_path: Path) -> None:
    (tmp_path / "ops.yaml").write_text(
        "checks:\n  tail:\n    lang: sh\n    on: local\n    body: |\n"
        "      cat <<EOF\n      {{v}}\n      EOF\n"
    )
    book = tmp_path / "rb.md"
    book.write_text(
        "---\nid: rb\nvars:\n  v: {}\n---\n# Rb\n\n## 1. Step\n\n```sh check\n#| id: b\n"
        "#| use: ops/tail\n```\n"
    )
    result = CliRunner().invoke(
        cli, ["lint", str(tmp_path)], env={"INCIDENT_CONSOLE_CONFIG": ""}, catch_exceptions=False
    )
    reason = REFUSED["heredoc"].replace("NAME", "v")
    assert f"{book}:12: catalog check ops/tail: {{{{v}}}} {reason} [v]" in result.output
    assert result.exit_code == 1


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_a_case_pattern_does_not_end_command_substitution(tmp_path: Path, shell: str) -> None:
    body = 'echo "$(case x in x) printf %s {{v}};; esac)"'
    assert [s.context for s in shell_sites(body)] == ["bare"]
    value = "a b;touch injected"
    out = run_in(shell, render(body, {"v": value}, shell=True), str(tmp_path))
    assert out.decode() == f"{value}\n"
    assert not (tmp_path / "injected").exists()


def test_the_word_case_as_an_argument_is_not_a_case_statement() -> None:
    body = 'echo "$(echo case) {{v}}"'
    assert [s.context for s in shell_sites(body)] == ["double"]


HTTP_RUNBOOK = """---
id: web
vars:
  svc: {}
---
# Web

## 1. Probe

```http check
#| id: probe
GET http://{{svc}}/health?x=1
```
"""


@pytest.mark.parametrize("value", ["127.0.0.1:1@evil.example", "b:8080"])
def test_an_http_url_value_cannot_change_the_host_port_or_path(tmp_path: Path, value: str) -> None:
    path = tmp_path / "web.md"
    path.write_text(HTTP_RUNBOOK)
    runbook, problems = parse_runbook(path.read_text(), path)
    assert runbook is not None, [str(p) for p in problems]
    session = RunbookSession(runbook, Config(), MemorySink(), variables={"svc": value})
    url = urlsplit(session.plan(block_of(runbook, "probe")).command.split()[1])
    assert unquote(url.netloc) == value
    assert (url.path, url.query, url.fragment) == ("/health", "x=1", "")
    assert url.port is None and url.username is None
