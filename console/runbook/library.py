"""The runbook library: every runbook under the configured folders, and lookups into it.

In a folder scan a Markdown file counts as a runbook only when it starts with YAML front
matter (``---``), so READMEs and notes beside runbooks are left alone. A file named
explicitly is always parsed.
"""

from __future__ import annotations

import threading
from pathlib import Path

from console.errors import ProblemList
from console.runbook.model import Runbook
from console.runbook.parse import load_runbook_text, parse_runbook, slugify

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


class Library:
    """Parsed runbooks and the problems of the ones that did not parse.

    A library from ``load_library`` parses its files on first use: ``by_id`` parses, in order,
    only the files that could hold the runbook, so a drill or a runbook opened by name starts
    without parsing a team's whole library; ``runbooks`` and ``problems`` parse the rest (the
    screen asks for them after its first frame). Runbooks keep the files' order."""

    def __init__(
        self,
        runbooks: list[Runbook] | None = None,
        problems: ProblemList | None = None,
        *,
        files: list[Path] | None = None,
    ) -> None:
        self._given = list(runbooks or [])
        self._given_problems = problems or ProblemList()
        self._files = list(files or [])
        self._parsed: dict[Path, tuple[Runbook | None, ProblemList]] = {}
        self._lock = threading.Lock()

    @property
    def runbooks(self) -> list[Runbook]:
        """Every runbook that parsed, in the files' order."""
        self._parse_all()
        parsed = (self._parsed[file][0] for file in self._files)
        return [*self._given, *(runbook for runbook in parsed if runbook is not None)]

    @property
    def problems(self) -> ProblemList:
        """The problems of every file, in the files' order."""
        self._parse_all()
        out = ProblemList()
        out.extend(self._given_problems)
        for file in self._files:
            out.extend(self._parsed[file][1])
        return out

    def by_id(self, runbook_id: str) -> Runbook | None:
        """The first runbook, in the files' order, with this id or file stem. Only files that
        could hold it are parsed (see ``_may_hold``), so the others wait until asked for."""
        for runbook in self._given:
            if self._is(runbook, runbook_id):
                return runbook
        for file in self._files:
            text = None  # read once: to look for the id, then to parse
            if file not in self._parsed and runbook_id not in (file.stem, slugify(file.stem)):
                text = load_runbook_text(file)
                if text is not None and not _may_hold(text, runbook_id):
                    continue
            found = self._parse(file, text)
            if found is not None and self._is(found, runbook_id):
                return found
        return None

    @staticmethod
    def _is(runbook: Runbook, runbook_id: str) -> bool:
        return runbook.id == runbook_id or Path(runbook.file).stem == runbook_id

    def _parse_all(self) -> None:
        for file in self._files:
            self._parse(file)

    def _parse(self, file: Path, text: str | None = None) -> Runbook | None:
        """``file``'s runbook (``None`` if it did not parse), parsed once, from ``text`` when the
        caller has read it. The screen parses the rest of the library on a worker thread while
        the engineer may open the picker: one parse at a time, so no file is parsed twice and
        no model is first built on two threads at once."""
        with self._lock:
            if file not in self._parsed:
                problems = ProblemList()
                if text is None:
                    text = load_runbook_text(file, problems)
                runbook = None
                if text is not None:
                    runbook, found = parse_runbook(text, file)
                    problems.extend(found)
                self._parsed[file] = (runbook, problems)
            return self._parsed[file][0]


def _may_hold(text: str, runbook_id: str) -> bool:
    """Whether a runbook file's ``text`` could give it the id ``runbook_id``, without parsing
    it: the id is in the text, or the front matter has a backslash (a double-quoted YAML escape
    could spell the id without its letters). A file named after the id is asked for anyway."""
    if runbook_id in text:
        return True
    end = text.find("\n---", 3)
    front = text if end < 0 else text[:end]
    return "\\" in front


def load_library(paths: list[Path]) -> Library:
    """The runbooks under ``paths``, each parsed when first asked for; broken ones are kept
    as problems and the rest go on."""
    return Library(files=runbook_files(paths))
