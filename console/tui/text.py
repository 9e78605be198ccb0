"""Outside text made ready for the screen: one function every pane and dialog uses.

Light on purpose (no engine, no widget): the console's first frame shows outside text too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.sanitize import visible

if TYPE_CHECKING:
    from console.journal.redact import Redactor


def shown(redactor: Redactor, text: str | None, *, one_line: bool = False) -> str:
    """Outside text ready for the screen: secrets redacted, control characters as pictures."""
    return visible(redactor.text(text or ""), one_line=one_line)
