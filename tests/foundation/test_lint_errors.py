"""Every lint error class, with its exact message and line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli

FRONT = """---
id: sample
title: Sample
nodes: role=etcd
vars:
  member: {prompt: "Which member?", pattern: "^m[0-9]+$"}
---
# Sample

"""


def lint_text(tmp_path: Path, body: str, *extra: str, config: str | None = None) -> tuple[int, str]:
    book = tmp_path / "rb.md"
    book.write_text(FRONT + textwrap.dedent(body))
    args = ["lint", str(book), *extra]
    env = {"INCIDENT_CONSOLE_CONFIG": ""}
    if config is not None:
        cfg = tmp_path / "console.yaml"
        cfg.write_text(textwrap.dedent(config))
        args += ["--config", str(cfg)]
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def line_of(tmp_path: Path, needle: str) -> int:
    lines = (tmp_path / "rb.md").read_text().split("\n")
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


CASES = [
    (
        "bad-yaml",
        """
        ## 1. Step
        ```sh check
        #| id: a
        #| expect: {exit: [0
        true
        ```
        """,
        "#| expect: {exit: [0",
        "bad YAML: while parsing a flow sequence, did not find expected ',' or ']'",
    ),
    (
        "unknown-option",
        """
        ## 1. Step
        ```sh check
        #| id: a
        #| tiemout: 5s
        true
        ```
        """,
        "tiemout",
        "unknown option 'tiemout' (did you mean 'timeout'?) [tiemout]",
    ),
    (
        "unknown-kind",
        """
        ## 1. Step
        ```sh chek
        true
        ```
        """,
        "```sh chek",
        "unknown block kind 'chek' (did you mean 'check'?): write check or action after the "
        "language",
    ),
    (
        "bad-selector",
        """
        ## 1. Step
        ```sh check
        #| on: rol=etcd
        true
        ```
        """,
        "rol=etcd",
        "unknown selector key 'rol' in 'rol=etcd': use name, role or label.<key> [on]",
    ),
    (
        "bad-duration",
        """
        ## 1. Step
        ```sh check
        #| timeout: 10 seconds
        true
        ```
        """,
        "10 seconds",
        "bad duration '10 seconds': write it like 500ms, 5s, 2m, 1h or 1h30m [timeout]",
    ),
    (
        "bad-expectation",
        """
        ## 1. Step
        ```promql check
        #| expect: {value: "about 3"}
        up
        ```
        """,
        "about 3",
        "bad comparison 'about 3': write '< 100', '>= 2', '== 3', '!= 0' or 'between 0 10' "
        "[expect.value]",
    ),
    (
        "duplicate-id",
        """
        ## 1. Step
        ```sh check
        #| id: twice
        true
        ```

        ```sh check
        #| id: twice
        false
        ```
        """,
        None,
        "duplicate block id 'twice' (first at line {first}) [id]",
    ),
    (
        "undefined-var",
        """
        ## 1. Step
        ```sh check
        echo {{membr}}
        ```
        """,
        "{{membr}}",
        "undefined variable {{membr}}: declare it under vars: in the front matter (built-ins: "
        "node, host, incident) [membr]",
    ),
    (
        "requires-nowhere",
        """
        ## 1. Step
        ```sh action
        #| confirm: typed
        #| requires: [quorum]
        systemctl restart etcd
        ```
        """,
        "requires: [quorum]",
        "requires 'quorum', but no block has that id [requires]",
    ),
    (
        "use-missing",
        """
        ## 1. Step
        ```sh check
        #| use: etcd/nope
        ```
        """,
        "use: etcd/nope",
        "use: no catalog check named 'etcd/nope' (the catalog is empty: is 'checks:' set in "
        "the config?) [use]",
    ),
    (
        "action-within",
        """
        ## 1. Step
        ```sh action
        #| confirm: typed
        #| within: 2m
        systemctl restart etcd
        ```
        """,
        "#| within: 2m",
        "within re-runs a check until it passes; an action runs once (put a check with within "
        "after it) [within]",
    ),
    (
        "empty-step",
        """
        ## 1. Step
        Something to do.

        ## 2. Nothing here
        """,
        "## 2. Nothing here",
        "step 2 ('Nothing here') is empty: add what to do, or remove the heading",
    ),
]


@pytest.mark.parametrize(("name", "body", "needle", "message"), CASES, ids=[c[0] for c in CASES])
def test_lint_error_class(
    tmp_path: Path, name: str, body: str, needle: str | None, message: str
) -> None:
    code, output = lint_text(tmp_path, body)
    assert code == 1, output
    if needle is None:  # duplicate id: the second occurrence is reported
        ids = [
            i
            for i, line in enumerate((tmp_path / "rb.md").read_text().split("\n"), 1)
            if "#| id: twice" in line
        ]
        line, message = ids[1], message.format(first=ids[0])
    else:
        line = line_of(tmp_path, needle)
    assert f"{tmp_path / 'rb.md'}:{line}: {message}" in output.splitlines()


def test_action_without_confirm_in_prod(tmp_path: Path) -> None:
    body = """
    ## 1. Step
    ```sh action
    #| id: restart
    systemctl restart etcd
    ```
    """
    code, output = lint_text(tmp_path, body, config="profile: prod\n")
    assert code == 1
    line = line_of(tmp_path, "```sh action")
    expected = (
        f"{tmp_path / 'rb.md'}:{line}: action 'restart' has no confirm: a prod config "
        "requires 'confirm: typed' on every action [confirm]"
    )
    assert expected in output.splitlines()
    code, _ = lint_text(tmp_path, body, config="profile: dev\n")
    assert code == 0


def test_every_problem_reported_not_just_first(tmp_path: Path) -> None:
    body = """
    ## 1. Step
    ```sh check
    #| timeout: soon
    echo {{x}}
    ```

    ```sh chek
    true
    ```

    ## 2. Empty
    """
    code, output = lint_text(tmp_path, body, "--json")
    data = json.loads(output)
    codes = sorted(p["code"] for p in data["problems"])
    assert code == 1
    assert codes == ["empty-step", "invalid", "unknown-kind"]  # the bad block stops var checks
    assert all(p["line"] > 1 for p in data["problems"])


def test_bundled_runbooks_lint_clean() -> None:
    root = Path(__file__).resolve().parents[2]
    result = CliRunner().invoke(
        cli,
        ["lint", str(root / "runbooks"), str(root / "checks")],
        env={"INCIDENT_CONSOLE_CONFIG": ""},
    )
    assert result.exit_code == 0, result.output
    count = len(list((root / "runbooks").glob("*.md")))
    assert count >= 5
    assert f"{count} runbook file(s) checked: 0 error(s), 0 warning(s)" in result.output
