"""Architecture rules: the core never imports Textual; the CLI's help reads well."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from console.cli import cli

PACKAGE = Path(__file__).resolve().parents[2] / "console"
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".tcss"}


def test_no_textual_import_outside_tui() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "tui" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "textual" or n.startswith("textual.") for n in names):
                offenders.append(f"{path}:{node.lineno}")
    assert offenders == []


def test_core_imports_without_textual_loaded() -> None:
    code = (
        "import sys, importlib, pkgutil, console\n"
        "for m in pkgutil.walk_packages(console.__path__, 'console.'):\n"
        "    if '.tui' not in m.name: importlib.import_module(m.name)\n"
        "assert not any(k == 'textual' or k.startswith('textual.') for k in sys.modules), "
        "[k for k in sys.modules if k.startswith('textual')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _commands(group, prefix=()):  # type: ignore[no-untyped-def]
    """Every command and subcommand, as the group finds them (its modules are imported late)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("args", [(), *_commands(cli)], ids=lambda a: " ".join(a) or "top")
def test_every_help_reads_well(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ")
    lines = result.output.splitlines()
    description = next(line for line in lines[1:] if line.strip())
    assert description.strip()[0].isupper() and len(description) < 100


def test_python_dash_m_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "console", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("incident-console, version ")


def test_the_repository_explains_itself() -> None:
    """No tracked file points at a design document outside the repository."""
    root = PACKAGE.parent
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    outside = re.compile(r"DESIGN(\.md| §)|\.\./shared/")
    offenders = []
    for name in filter(None, listed):
        path = root / name
        if (
            path.suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".tcss"}
            or not path.is_file()
        ):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line) and "tests/foundation/test_structure.py" not in name:
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []
