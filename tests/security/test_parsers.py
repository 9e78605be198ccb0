"""Hostile files and URLs: alias bombs, special files, bad URLs, odd inventories, URL secrets.

Every case must end in a ``file:line: message`` problem (or a clear verdict), never a
traceback, a hang or a memory blow-up.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from console.catalog import load_catalog
from console.config import load_config
from console.drill.scenario import load_scenario
from console.errors import ProblemList, SourceError
from console.inventory import read_inventory
from console.runbook.parse import parse_runbook
from console.runbook.rules import read_rules

REPO = Path(__file__).resolve().parents[2]


def bomb(levels: int = 10, indent: str = "") -> str:
    """A "billion laughs" YAML mapping: each level holds nine aliases of the one before."""
    lines = [f'{indent}l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"{indent}l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def messages(problems: ProblemList | SourceError) -> list[str]:
    items = problems.items if isinstance(problems, ProblemList) else problems.problems
    return [str(p) for p in items]


def assert_alias_problem(found: list[str], file: Path | str, line: int) -> None:
    assert any(
        m.startswith(f"{file}:{line}: ") and "aliases" in m and "10,000" in m for m in found
    ), found


# --- item 8: alias bombs ---------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_alias_bomb_in_front_matter_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    text = "---\nid: x\n" + bomb() + "---\n# X\n"
    runbook, problems = parse_runbook(text, tmp_path / "rb.md")
    assert runbook is None
    # l1 to l3 reach 8,289 nodes through aliases; the first alias on the l4 line passes 10,000.
    assert_alias_problem(messages(problems), tmp_path / "rb.md", 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_block_options_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    options = "".join(f"#| {line}\n" for line in bomb().splitlines())
    text = f"---\nid: x\n---\n# X\n\n## Step\n\n```sh check\n{options}true\n```\n"
    runbook, problems = parse_runbook(text, tmp_path / "rb.md")
    assert runbook is None
    assert_alias_problem(messages(problems), tmp_path / "rb.md", 13)


@pytest.mark.timeout(20)
def test_alias_bomb_in_config_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    config = tmp_path / "console.yaml"
    config.write_text("profile: dev\nx:\n" + bomb(indent="  "))
    with pytest.raises(SourceError) as caught:
        load_config(config)
    assert_alias_problem(messages(caught.value), config, 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_yaml_inventory_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text("all:\n  vars:\n" + bomb(indent="    "))
    problems = ProblemList()
    assert read_inventory(inventory, problems) == []
    assert_alias_problem(messages(problems), inventory, 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_catalog_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    catalog = tmp_path / "etcd.yaml"
    catalog.write_text("checks:\n  x:\n    lang: sh\n    body: 'true'\n" + bomb())
    _, problems = load_catalog([catalog])
    assert_alias_problem(messages(problems), catalog, 9)


@pytest.mark.timeout(20)
def test_alias_bomb_in_scenario_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    scenario = tmp_path / "drill.yaml"
    scenario.write_text("title: t\nnodes: [{name: m1}]\n" + bomb())
    with pytest.raises(SourceError) as caught:
        load_scenario(scenario)
    assert_alias_problem(messages(caught.value), scenario, 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_rule_file_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups: []\n" + bomb())
    problems = ProblemList()
    assert read_rules(rules, problems) == []
    assert_alias_problem(messages(problems), rules, 6)


def _limit_memory() -> None:
    gib = 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (gib, gib))


def run_cli(
    args: list[str], cwd: Path, timeout: float = 60, limit_memory: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the console in a subprocess (so a hang or a blow-up cannot take pytest with it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "INCIDENT_CONSOLE_CONFIG": "", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory if limit_memory else None,
    )


def test_lint_over_a_folder_with_a_bomb_reports_it_within_1_gib(tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "ok.md").write_text("---\nid: ok\n---\n# OK\n")
    (books / "bomb.md").write_text("---\nid: bomb\n" + bomb() + "---\n# Bomb\n")
    result = run_cli(["lint", str(books)], tmp_path, limit_memory=True)
    assert result.returncode in (1, 2), result.stderr
    output = result.stdout + result.stderr
    assert f"{books / 'bomb.md'}:7: " in output, output
    assert "MemoryError" not in output and "Traceback" not in output


def test_a_recursive_alias_is_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    text = "---\nid: x\nloop: &r [*r]\n---\n# X\n"
    runbook, problems = parse_runbook(text, tmp_path / "rb.md")
    assert runbook is None
    found = messages(problems)
    assert any(m.startswith(f"{tmp_path / 'rb.md'}:3: ") and "*r" in m for m in found), found


def test_deep_nesting_and_nul_in_strings_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "console.yaml"
    config.write_text("profile: dev\nx: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(SourceError) as caught:
        load_config(config)
    assert any(":2: " in m and "64 levels" in m for m in messages(caught.value))
    config.write_text('profile: dev\nactor: "a\\0b"\n')
    with pytest.raises(SourceError) as caught:
        load_config(config)
    assert any(":2: " in m and "NUL" in m for m in messages(caught.value))


# --- item 8: special and oversized files -----------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    return path


def test_a_fifo_or_dev_zero_as_runbook_is_refused_without_hanging(
    tmp_path: Path, fifo: Path
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    os.mkfifo(books / "fifo.md")
    (books / "zero.md").symlink_to("/dev/zero")
    for path in (books / "fifo.md", books / "zero.md", books):
        result = run_cli(["lint", str(path)], tmp_path, timeout=30)
        output = result.stdout + result.stderr
        assert result.returncode in (1, 2), output
        for name in ("fifo.md", "zero.md") if path == books else (path.name,):
            assert f"{books / name}:1: cannot read runbook: not a regular file" in output


def test_a_fifo_or_dev_zero_as_config_is_refused_but_dev_null_is_empty(
    tmp_path: Path, fifo: Path
) -> None:
    for path in (fifo, Path("/dev/zero")):
        result = run_cli(["config", "check", "--config", str(path)], tmp_path, timeout=30)
        assert result.returncode == 2
        assert f"{path}:1: cannot read config: not a regular file" in result.stderr
    result = run_cli(["config", "check", "--config", "/dev/null"], tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr


def test_a_fifo_or_dev_zero_as_rule_file_is_refused(tmp_path: Path, fifo: Path) -> None:
    book = tmp_path / "rb.md"
    book.write_text("---\nid: rb\n---\n# RB\n")
    for path in (fifo, Path("/dev/zero")):
        result = run_cli(["lint", str(book), "--rules", str(path)], tmp_path, timeout=30)
        assert result.returncode in (1, 2)
        assert (
            f"{path}:1: cannot read rule file: not a regular file" in result.stdout + result.stderr
        )


def test_a_folder_and_an_oversized_file_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(SourceError) as caught:
        load_config(folder)
    assert messages(caught.value) == [f"{folder}:1: cannot read config: a folder"]
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(8 * 1024 * 1024 + 1)  # sparse: nothing is written to disk
    with pytest.raises(SourceError) as caught:
        load_config(big)
    assert messages(caught.value) == [
        f"{big}:1: cannot read config: larger than the limit of 8 MiB"
    ]
