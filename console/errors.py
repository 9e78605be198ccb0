"""Problems found in user-written files, and the error that carries them.

Every problem a user can cause names the file and line (and the key, where there is one), so
the message can be pasted into an editor's "go to" box. Problems are collected, not raised one
at a time, so lint and config checks report everything at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    """How bad a problem is: errors fail lint (exit 1), warnings are advice."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in a file: where it is and what is wrong."""

    file: str
    line: int
    message: str
    key: str | None = None
    severity: Severity = Severity.ERROR
    code: str = "invalid"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        key = f" [{self.key}]" if self.key else ""
        return f"{where}: {prefix}{self.message}{key}"

    def to_json(self) -> dict[str, object]:
        """A plain dict for ``--json`` output."""
        return {
            "file": self.file,
            "line": self.line,
            "key": self.key,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
        }


@dataclass
class ProblemList:
    """An ordered collection of problems for one or more files."""

    items: list[Problem] = field(default_factory=list)

    def add(
        self,
        file: str | Path,
        line: int,
        message: str,
        *,
        key: str | None = None,
        severity: Severity = Severity.ERROR,
        code: str = "invalid",
    ) -> None:
        """Record a problem."""
        self.items.append(Problem(str(file), max(line, 1), message, key, severity, code))

    def extend(self, problems: list[Problem] | ProblemList) -> None:
        """Add problems found elsewhere."""
        self.items.extend(problems.items if isinstance(problems, ProblemList) else problems)

    @property
    def errors(self) -> list[Problem]:
        """Only the problems that are errors."""
        return [p for p in self.items if p.severity is Severity.ERROR]

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class ConsoleError(Exception):
    """Base of every error the console raises on purpose."""


class SourceError(ConsoleError):
    """A user-written file (runbook, config, check, scenario, log) is not valid.

    Carries every problem found, each with file and line.
    """

    def __init__(self, problems: list[Problem] | ProblemList) -> None:
        items = list(problems.items if isinstance(problems, ProblemList) else problems)
        if not items:
            raise ValueError("SourceError needs at least one problem")
        self.problems = items
        super().__init__("\n".join(str(p) for p in items))

    @property
    def line(self) -> int:
        """The line of the first problem."""
        return self.problems[0].line


class PolicyError(ConsoleError):
    """A configuration breaks the guardrails of its profile."""

    def __init__(self, violations: list[Problem]) -> None:
        self.violations = violations
        lines = "\n".join(f"  - {v}" for v in violations)
        super().__init__(f"the configuration breaks its profile's guardrails:\n{lines}")
