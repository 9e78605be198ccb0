"""The runbook parser: structure, options, lines; and a fuzz test of its error contract."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.errors import SourceError
from console.runbook.model import Comparison, TextMatch
from console.runbook.parse import load_runbook, parse_runbook
from console.runbook.template import render, variables_in

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_etcd_runbook_structure() -> None:
    runbook = load_runbook(ROOT / "runbooks" / "etcd-member-down.md")
    assert runbook.id == "etcd-member-down"
    assert runbook.meta.alerts[:3] == ["etcdMembersDown", "etcdInsufficientMembers", "etcdNoLeader"]
    assert [s.title for s in runbook.steps][:3] == [
        "Confirm quorum still holds",
        "Find out why the member is down",
        "Restart the member",
    ]
    quorum = runbook.block("quorum")
    assert quorum is not None and (quorum.lang, quorum.kind) == ("promql", "check")
    assert quorum.body == "sum(etcd_server_has_leader)"  # options stripped
    assert quorum.options.expect is not None and quorum.options.expect.value == Comparison.parse(
        ">= 2"
    )
    restart = runbook.block("restart")
    assert restart is not None and restart.is_action
    assert restart.options.on == "name={{member}}"
    assert restart.options.confirm == "typed" and restart.options.requires == [
        "quorum",
        "disk-free",
    ]
    text = (ROOT / "runbooks" / "etcd-member-down.md").read_text().split("\n")
    assert text[restart.line - 1].startswith("```sh action")
    assert text[restart.line_of("requires") - 1] == "#| requires: [quorum, disk-free]"
    assert text[restart.body_line - 1] == "systemctl restart etcd"
    assert runbook.step("3") is runbook.step("restart-the-member")


def test_plain_blocks_are_documentation() -> None:
    text = "# T\n\n## 1. Look\n\n```sh\nrm -rf /\n```\n\n```python\nprint(1)\n```\n"
    runbook, problems = parse_runbook(text, "doc.md")
    assert runbook is not None and not problems
    assert runbook.blocks() == []
    assert "rm -rf /" in runbook.steps[0].markdown


def test_yaml_on_key_is_not_a_boolean() -> None:
    text = "---\nnodes: all\n---\n## S\n```sh check\n#| on: role=db\n#| id: x\ntrue\n```\n"
    runbook, problems = parse_runbook(text, "r.md")
    assert runbook is not None, [str(p) for p in problems]
    assert runbook.blocks()[0].options.on == "role=db"


def test_shell_vars_are_not_runbook_vars() -> None:
    text = "## S\n```sh check\n#| on: all\necho $HOME ${USER} {{node}}\n```\n"
    runbook, problems = parse_runbook(text, "r.md")
    assert runbook is not None and not problems.errors


def test_option_errors_point_at_their_line() -> None:
    text = "## S\n\n```sh check\n#| id: ok\n#| on: all\n#| batch: 0\ntrue\n```\n"
    _, problems = parse_runbook(text, "r.md")
    assert [(p.line, p.key) for p in problems] == [(6, "batch")]


def test_front_matter_errors() -> None:
    text = "---\ntitle: x\nalerts: [A]\nsevrity: high\n---\n## S\nDo it.\n"
    _, problems = parse_runbook(text, "r.md")
    assert len(problems) == 1 and problems.items[0].line == 1 + 1
    assert "unknown front-matter key 'sevrity'" in problems.items[0].message
    ok, problems = parse_runbook(text.replace("sevrity", "x-sevrity"), "r.md")
    assert ok is not None and not problems


def test_load_runbook_raises_source_error(tmp_path: Path) -> None:
    try:
        load_runbook(tmp_path / "missing.md")
    except SourceError as exc:
        assert exc.line == 1 and "cannot read runbook" in str(exc)
    else:
        raise AssertionError("expected SourceError")


def test_expectation_primitives() -> None:
    assert Comparison.parse("between 0 10").holds(10.0)
    assert not Comparison.parse("< 100").holds(100.0)
    assert Comparison.parse(">= 2").holds(2)
    assert TextMatch.parse("/^ok$/").found_in("x\nok\ny")
    assert not TextMatch.parse("/^ok$/").found_in("not ok")


def test_render_quotes_values_for_the_shell() -> None:
    out = render("echo {{member}} $HOME", {"member": "m1; rm -rf /"}, shell=True)
    assert out == "echo 'm1; rm -rf /' $HOME"
    assert [v.name for v in variables_in("{{ a }} {{b}} {{c d}}")] == ["a", "b", "c d"]


markdownish = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "---",
                "## Step",
                "# Title",
                "```sh check",
                "```promql check",
                "```sh action",
                "```http check",
                "```",
                "#| id: a",
                "#| on: role=x",
                "#| expect: {exit: 0}",
                "#| timeout: 5s",
                "#| requires: [a]",
                "#| confirm: typed",
                "#| within: 1m",
                "#| every: 2s",
                "#| expect: {same: true}",
                "#| bad: [",
                "alerts: [A]",
                "vars:",
                "  m: {pattern: '['}",
                "{{m}}",
                "title: x",
                "",
                "GET http://127.0.0.1/",
                "~~~",
            ]
        ),
        st.text(max_size=40),
    ),
    max_size=40,
).map("\n".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdownish)
def test_parser_only_raises_source_error_with_a_line(text: str) -> None:
    runbook, problems = parse_runbook(text, "fuzz.md")
    for problem in problems:
        assert problem.line >= 1
        assert problem.file == "fuzz.md"
    assert (runbook is None) == bool(problems.errors)


yamlish = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "profile: prod",
                "profile: nope",
                "nodes:",
                "  - {name: m1, host: h}",
                "  - name: m1",
                "refresh: 5s",
                "refresh: [",
                "panels:",
                "  - {kind: quorum, query: q, need: 2, of: 3}",
                "ssh: {host_keys: off}",
                "redact: ['(']",
                "inventory: /nonexistent",
                "a: b: c",
                "- x",
                "prometheus: {url: ftp://x}",
                "journal: {fsync: never}",
                "confirm: typed",
                "",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=20,
).map("\n".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yamlish)
def test_config_parser_only_raises_source_error_with_a_line(text: str) -> None:
    from console.config import parse_config

    try:
        parse_config(text, Path("fuzz.yaml"))
    except SourceError as exc:
        assert all(p.line >= 1 and p.file == "fuzz.yaml" for p in exc.problems)


def test_crlf_bom_and_var_shorthand() -> None:
    text = (
        "\ufeff---\r\nvars:\r\n  member: Which member?\r\n---\r\n## S\r\n```sh check\r\n"
        "#| on: local\r\n#| id: x\r\necho {{member}}\r\n```\r\n"
    )
    runbook, problems = parse_runbook(text, "r.md")
    assert runbook is not None, [str(p) for p in problems]
    assert runbook.meta.vars["member"].prompt == "Which member?"
    block = runbook.blocks()[0]
    assert block.body == "echo {{member}}" and block.line == 6
