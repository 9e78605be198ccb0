"""The examples in docs/panels.md are valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.config import parse_config
from console.telemetry.panels import build_panel

DOC = Path(__file__).parents[2] / "docs" / "panels.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_the_doc_has_its_examples() -> None:
    assert len(BLOCKS) == 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_yaml_example_parses(index: int, tmp_path: Path) -> None:
    loaded = parse_config(BLOCKS[index], tmp_path / "console.yaml")
    for spec in loaded.config.panels:
        assert build_panel(spec, loaded.config.refresh).title == spec.title
