"""Every bundled runbook keeps the shape issue 12 asks of the library: each action is gated by
``requires`` on checks that come before it and is followed by a check that verifies it, and the
whole library lints clean under a ``prod`` config that has a node for every role it selects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.runbook.parse import load_runbook

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted((ROOT / "runbooks").glob("*.md"))


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.stem)
def test_every_action_is_gated_and_verified(path: Path) -> None:
    runbook = load_runbook(path)
    blocks = runbook.blocks()
    for index, block in enumerate(blocks):
        if block.kind != "action":
            continue
        before = {b.id for b in blocks[:index] if b.kind == "check"}
        assert block.options.requires, f"{block.id} has no requires"
        assert set(block.options.requires) <= before, f"{block.id} requires a later block"
        assert any(b.kind == "check" for b in blocks[index + 1 :]), f"nothing verifies {block.id}"


def test_the_library_lints_clean_under_prod(tmp_path: Path) -> None:
    # A node for every role a runbook or catalog check selects, as a real inventory would have.
    selectors = [p.read_text() for p in (*RUNBOOKS, *(ROOT / "checks").glob("*.yaml"))]
    roles = sorted({m for text in selectors for m in re.findall(r"role=([A-Za-z0-9_.-]+)", text)})
    # ... and for every label value a selector names (label.wave=1,2), nodes of each role carry it.
    labels: dict[str, set[str]] = {}
    for text in selectors:
        for key, values in re.findall(r"label\.([A-Za-z0-9_.-]+)=([A-Za-z0-9_.,-]+)", text):
            labels.setdefault(key, set()).update(values.split(","))
    spread = max((len(v) for v in labels.values()), default=1)
    entries = []
    for role in roles:
        for k in range(spread):
            picked = {key: sorted(values)[k % len(values)] for key, values in labels.items()}
            entries.append((role, picked))
    nodes = "".join(
        f"  - {{name: n{i}, host: 127.0.1.{i}, roles: [{role}], labels: {picked}}}\n"
        for i, (role, picked) in enumerate(entries, start=1)
    )
    config = tmp_path / "console.yaml"
    config.write_text(
        f"profile: prod\nnodes:\n{nodes}runbooks: [{ROOT / 'runbooks'}]\n"
        f"checks: [{ROOT / 'checks'}]\n"
    )
    result = CliRunner().invoke(cli, ["lint", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"{len(RUNBOOKS)} runbook file(s) checked: 0 error(s), 0 warning(s)" in result.output
