"""``{{name}}`` variables in runbook text: finding them and substituting them.

The Ansible/Jinja spelling keeps the shell's own ``$VAR`` and ``${VAR}`` untouched. In shell
blocks every value is inserted shell-quoted, so a value can never break out into a command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_VAR = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class VarUse:
    """One ``{{...}}`` occurrence: the name, its 0-based line within the text, and validity."""

    name: str
    line: int
    valid: bool


def variables_in(text: str) -> list[VarUse]:
    """Every ``{{...}}`` in ``text``, in order (names that are not identifiers are invalid)."""
    out: list[VarUse] = []
    for match in _VAR.finditer(text):
        name = match.group(1)
        line = text.count("\n", 0, match.start())
        out.append(VarUse(name, line, bool(_NAME.match(name))))
    return out


class MissingVariable(KeyError):
    """A ``{{name}}`` with no value."""


def render(text: str, values: dict[str, str], *, shell: bool) -> str:
    """Substitute ``{{name}}`` with ``values[name]``; quote for the shell when ``shell``."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise MissingVariable(name)
        value = str(values[name])
        return shlex.quote(value) if shell else value

    return _VAR.sub(replace, text)
