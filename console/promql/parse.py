"""PromQL's grammar, from the ``promql-parser`` package (Python bindings of the Rust crate that
GreptimeDB maintains to track Prometheus's own parser), behind a guard for hostile input.

Why a package and not our own parser: it parses the whole grammar (subqueries, ``@``,
``offset``, vector matching, every function with its argument types) and refuses what
Prometheus refuses (``1 > 2`` without ``bool``, ``rate(up)``), with Prometheus's messages, and it
is kept up to date with Prometheus. Three things are handled here before it sees a query:

- its native parser overflows its stack on deep nesting (a crash, not an error), so queries
  longer than ``MAX_LENGTH`` or nested deeper than ``MAX_DEPTH`` are refused first;
- it reads backslashes inside a backtick string as escapes, where PromQL keeps them raw, so
  backtick strings are rewritten as the double-quoted string with the same value;
- it no longer knows ``holt_winters`` (Prometheus 2.x), which is registered here.
"""

from __future__ import annotations

import contextlib
import math
import re

import promql_parser

MAX_LENGTH = 8192
"""Characters of PromQL accepted in one query."""

MAX_DEPTH = 32
"""Levels of brackets (and runs of unary signs) accepted in one query."""

MAX_TREE_DEPTH = 128
"""Levels of the parsed expression tree accepted (long ``a or b or ...`` chains)."""


class PromQLError(ValueError):
    """A query that does not parse, or that the evaluator cannot evaluate (named)."""


def _register_prometheus_2_functions() -> None:
    """Functions Prometheus 2.x knows that the parser no longer does."""
    vt = promql_parser.ValueType
    holt = promql_parser.Function("holt_winters", [vt.Matrix, vt.Scalar, vt.Scalar], vt.Vector)
    with contextlib.suppress(ValueError):  # a newer parser knows it already
        promql_parser.register_extra_functions([holt])


_register_prometheus_2_functions()


def _prepare(query: str) -> str:
    """Check length and nesting, and rewrite backtick strings; the query otherwise unchanged."""
    if len(query) > MAX_LENGTH:
        raise PromQLError(f"the query is longer than {MAX_LENGTH} characters")
    out: list[str] = []
    brackets: list[str] = []
    signs = 0
    i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        if ch in "\"'":
            end = i + 1
            while end < n and query[end] != ch:
                end += 2 if query[end] == "\\" else 1
            out.append(query[i : end + 1])
            i = end + 1
            signs = 0
            continue
        if ch == "`":
            end = query.find("`", i + 1)
            if end < 0:
                raise PromQLError("unterminated raw string (a ` is not closed)")
            raw = query[i + 1 : end]
            escaped = raw.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            out.append(f'"{escaped}"')
            i = end + 1
            signs = 0
            continue
        if ch == "#":
            end = query.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "([{":
            brackets.append(ch)
            if len(brackets) > MAX_DEPTH:
                raise PromQLError(f"the query is nested more than {MAX_DEPTH} levels deep")
        elif ch in ")]}" and brackets:
            brackets.pop()
        if ch == "@" or (ch in "[:" and brackets and brackets[-1] == "[") or _offset_at(query, i):
            _check_time_number(query, i + (6 if ch == "o" else 1), at=ch == "@")
        if ch in "+-":
            signs += 1
            if signs > MAX_DEPTH:
                raise PromQLError(f"the query is nested more than {MAX_DEPTH} levels deep")
        elif not ch.isspace():
            signs = 0
        out.append(ch)
        i += 1
    return "".join(out)


_NUMBER = re.compile(
    r"\s*([-+]?)\s*(0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|inf|nan)(?![\w.:])",
    re.IGNORECASE,
)
_WORD = re.compile(r"[\w:]")

MAX_SECONDS = 1e10
"""The largest number of seconds accepted as an ``offset``, range, step or ``@`` time: the
native parser aborts (and prints to the terminal) on larger ones."""


def _offset_at(query: str, i: int) -> bool:
    """Whether the keyword ``offset`` starts at ``i``."""
    return (
        query.startswith("offset", i)
        and (i == 0 or not _WORD.match(query[i - 1]))
        and not _WORD.match(query[i + 6 : i + 7])
    )


def _check_time_number(query: str, start: int, *, at: bool) -> None:
    """Refuse a number the native parser would abort on, where a duration or time goes."""
    match = _NUMBER.match(query, start)
    if match is None:
        return
    sign, text = match.groups()
    try:
        value = float(int(text, 16)) if text.lower().startswith("0x") else float(text)
    except ValueError:
        return
    if sign == "-":
        value = -value
    if at and value < 0:
        raise PromQLError(f"an @ time before 1970 is not supported: @ {sign}{text}")
    if not math.isfinite(value) or abs(value) >= MAX_SECONDS:
        raise PromQLError(f"{sign}{text} is out of range for a duration or a time")


_CHILDREN = ("lhs", "rhs", "expr", "vector_selector")


_TIMES = ("offset", "range", "step", "at")


def _tree_depth(expr: promql_parser.Expr) -> int:
    """Depth of the expression tree, walked without recursion. Offsets, ranges, steps and
    ``@`` times are read on the way: the bindings convert them only when read, and may
    refuse then."""
    deepest = 0
    stack: list[tuple[object, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for name in _TIMES:
            at = getattr(node, name, None)
            if isinstance(at, promql_parser.AtModifier):
                _ = at.at
        for name in _CHILDREN:
            child = getattr(node, name, None)
            if isinstance(child, promql_parser.Expr):
                stack.append((child, depth + 1))
        if isinstance(node, promql_parser.Call):
            stack.extend((arg, depth + 1) for arg in node.args)
        if isinstance(node, promql_parser.AggregateExpr) and node.param is not None:
            stack.append((node.param, depth + 1))
    return deepest


def parse_query(query: str) -> promql_parser.Expr:
    """Parse ``query``; a ``PromQLError`` says what is wrong, as Prometheus would."""
    text = _prepare(query)
    if not text.strip():
        raise PromQLError("the query is empty")
    try:
        expr = promql_parser.parse(text)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # ValueError, or a native panic (not an Exception subclass)
        raise PromQLError(str(exc) or "the query does not parse") from None
    try:
        deepest = _tree_depth(expr)
    except (ValueError, OverflowError) as exc:
        raise PromQLError(str(exc)) from None
    if deepest > MAX_TREE_DEPTH:
        raise PromQLError(f"the query is nested more than {MAX_TREE_DEPTH} levels deep")
    return expr
