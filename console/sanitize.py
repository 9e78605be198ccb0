"""Make outside text safe to show: control characters become visible pictures.

Node output, alert labels and log fields come from machines the console does not control. Shown
raw, an escape sequence could set the operator's clipboard (OSC 52), clear the screen or move
the cursor, a bare CR could overwrite a line, and bidi controls could make text read differently
from what it is. ``visible`` replaces every such character with a picture of it, so the operator
sees what was sent and the terminal acts on none of it. It is pure (no Textual, no Rich).
"""

from __future__ import annotations

import re

# C0 (except \t \n), DEL, C1, the bidi controls, line/paragraph separators and lone surrogates.
_UNSAFE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\u2028\u2029\ud800-\udfff"
)
_MULTI_LINE = re.compile(f"[{_UNSAFE}]")
_ONE_LINE = re.compile(f"[{_UNSAFE}\t\n]")

NEWLINE_PICTURE = "\u2424"  # ␤
DEL_PICTURE = "\u2421"  # ␡


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:
        return NEWLINE_PICTURE
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟: ESC is ␛, CR is ␍, TAB is ␉
    if code == 0x7F:
        return DEL_PICTURE
    return f"\u27e8U+{code:04X}\u27e9"  # ⟨U+202E⟩


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character shown as a picture instead of acted on.

    ``\\n`` and ``\\t`` pass unless ``one_line`` is set, when they become ``␤`` and ``␉`` so
    that a single field (an alert label, a log field) cannot forge another line.
    """
    pattern = _ONE_LINE if one_line else _MULTI_LINE
    if pattern.search(text) is None:  # the common case: clean text, returned as is
        return text
    return pattern.sub(_picture, text)
