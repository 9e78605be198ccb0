"""Node selectors: which nodes a block runs on.

Grammar: whitespace-separated words, all of which must match (AND). A word is ``all``,
``local`` (the console's own machine), ``name=a,b``, ``role=etcd`` or ``label.zone=b``; a
comma inside a word means any of the values (OR); ``!`` before a word negates it.
Examples: ``role=etcd !name=m1``, ``label.zone=a,b``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from pydantic import AfterValidator

_KEY = re.compile(r"^(name|role|label\.[A-Za-z0-9_.\-/]+)$")
_VALUE = re.compile(r"^[A-Za-z0-9_.:\-/*{}]+$")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.:\-/]+$")


def is_plain_value(value: str) -> bool:
    """Whether ``value`` is one plain name: no comma, glob, space, operator or braces.

    A selector value that comes from a variable must be one, so it cannot widen the selection.
    """
    return _PLAIN_VALUE.fullmatch(value) is not None


class SelectorError(ValueError):
    """A selector that cannot be parsed."""


class NodeLike(Protocol):
    """What a selector needs to know of a node."""

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> Sequence[str]: ...

    @property
    def labels(self) -> dict[str, str]: ...


N = TypeVar("N", bound=NodeLike)


@dataclass(frozen=True)
class Term:
    """One word of a selector."""

    key: str  # all | local | name | role | label.<k>
    values: tuple[str, ...] = ()
    negate: bool = False

    def matches(self, node: NodeLike) -> bool:
        """Whether ``node`` satisfies this word (before negation is applied)."""
        hit = self._hit(node)
        return not hit if self.negate else hit

    def _hit(self, node: NodeLike) -> bool:
        if self.key == "all":
            return True
        if self.key == "local":
            return False
        if self.key == "name":
            have: Iterable[str] = [node.name]
        elif self.key == "role":
            have = node.roles
        else:
            label = node.labels.get(self.key[len("label.") :])
            have = [] if label is None else [label]
        return any(_glob(v, h) for v in self.values for h in have)

    def __str__(self) -> str:
        bang = "!" if self.negate else ""
        if self.key in ("all", "local"):
            return f"{bang}{self.key}"
        return f"{bang}{self.key}={','.join(self.values)}"


def _glob(pattern: str, value: str) -> bool:
    if "*" not in pattern:
        return pattern == value
    rx = "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$"
    return re.match(rx, value) is not None


@dataclass(frozen=True)
class Selector:
    """A parsed selector: the AND of its terms."""

    terms: tuple[Term, ...]
    text: str

    @property
    def is_local(self) -> bool:
        """True when the selector names the console's own machine."""
        return any(t.key == "local" and not t.negate for t in self.terms)

    def select(self, nodes: Iterable[N]) -> list[N]:
        """The nodes that match, in inventory order."""
        return [n for n in nodes if all(t.matches(n) for t in self.terms)]

    def __str__(self) -> str:
        return self.text


def parse_selector(text: str) -> Selector:
    """Parse ``text``; raise ``SelectorError`` with a message that says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise SelectorError(
            "empty node selector: write all, local, name=..., role=... or label.K=V"
        )
    terms: list[Term] = []
    for word in text.split():
        negate = word.startswith("!")
        body = word[1:] if negate else word
        if body in ("all", "local"):
            if body == "local" and negate:
                raise SelectorError("'!local' is not a selector: use all, name=, role= or label.")
            terms.append(Term(body, (), negate))
            continue
        if "=" not in body:
            raise SelectorError(
                f"bad selector word {word!r}: expected all, local, name=a,b, role=r or label.K=V"
            )
        key, _, raw = body.partition("=")
        if not _KEY.match(key):
            raise SelectorError(
                f"unknown selector key {key!r} in {word!r}: use name, role or label.<key>"
            )
        values = tuple(v for v in raw.split(","))
        if not raw or any(not v or not _VALUE.match(v) for v in values):
            raise SelectorError(f"bad value in selector word {word!r}")
        terms.append(Term(key, values, negate))
    if any(t.key == "local" for t in terms) and len(terms) > 1:
        raise SelectorError("'local' cannot be combined with other selector words")
    return Selector(tuple(terms), " ".join(text.split()))


def check_selector(text: str) -> str:
    """``text`` if it parses as a selector; else ``ValueError`` saying what is wrong."""
    try:
        parse_selector(text)
    except SelectorError as exc:
        raise ValueError(str(exc)) from None
    return text


SelectorText = Annotated[str, AfterValidator(check_selector)]
"""A pydantic field type: a node selector, validated but kept as written."""
