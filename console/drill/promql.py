"""A PromQL subset over simulated series, so panels and ``promql`` blocks work in drills.

Supported: selectors with ``=``, ``!=``, ``=~``, ``!~`` matchers; ``sum``, ``min``, ``max``,
``avg``, ``count`` with ``by``/``without``; ``rate``, ``irate``, ``increase``, ``deriv``,
``delta`` over a range; ``abs``; arithmetic and comparisons between vectors and scalars
(comparisons filter, or return 0/1 with ``bool``). Anything else is a ``PromQLError`` that says
what the simulator does not support, and so is a query nested more than ``MAX_DEPTH`` levels
(parentheses, function calls, unary minus), which would otherwise exhaust the parser's stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from console.drill.series import SeriesStore
from console.durations import parse_duration

Sample = tuple[dict[str, str], float]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<str>\"(?:[^\"\\]|\\.)*\"|'[^']*')"
    r"|(?P<op>=~|!~|!=|==|>=|<=|[-+*/(){}\[\],<>=])|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*))"
)
_AGGS = {"sum", "min", "max", "avg", "count"}
_RANGE_FUNCS = {"rate", "irate", "increase", "deriv", "delta"}
_CMP = {"==", "!=", ">", "<", ">=", "<="}

MAX_DEPTH = 32
"""Levels of nesting the simulator's PromQL parser accepts."""


class PromQLError(ValueError):
    """A query the simulator cannot parse or does not support."""


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(query: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    query = query.strip()
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if not match or match.end() == pos:
            raise PromQLError(
                f"cannot read the query at character {pos + 1}: {query[pos : pos + 20]!r}"
            )
        kind = match.lastgroup or ""
        out.append(_Tok(kind, match.group(kind)))
        pos = match.end()
        while pos < len(query) and query[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, query: str, store: SeriesStore, t: float) -> None:
        self.toks = _tokens(query)
        self.pos = 0
        self.store = store
        self.t = t
        self.depth = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, text: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or (text is not None and tok.text != text):
            want = repr(text) if text else "more"
            raise PromQLError(f"expected {want}, got {tok.text if tok else 'the end'!r}")
        self.pos += 1
        return tok

    def parse(self) -> list[Sample] | float:
        result = self.comparison()
        if self.peek() is not None:
            raise PromQLError(f"the simulator does not support {self.peek().text!r} here")  # type: ignore[union-attr]
        return result

    def nested(self, parse: Callable[[], list[Sample] | float]) -> list[Sample] | float:
        """Run ``parse`` one level deeper; refuse queries nested past ``MAX_DEPTH``."""
        if self.depth >= MAX_DEPTH:
            raise PromQLError(f"the query is nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            return parse()
        finally:
            self.depth -= 1

    def comparison(self) -> list[Sample] | float:
        return self.nested(self._comparison)

    def _comparison(self) -> list[Sample] | float:
        left = self.additive()
        tok = self.peek()
        if tok is not None and tok.text in _CMP | {"="} and tok.kind == "op":
            op = self.take().text
            if op == "=":
                raise PromQLError("use == to compare")
            as_bool = False
            nxt = self.peek()
            if nxt is not None and nxt.text == "bool":
                self.take()
                as_bool = True
            right = self.additive()
            return _binary(left, right, op, as_bool)
        return left

    def additive(self) -> list[Sample] | float:
        return self._left_to_right(("+", "-"), self.term)

    def term(self) -> list[Sample] | float:
        return self._left_to_right(("*", "/"), self.unary)

    def _left_to_right(
        self, ops: tuple[str, ...], operand: Callable[[], list[Sample] | float]
    ) -> list[Sample] | float:
        """``operand (op operand)*`` for operators ``ops`` of one precedence, left first."""
        left = operand()
        while (tok := self.peek()) is not None and tok.text in ops:
            op = self.take().text
            left = _binary(left, operand(), op, False)
        return left

    def unary(self) -> list[Sample] | float:
        tok = self.peek()
        if tok is None:
            raise PromQLError("the query ends too early")
        if tok.text == "-":
            self.take()
            return _binary(-1.0, self.nested(self.unary), "*", False)
        if tok.kind == "num":
            self.take()
            return float(tok.text)
        if tok.text == "(":
            self.take()
            inner = self.comparison()
            self.take(")")
            return inner
        if tok.kind == "name":
            if tok.text in _AGGS:
                return self.aggregate()
            if tok.text in _RANGE_FUNCS:
                return self.range_function()
            if tok.text == "abs":
                self.take()
                self.take("(")
                inner = self.comparison()
                self.take(")")
                return _apply(inner, abs)
            nxt = self.toks[self.pos + 1] if self.pos + 1 < len(self.toks) else None
            if nxt is not None and nxt.text == "(":
                raise PromQLError(f"the drill simulator does not support the function {tok.text}()")
            return self.selector()[0]
        raise PromQLError(f"unexpected {tok.text!r}")

    def labels_list(self) -> list[str]:
        self.take("(")
        names: list[str] = []
        while (tok := self.peek()) is not None and tok.text != ")":
            names.append(self.take().text)
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
        self.take(")")
        return names

    def aggregate(self) -> list[Sample]:
        op = self.take().text
        grouping: tuple[str, list[str]] | None = None
        if (tok := self.peek()) is not None and tok.text in ("by", "without"):
            mode = self.take().text
            grouping = (mode, self.labels_list())
        self.take("(")
        inner = self.comparison()
        self.take(")")
        if (tok := self.peek()) is not None and tok.text in ("by", "without"):
            mode = self.take().text
            grouping = (mode, self.labels_list())
        samples = inner if isinstance(inner, list) else [({}, inner)]
        return _aggregate(op, samples, grouping)

    def range_function(self) -> list[Sample]:
        func = self.take().text
        self.take("(")
        _, selected, window = self.selector(want_range=True)
        self.take(")")
        out: list[Sample] = []
        for labels, series in selected:
            now = series.value_at(self.t)
            before = series.value_at(max(self.t - window, 0.0))
            if now is None or before is None:
                continue
            span = min(window, self.t) or window
            change = now - before
            if func in ("rate", "irate", "deriv"):
                value = change / span if span else series.slope_at(self.t)
            else:
                value = change
            out.append(({k: v for k, v in labels.items() if k != "__name__"}, value))
        return out

    def selector(self, want_range: bool = False):  # type: ignore[no-untyped-def]
        name = self.take().text
        matchers: list[tuple[str, str, str]] = []
        if (tok := self.peek()) is not None and tok.text == "{":
            self.take("{")
            while (tok := self.peek()) is not None and tok.text != "}":
                label = self.take().text
                op = self.take().text
                if op not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"bad label matcher operator {op!r}")
                raw = self.take().text
                if raw[:1] not in ("'", '"'):
                    raise PromQLError(f'label values are quoted: {label}{op}"{raw}"')
                matchers.append((label, op, raw[1:-1]))
                if (tok := self.peek()) is not None and tok.text == ",":
                    self.take()
            self.take("}")
        window = 0.0
        if (tok := self.peek()) is not None and tok.text == "[":
            self.take("[")
            parts = []
            while (tok := self.peek()) is not None and tok.text != "]":
                parts.append(self.take().text)
            self.take("]")
            try:
                window = parse_duration("".join(parts))
            except ValueError as exc:
                raise PromQLError(f"bad range: {exc}") from None
            if not want_range:
                raise PromQLError("a range selector needs a function like rate()")
        elif want_range:
            raise PromQLError(f"{name} needs a range, like {name}[5m]")
        selected = []
        for series in self.store.select(name):
            if all(_matches(series.labels.get(lab, ""), op, val) for lab, op, val in matchers):
                selected.append(({"__name__": name, **series.labels}, series))
        samples: list[Sample] = []
        for labels, series in selected:
            value = series.value_at(self.t)
            if value is not None:
                samples.append(({k: v for k, v in labels.items() if k != "__name__"}, value))
        return samples, selected, window


def _matches(value: str, op: str, want: str) -> bool:
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    hit = re.fullmatch(want, value) is not None
    return hit if op == "=~" else not hit


def _arith(op: str) -> Callable[[float, float], float]:
    def divide(a: float, b: float) -> float:
        return a / b if b else float("nan")

    table: dict[str, Callable[[float, float], float]] = {
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": divide,
        "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b),
        ">": lambda a, b: float(a > b), "<": lambda a, b: float(a < b),
        ">=": lambda a, b: float(a >= b), "<=": lambda a, b: float(a <= b),
    }  # fmt: skip
    return table[op]


def _binary(
    left: list[Sample] | float, right: list[Sample] | float, op: str, as_bool: bool
) -> list[Sample] | float:
    fn = _arith(op)
    if isinstance(left, float) and isinstance(right, float):
        return fn(left, right)
    compare = op in _CMP
    if isinstance(left, list) and isinstance(right, list):
        index = {frozenset(lab.items()): v for lab, v in right}
        pairs = [(lab, v, index.get(frozenset(lab.items()))) for lab, v in left]
        out: list[Sample] = []
        for lab, a, b in pairs:
            if b is None:
                continue
            out.extend(_one(lab, a, b, fn, compare, as_bool, keep=a))
        return out
    samples, scalar, vector_left = (
        (left, right, True) if isinstance(left, list) else (right, left, False)
    )
    assert isinstance(samples, list) and isinstance(scalar, float)
    out = []
    for lab, v in samples:
        a, b = (v, scalar) if vector_left else (scalar, v)
        out.extend(_one(lab, a, b, fn, compare, as_bool, keep=v))
    return out


def _one(lab, a, b, fn, compare, as_bool, keep):  # type: ignore[no-untyped-def]
    result = fn(a, b)
    if not compare:
        return [(lab, result)]
    if as_bool:
        return [(lab, result)]
    return [(lab, keep)] if result else []


def _apply(value: list[Sample] | float, fn: Callable[[float], float]) -> list[Sample] | float:
    if isinstance(value, float):
        return fn(value)
    return [(lab, fn(v)) for lab, v in value]


def _aggregate(
    op: str, samples: list[Sample], grouping: tuple[str, list[str]] | None
) -> list[Sample]:
    groups: dict[frozenset[tuple[str, str]], list[float]] = {}
    for labels, value in samples:
        if grouping is None:
            key: dict[str, str] = {}
        elif grouping[0] == "by":
            key = {k: v for k, v in labels.items() if k in grouping[1]}
        else:
            key = {k: v for k, v in labels.items() if k not in grouping[1]}
        groups.setdefault(frozenset(key.items()), []).append(value)
    reduce: dict[str, Callable[[list[float]], float]] = {
        "sum": sum, "min": min, "max": max, "count": lambda xs: float(len(xs)),
        "avg": lambda xs: sum(xs) / len(xs),
    }  # fmt: skip
    return [(dict(key), float(reduce[op](values))) for key, values in groups.items()]


def evaluate(query: str, store: SeriesStore, t: float) -> list[Sample]:
    """Evaluate ``query`` at drill time ``t``; a scalar comes back as one sample without labels."""
    result = _Parser(query, store, t).parse()
    return [({}, result)] if isinstance(result, float) else result
