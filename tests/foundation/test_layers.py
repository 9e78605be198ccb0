"""The import-linter contracts in pyproject.toml hold, and each one fails on a violation.

Each case copies the package into tmp_path, adds one import that breaks the layering and runs
import-linter there with the project's own configuration.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = "formats below engines below surfaces"
JOURNAL = "journal imports no engine"
TEXTUAL = "only console.tui imports textual"
CONTRACTS = (LAYERS, JOURNAL, TEXTUAL)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the ``console`` package under ``root`` with its pyproject.toml."""
    code = (
        "import sys\nfrom importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package's Python sources and the project's configuration."""
    shutil.copytree(
        ROOT / "console",
        tmp_path / "console",
        ignore=lambda _dir, names: [n for n in names if n in ("__pycache__", "data")],
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # the old cycle: a format reaching up into an engine
        ("runbook/rules.py", "import console.telemetry.alerts", LAYERS),
        ("execute/session.py", "import console.telemetry.prometheus", LAYERS),
        ("config.py", "import console.incident", LAYERS),
        ("journal/fold.py", "import console.drill.clock", JOURNAL),
        ("journal/log.py", "import console.execute.target", JOURNAL),
        ("telemetry/format.py", "import textual.widgets", TEXTUAL),
        ("cli/common.py", "from textual.app import App", TEXTUAL),
    ],
)
def test_a_violation_breaks_its_contract(
    tree: Path, module: str, bad_import: str, broken: str
) -> None:
    path = tree / "console" / module
    path.write_text(path.read_text() + f"\n{bad_import}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout, result.stdout + result.stderr
    assert module.removesuffix(".py").replace("/", ".") in result.stdout


def test_every_module_of_the_package_sits_in_a_layer() -> None:
    """A new top-level module outside the layers contract would escape it unnoticed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["name"] == LAYERS]
    named = {n.strip(" ()") for layer in layers for n in re.split(r"[|:]", layer)}
    modules = {m.name for m in pkgutil.iter_modules([str(ROOT / "console")])}
    assert modules - named == set()
