"""Durations written the way people write them: ``250ms``, ``5s``, ``2m``, ``1h30m``.

A bare number means seconds. Used by the config, the runbook options and scenarios.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")


def parse_duration(value: Any) -> float:
    """Return seconds for a duration like ``5s`` or ``1h30m``; raise ``ValueError`` if malformed."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 5s or 2m, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 5s or 2m, got {value!r}")
    text = value.strip().replace(" ", "")
    if not text or not _WHOLE.match(text):
        raise ValueError(f"bad duration {value!r}: write it like 500ms, 5s, 2m, 1h or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """Render seconds compactly for people: ``0.25s``, ``5s``, ``2m``, ``1h30m``."""
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs:
        out += f"{secs}s"
    return out


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A pydantic field type: accepts ``5s``-style strings or numbers, holds seconds."""


def _positive(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"a duration here must be more than 0, got {value!r}")
    return seconds


PositiveDuration = Annotated[
    float,
    BeforeValidator(_positive),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""Like ``Duration``, but zero is refused (timeouts, refresh intervals)."""
