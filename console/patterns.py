"""Regular expressions people write in runbooks, configs and scenarios, checked once."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator


def check_regex(pattern: str) -> str:
    """``pattern`` if it compiles; else ``ValueError`` naming it and what is wrong."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(check_regex)]
"""A pydantic field type: a regular expression that compiles, kept as written."""
