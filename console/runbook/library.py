"""The runbook library: every runbook under the configured folders, and lookups into it.

In a folder scan a Markdown file counts as a runbook only when it starts with YAML front
matter (``---``), so READMEs and notes beside runbooks are left alone. A file named
explicitly is always parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from console.errors import ProblemList
from console.runbook.model import Runbook
from console.runbook.parse import load_runbook_text, parse_runbook

MARKDOWN_SUFFIXES = (".md", ".markdown")


def runbook_files(paths: list[Path]) -> list[Path]:
    """Runbook files named or found under ``paths``, in a stable order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            markdown = (p for p in path.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES)
            for md in sorted(markdown):
                text = load_runbook_text(md)
                if text is None or text.startswith("---"):
                    out.append(md)  # an unreadable one is kept, so loading reports why
        elif path.suffix.lower() in MARKDOWN_SUFFIXES:
            out.append(path)
    return out


@dataclass
class Library:
    """Parsed runbooks and the problems of the ones that did not parse."""

    runbooks: list[Runbook] = field(default_factory=list)
    problems: ProblemList = field(default_factory=ProblemList)

    def by_id(self, runbook_id: str) -> Runbook | None:
        """The runbook with this id or file stem."""
        for runbook in self.runbooks:
            if runbook.id == runbook_id or Path(runbook.file).stem == runbook_id:
                return runbook
        return None


def load_library(paths: list[Path]) -> Library:
    """Parse every runbook under ``paths``; keep going past broken ones."""
    library = Library()
    for file in runbook_files(paths):
        text = load_runbook_text(file, library.problems)
        if text is None:
            continue
        runbook, problems = parse_runbook(text, file)
        library.problems.extend(problems)
        if runbook is not None:
            library.runbooks.append(runbook)
    return library
