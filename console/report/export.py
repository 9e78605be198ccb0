"""A postmortem of an incident log, redacted field by field and rendered in one format.

``export`` (the CLI) and the console's palette both go through here, so a postmortem written
from the console is the same document ``incident-console export`` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from console.journal.events import Event
from console.journal.reader import read_log
from console.journal.redact import Redactor, redact_json
from console.report.html import to_html
from console.report.markdown import to_markdown
from console.report.postmortem import Postmortem, build_postmortem, to_json

RENDERERS: dict[str, Callable[[Postmortem], str]] = {
    "md": to_markdown,
    "html": to_html,
    "json": to_json,
}
"""Export formats by the name ``export --format`` takes; the name is also the file suffix."""


def redacted_postmortem(
    events: Sequence[Event], *, log_name: str, integrity: str, redactor: Redactor
) -> Postmortem:
    """The postmortem of ``events``, every field passed through ``redactor``.

    The log was redacted when written; this applies today's rules too, field by field (never
    to rendered text, whose escaping redaction could undo).
    """
    postmortem = build_postmortem(events, log_name=log_name, integrity=integrity)
    return Postmortem.model_validate(redact_json(postmortem.model_dump(mode="json"), redactor))


def export_beside(log: Path, fmt: str, *, integrity: str, redactor: Redactor) -> Path:
    """Write the postmortem of ``log`` beside it (``LOG-STEM.postmortem.md``); return the path.

    Raises ``LogUnreadable`` or ``OSError``.
    """
    result = read_log(log)
    postmortem = redacted_postmortem(
        result.events, log_name=log.name, integrity=integrity, redactor=redactor
    )
    output = log.with_name(f"{log.stem}.postmortem.{fmt}")
    output.write_text(RENDERERS[fmt](postmortem), encoding="utf-8")
    return output
