"""The unknown-key problem, worded alike for catalog files and ``#|`` options."""

from __future__ import annotations

from pathlib import Path

from console.errors import ProblemList
from console.runbook.catalog import read_catalog_file
from console.runbook.parse import parse_runbook

BOOK = """---
id: keys
title: Keys
---
# Keys

## 1. Step
```sh check
#| id: a
#| tiemout: 5s
#| zzz: 1
true
```
"""


def test_catalog_unknown_top_level_key_names_line_and_key(tmp_path: Path) -> None:
    file = tmp_path / "etcd.yaml"
    file.write_text("checks: {}\ntimeout: 5s\n")
    problems = ProblemList()
    assert read_catalog_file(file, problems) == []
    assert [(p.line, p.message, p.key, p.code) for p in problems] == [
        (2, "unknown key 'timeout'", "timeout", "unknown-option")
    ]


def test_unknown_options_hint_only_when_a_key_is_close() -> None:
    _runbook, problems = parse_runbook(BOOK, "rb.md")
    found = [(p.line, p.message, p.key) for p in problems if p.code == "unknown-option"]
    assert found == [
        (10, "unknown option 'tiemout' (did you mean 'timeout'?)", "tiemout"),
        (11, "unknown option 'zzz'", "zzz"),
    ]
