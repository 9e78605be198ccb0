"""A small jq-style path for expectations: ``.leader``, ``.[0].Status.leader``, ``.a["b c"]``.

Enough to point at one value in a command's JSON output; not a query language.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r'\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(-?\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.(?=\[)')


class JsonPathError(ValueError):
    """A path that cannot be parsed."""


class Missing:
    """Marker for a path that leads nowhere in the data."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()


def parse_path(text: str) -> tuple[str | int, ...]:
    """Parse ``text`` into keys and indexes; raise ``JsonPathError`` if malformed."""
    if not isinstance(text, str) or not text.startswith("."):
        raise JsonPathError(f"bad JSON path {text!r}: it starts with '.', like .leader or .[0].id")
    if text == ".":
        return ()
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise JsonPathError(f"bad JSON path {text!r} at character {pos + 1}")
        name, index, quoted = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(quoted.replace('\\"', '"'))
        pos = match.end()
    return tuple(parts)


def get_path(data: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in ``data``, or ``MISSING``."""
    current = data
    for part in path:
        if isinstance(part, int) and isinstance(current, list):
            if -len(current) <= part < len(current):
                current = current[part]
                continue
            return MISSING
        if isinstance(part, str) and isinstance(current, dict) and part in current:
            current = current[part]
            continue
        return MISSING
    return current
