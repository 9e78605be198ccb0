"""Evaluate a PromQL instant query over samples, as Prometheus 2.x evaluates it.

The semantics follow Prometheus's engine (promql/engine.go, functions.go, aggregations), and
``tests/drill/test_promql_differential.py`` compares the results with a real Prometheus over the
same samples. What matters and is easy to get wrong: a selector picks the latest sample no
older than the 5-minute lookback (none if it is a staleness marker); a range ``[5m]`` holds the
samples in the closed interval; ``rate``/``increase``/``delta`` extrapolate like
``extrapolatedRate``; ``deriv``/``predict_linear`` are least squares; division by zero is
±Inf or NaN; ``__name__`` is kept or dropped where Prometheus keeps or drops it; vector matching
(``on``/``ignoring``/``group_left``/``group_right``) refuses what Prometheus refuses.

Times are integer milliseconds, like Prometheus's.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import promql_parser as pp

from console.promql.gosemantics import (
    ARITH,
    COMPARE,
    SIMPLE_FUNCTIONS,
    compile_regex,
    format_go_float,
    go_div,
    go_expand,
    go_floor,
    go_max,
    go_min,
    parse_go_float,
)
from console.promql.parse import PromQLError, parse_query

LOOKBACK_MS = 300_000
"""How far back an instant selector looks for a sample (Prometheus's default 5m)."""

DEFAULT_SUBQUERY_STEP_MS = 60_000
"""A subquery's step when it names none (Prometheus's default evaluation interval)."""

MAX_SUBQUERY_STEPS = 20_000
"""Steps all subqueries of one query may evaluate together (``x[30d:1s]`` would take hours)."""

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
"""Prometheus's staleness marker: a NaN with this bit pattern ends a series."""

Labels = tuple[tuple[str, str], ...]
"""A label set sorted by name, so it hashes and orders as Prometheus's do."""

NAME = "__name__"

_DROPS_NAME = {"+", "-", "*", "/", "^", "%"}
"""Operators whose result has no metric name (``atan2`` and comparisons keep it in 2.x)."""


def is_stale(value: float) -> bool:
    """Whether ``value`` is the staleness marker (not any NaN)."""
    return math.isnan(value) and struct.pack("<d", value) == struct.pack("<d", STALE_NAN)


class SampleSource(Protocol):
    """Where samples come from: every series with a metric name (or all, for ``None``)."""

    def series(
        self, name: str | None
    ) -> Iterable[tuple[Mapping[str, str], Sequence[tuple[int, float]]]]:
        """Each series' labels (with ``__name__``) and its samples (ms, value), oldest first."""
        ...


@dataclass(frozen=True)
class Point:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


@dataclass
class _Sample:
    labels: Labels
    value: float
    ts: int | None = None  # the sample's own time, for timestamp() of a plain selector


@dataclass
class _Matrix:
    series: list[tuple[Labels, list[tuple[int, float]]]]
    start: int
    end: int


_Value = float | str | list[_Sample] | _Matrix


def _labels(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in mapping.items() if v != ""))


def _without(labels: Labels, names: Iterable[str]) -> Labels:
    drop = set(names)
    return tuple(p for p in labels if p[0] not in drop)


def _keep(labels: Labels, names: Iterable[str]) -> Labels:
    keep = set(names)
    return tuple(p for p in labels if p[0] in keep)


def _set(labels: Labels, name: str, value: str) -> Labels:
    rest = {k: v for k, v in labels if k != name}
    if value != "":
        rest[name] = value
    return tuple(sorted(rest.items()))


def _get(labels: Labels, name: str) -> str:
    for key, value in labels:
        if key == name:
            return value
    return ""


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else (delta // timedelta(milliseconds=1))


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


# --- selection -------------------------------------------------------------------------------


@dataclass
class _Series:
    """One source series, its times and values in two lists for bisecting."""

    labels: Labels
    times: list[int]
    values: list[float]


class _Evaluator:
    """One instant query's evaluation: ``eval`` walks the parsed tree at a time in ms (a
    subquery walks its inner tree at each of its steps); series are read from the source once
    per metric name."""

    def __init__(self, source: SampleSource, query_ms: int, lookback_ms: int) -> None:
        self.source = source
        self.query_ms = query_ms
        self.lookback_ms = lookback_ms
        self._cache: dict[str | None, list[_Series]] = {}
        self._regexes: dict[str, re.Pattern[str]] = {}
        self._steps = 0

    # selection

    def _all(self, name: str | None) -> list[_Series]:
        if name not in self._cache:
            found = []
            for labels, samples in self.source.series(name):
                found.append(
                    _Series(_labels(labels), [t for t, _ in samples], [v for _, v in samples])
                )
            found.sort(key=lambda s: s.labels)
            self._cache[name] = found
        return self._cache[name]

    def _matches(self, value: str, matcher: pp.Matcher) -> bool:
        op = matcher.op
        if op == pp.MatchOp.Equal:
            return value == matcher.value
        if op == pp.MatchOp.NotEqual:
            return value != matcher.value
        pattern = self._regexes.get(matcher.value)
        if pattern is None:
            pattern = self._regexes.setdefault(matcher.value, compile_regex(matcher.value))
        hit = pattern.fullmatch(value) is not None
        return hit if op == pp.MatchOp.Re else not hit

    def _select(self, vs: pp.VectorSelector) -> list[_Series]:
        matchers = list(vs.matchers.matchers)
        name = vs.name
        if name is None:
            for m in matchers:
                if m.name == NAME and m.op == pp.MatchOp.Equal:
                    name = m.value
        groups = [list(g) for g in vs.matchers.or_matchers]
        out = []
        for series in self._all(name):
            if vs.name is not None and _get(series.labels, NAME) != vs.name:
                continue
            if not all(self._matches(_get(series.labels, m.name), m) for m in matchers):
                continue
            if groups and not any(
                all(self._matches(_get(series.labels, m.name), m) for m in group)
                for group in groups
            ):
                continue
            out.append(series)
        return out

    def _ref_time(self, at: pp.AtModifier | None, ts: int) -> int:
        if at is None:
            return ts
        if at.type == pp.AtModifierType.At and at.at is not None:
            return round(at.at.timestamp() * 1000)
        return self.query_ms  # start() and end() of an instant query

    def _instant(self, vs: pp.VectorSelector, ts: int) -> list[_Sample]:
        ref = self._ref_time(vs.at, ts) - _ms(vs.offset)
        out = []
        for series in self._select(vs):
            i = bisect_right(series.times, ref) - 1
            if i < 0 or series.times[i] < ref - self.lookback_ms:
                continue
            value = series.values[i]
            if is_stale(value):
                continue
            out.append(_Sample(series.labels, value, series.times[i]))
        return out

    def _range(self, ms: pp.MatrixSelector, ts: int) -> _Matrix:
        vs = ms.vector_selector
        end = self._ref_time(vs.at, ts) - _ms(vs.offset)
        start = end - _ms(ms.range)
        out = []
        for series in self._select(vs):
            lo = bisect_left(series.times, start)
            hi = bisect_right(series.times, end)
            points = [
                (series.times[i], series.values[i])
                for i in range(lo, hi)
                if not is_stale(series.values[i])
            ]
            if points:
                out.append((series.labels, points))
        return _Matrix(out, start, end)

    def _subquery(self, sq: pp.SubqueryExpr, ts: int) -> _Matrix:
        step = _ms(sq.step) or DEFAULT_SUBQUERY_STEP_MS
        end = self._ref_time(sq.at, ts) - _ms(sq.offset)
        start = end - _ms(sq.range)
        first = step * (start // step)
        if first < start:
            first += step
        self._steps += max(0, (end - first) // step + 1)
        if self._steps > MAX_SUBQUERY_STEPS:
            raise PromQLError(
                f"the query's subqueries evaluate more than {MAX_SUBQUERY_STEPS} steps: "
                "use a shorter range or a longer step"
            )
        series: dict[Labels, list[tuple[int, float]]] = {}
        for t in range(first, end + 1, step):
            value = self.eval(sq.expr, t)
            if isinstance(value, float):
                series.setdefault((), []).append((t, value))
            elif isinstance(value, list):
                for sample in value:
                    series.setdefault(sample.labels, []).append((t, sample.value))
            else:
                raise PromQLError("a subquery needs a number or an instant vector inside")
        return _Matrix(sorted(series.items()), start, end)

    # evaluation

    def eval(self, expr: pp.Expr, ts: int) -> _Value:
        """``expr``'s value at ``ts``: each node type is evaluated by its entry in ``_BY_TYPE``."""
        evaluate = _Evaluator._BY_TYPE.get(type(expr))
        if evaluate is None:
            raise PromQLError(f"cannot evaluate {type(expr).__name__}")
        return evaluate(self, expr, ts)

    def _number(self, expr: pp.NumberLiteral, ts: int) -> _Value:
        return float(expr.val)

    def _string(self, expr: pp.StringLiteral, ts: int) -> _Value:
        return expr.val

    def _paren(self, expr: pp.ParenExpr, ts: int) -> _Value:
        return self.eval(expr.expr, ts)

    def _unary(self, expr: pp.UnaryExpr, ts: int) -> _Value:
        inner = self.eval(expr.expr, ts)
        if isinstance(inner, float):
            return -inner
        if isinstance(inner, list):
            return _unique([_Sample(_without(s.labels, [NAME]), -s.value) for s in inner])
        raise PromQLError("unary minus needs a number or an instant vector")

    def _binary(self, e: pp.BinaryExpr, ts: int) -> _Value:
        op = str(e.op)
        mod = e.modifier
        lhs = self.eval(e.lhs, ts)
        rhs = self.eval(e.rhs, ts)
        return_bool = bool(mod and mod.return_bool)
        if isinstance(lhs, float) and isinstance(rhs, float):
            if op in COMPARE:
                return float(COMPARE[op](lhs, rhs))
            return ARITH[op](lhs, rhs)
        if isinstance(lhs, list) and isinstance(rhs, list):
            on = bool(mod and mod.matching and mod.matching.type == pp.LabelModifierType.Include)
            names = list(mod.matching.labels) if mod and mod.matching else []
            if op in ("and", "or", "unless"):
                return _set_op(op, lhs, rhs, on, names)
            card = mod.card if mod else pp.VectorMatchCardinality.OneToOne
            include = list(mod.group_labels or []) if mod else []
            return _vector_binop(op, lhs, rhs, card, on, names, include, return_bool)
        if isinstance(lhs, list) and isinstance(rhs, float):
            return _scalar_binop(op, lhs, rhs, False, return_bool)
        if isinstance(lhs, float) and isinstance(rhs, list):
            return _scalar_binop(op, rhs, lhs, True, return_bool)
        raise PromQLError(f"operator {op} needs numbers or instant vectors on both sides")

    def _vector(self, expr: pp.Expr, ts: int, what: str) -> list[_Sample]:
        value = self.eval(expr, ts)
        if not isinstance(value, list):
            raise PromQLError(f"{what} needs an instant vector")
        return value

    def _scalar(self, expr: pp.Expr, ts: int, what: str) -> float:
        value = self.eval(expr, ts)
        if not isinstance(value, float):
            raise PromQLError(f"{what} needs a number")
        return value

    def _aggregate(self, e: pp.AggregateExpr, ts: int) -> list[_Sample]:
        op = str(e.op)
        samples = self._vector(e.expr, ts, op)
        mod = e.modifier
        without = mod is not None and mod.type == pp.AggModifierType.Without
        grouping = list(mod.labels) if mod is not None else []

        def key(labels: Labels) -> Labels:
            if without:
                return _without(labels, [*grouping, NAME])
            return _keep(labels, grouping)

        groups: dict[Labels, list[_Sample]] = {}
        for sample in samples:
            groups.setdefault(key(sample.labels), []).append(sample)
        param = None if e.param is None else self.eval(e.param, ts)
        if op in ("topk", "bottomk"):
            if not isinstance(param, float):
                raise PromQLError(f"{op} needs a number of series")
            k_value = param
            if math.isnan(k_value) or abs(k_value) >= 2**63:
                raise PromQLError(f"scalar value {k_value} overflows int64")
            k = int(k_value)
            if k < 1:
                return []
            out: list[_Sample] = []
            for members in groups.values():
                out.extend(_top(members, k, op == "topk"))
            return out
        if op == "count_values":
            label = param
            if not isinstance(label, str) or not _LABEL_NAME.match(label):
                raise PromQLError(f"invalid label name {label!r}")
            counts: dict[Labels, int] = {}
            for group_key, members in groups.items():
                for sample in members:
                    new = _set(group_key, label, format_go_float(sample.value))
                    counts[new] = counts.get(new, 0) + 1
            return [_Sample(lab, float(n)) for lab, n in counts.items()]
        if op == "quantile" and not isinstance(param, float):
            raise PromQLError("quantile needs a number")
        phi = param if isinstance(param, float) else 0.0
        return [
            _Sample(group_key, _reduce(op, [s.value for s in members], phi))
            for group_key, members in groups.items()
        ]

    def _call(self, e: pp.Call, ts: int) -> _Value:
        name = e.func.name
        args = list(e.args)
        if name == "time":
            return ts / 1000
        if name == "pi":
            return math.pi
        if name == "vector":
            return [_Sample((), self._scalar(args[0], ts, name))]
        if name == "scalar":
            vec = self._vector(args[0], ts, name)
            return vec[0].value if len(vec) == 1 else math.nan
        if name == "timestamp":
            plain = args[0]
            while isinstance(plain, pp.ParenExpr):
                plain = plain.expr
            vec = self._vector(args[0], ts, name)
            own = isinstance(plain, pp.VectorSelector)
            return _unique(
                [
                    _Sample(
                        _without(s.labels, [NAME]),
                        (s.ts if own and s.ts is not None else ts) / 1000,
                    )
                    for s in vec
                ]
            )
        if name in ("absent", "absent_over_time"):
            value = self.eval(args[0], ts)
            present = value.series if isinstance(value, _Matrix) else value
            if present:
                return []
            return [_Sample(_absent_labels(args[0]), 1.0)]
        if name in _RANGE_FUNCTIONS:
            return self._range_call(name, args, ts)
        if name in SIMPLE_FUNCTIONS:
            fn = SIMPLE_FUNCTIONS[name]
            vec = self._vector(args[0], ts, name)
            return _unique([_Sample(_without(s.labels, [NAME]), fn(s.value)) for s in vec])
        if name in _VECTOR_FUNCTIONS:
            return _unique(_VECTOR_FUNCTIONS[name](self, args, ts))
        raise PromQLError(f"cannot evaluate the function {name}()")

    def _range_call(self, name: str, args: list[pp.Expr], ts: int) -> list[_Sample]:
        matrix: _Matrix | None = None
        scalars: list[float] = []
        for arg in args:
            value = self.eval(arg, ts)
            if isinstance(value, _Matrix):
                matrix = value
            elif isinstance(value, float):
                scalars.append(value)
        if matrix is None:
            raise PromQLError(f"{name}() needs a range vector")
        fn = _RANGE_FUNCTIONS[name]
        out = []
        for labels, points in matrix.series:
            result = fn(points, scalars, matrix, ts)
            if result is None:
                continue
            keep = labels if name == "last_over_time" else _without(labels, [NAME])
            out.append(_Sample(keep, result))
        return _unique(out)

    _BY_TYPE: ClassVar[dict[type, Callable[[_Evaluator, Any, int], _Value]]] = {
        pp.NumberLiteral: _number,
        pp.StringLiteral: _string,
        pp.ParenExpr: _paren,
        pp.VectorSelector: _instant,
        pp.MatrixSelector: _range,
        pp.SubqueryExpr: _subquery,
        pp.UnaryExpr: _unary,
        pp.BinaryExpr: _binary,
        pp.AggregateExpr: _aggregate,
        pp.Call: _call,
    }


def _unique(samples: list[_Sample]) -> list[_Sample]:
    """Prometheus refuses a result with two series of one label set."""
    seen: set[Labels] = set()
    for sample in samples:
        if sample.labels in seen:
            raise PromQLError("vector cannot contain metrics with the same labelset")
        seen.add(sample.labels)
    return samples


def _absent_labels(expr: pp.Expr) -> Labels:
    if isinstance(expr, pp.MatrixSelector):
        expr = expr.vector_selector
    if not isinstance(expr, pp.VectorSelector):
        return ()
    found: dict[str, str] = {}
    dropped: list[str] = []
    for m in expr.matchers.matchers:
        if m.name == NAME:
            continue
        if m.op == pp.MatchOp.Equal and m.name not in found:
            found[m.name] = m.value
        else:
            dropped.append(m.name)
    for label in dropped:
        found.pop(label, None)
    return _labels(found)


# --- binary operators ------------------------------------------------------------------------


def _signature(labels: Labels, on: bool, names: list[str]) -> Labels:
    if on:
        return _keep(labels, names)
    return _without(labels, [*names, NAME])


def _set_op(
    op: str, lhs: list[_Sample], rhs: list[_Sample], on: bool, names: list[str]
) -> list[_Sample]:
    left = [_Sample(s.labels, s.value) for s in lhs]
    right = [_Sample(s.labels, s.value) for s in rhs]
    rsigs = {_signature(s.labels, on, names) for s in right}
    if op == "and":
        return [s for s in left if _signature(s.labels, on, names) in rsigs]
    if op == "unless":
        return [s for s in left if _signature(s.labels, on, names) not in rsigs]
    lsigs = {_signature(s.labels, on, names) for s in left}
    return left + [s for s in right if _signature(s.labels, on, names) not in lsigs]


def _vector_binop(
    op: str,
    lhs: list[_Sample],
    rhs: list[_Sample],
    card: pp.VectorMatchCardinality,
    on: bool,
    names: list[str],
    include: list[str],
    return_bool: bool,
) -> list[_Sample]:
    if not lhs or not rhs:  # nothing can match: no error about duplicates either
        return []
    one_to_many = card == pp.VectorMatchCardinality.OneToMany
    if one_to_many:
        lhs, rhs = rhs, lhs
    right: dict[Labels, _Sample] = {}
    for sample in rhs:
        sig = _signature(sample.labels, on, names)
        if sig in right:
            side = "left" if one_to_many else "right"
            raise PromQLError(
                f"found duplicate series for the match group {dict(sig)} on the {side} "
                "hand-side of the operation; many-to-many matching not allowed: matching "
                "labels must be unique on one side"
            )
        right[sig] = sample
    matched: dict[Labels, set[Labels] | None] = {}
    out: list[_Sample] = []
    for ls in lhs:
        sig = _signature(ls.labels, on, names)
        rs = right.get(sig)
        if rs is None:
            continue
        vl, vr = (rs.value, ls.value) if one_to_many else (ls.value, rs.value)
        if op in COMPARE:
            keep = COMPARE[op](vl, vr)
            value = vl
        else:
            keep = True
            value = ARITH[op](vl, vr)
        if return_bool:
            value = 1.0 if keep else 0.0
        elif not keep:
            continue
        metric = ls.labels
        if op in _DROPS_NAME or return_bool:
            metric = _without(metric, [NAME])
        if card == pp.VectorMatchCardinality.OneToOne:
            metric = _keep(metric, names) if on else _without(metric, names)
        for label in include:
            metric = _set(metric, label, _get(rs.labels, label))
        if card == pp.VectorMatchCardinality.OneToOne:
            if sig in matched:
                raise PromQLError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
            matched[sig] = None
        else:
            seen = matched.setdefault(sig, set())
            assert seen is not None
            if metric in seen:
                raise PromQLError(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                )
            seen.add(metric)
        out.append(_Sample(metric, value))
    return _unique(out)


def _scalar_binop(
    op: str, vector: list[_Sample], scalar: float, swap: bool, return_bool: bool
) -> list[_Sample]:
    out = []
    for sample in vector:
        a, b = (scalar, sample.value) if swap else (sample.value, scalar)
        if op in COMPARE:
            keep = COMPARE[op](a, b)
            value = sample.value
        else:
            keep = True
            value = ARITH[op](a, b)
        if return_bool:
            value = 1.0 if keep else 0.0
            keep = True
        if not keep:
            continue
        labels = sample.labels
        if op in _DROPS_NAME or return_bool:
            labels = _without(labels, [NAME])
        out.append(_Sample(labels, value))
    return _unique(out)


# --- aggregation -----------------------------------------------------------------------------


def _quantile(q: float, values: list[float]) -> float:
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if math.isnan(q):
        return math.nan
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v if not math.isnan(v) else 0))
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _mean(values: list[float]) -> float:
    mean = 0.0
    count = 0
    for v in values:
        count += 1
        if count == 1:
            mean = v
            continue
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and not math.isnan(v):
                continue
        mean += v / count - mean / count
    return mean


def _variance(values: list[float], *, seeded: bool = False) -> float:
    """Welford's running variance, as Prometheus computes it. ``seeded``: the aggregation
    starts from the first sample (so one +Inf has variance 0), ``*_over_time`` from zero."""
    count = 1 if seeded else 0
    mean = values[0] if seeded else 0.0
    aux = 0.0
    for v in values[1:] if seeded else values:
        count += 1
        delta = v - mean
        mean += delta / count
        aux += delta * (v - mean)
    return aux / count


def _reduce(op: str, values: list[float], param: float) -> float:
    if op == "sum":
        total = values[0]
        for v in values[1:]:
            total += v
        return total
    if op == "avg":
        return _mean(values)
    if op == "count":
        return float(len(values))
    if op == "group":
        return 1.0
    if op in ("max", "min"):
        best = values[0]
        for v in values[1:]:
            better = v > best if op == "max" else v < best
            if better or math.isnan(best):
                best = v
        return best
    if op == "stdvar":
        return _variance(values, seeded=True)
    if op == "stddev":
        return math.sqrt(_variance(values, seeded=True))
    if op == "quantile":
        return _quantile(param, values)
    raise PromQLError(f"cannot evaluate the aggregation {op}")


def _top(members: list[_Sample], k: int, top: bool) -> list[_Sample]:
    """topk/bottomk as Prometheus 2.x picks them, ties and NaNs included: Go's
    ``container/heap`` over the samples in order; a sample better than the root (the least
    kept), or any sample while the root is NaN, pops the root and is pushed."""

    def less(a: float, b: float) -> bool:
        if math.isnan(a):
            return True
        return a < b if top else a > b

    heap: list[_Sample] = []

    def up(j: int) -> None:
        while j > 0:
            i = (j - 1) // 2
            if not less(heap[j].value, heap[i].value):
                break
            heap[i], heap[j] = heap[j], heap[i]
            j = i

    def down(i: int, n: int) -> None:
        while 2 * i + 1 < n:
            j = 2 * i + 1
            if j + 1 < n and less(heap[j + 1].value, heap[j].value):
                j += 1
            if not less(heap[j].value, heap[i].value):
                break
            heap[i], heap[j] = heap[j], heap[i]
            i = j

    for sample in members:
        kept = _Sample(sample.labels, sample.value)
        if len(heap) == k:
            root = heap[0].value
            better = root < sample.value if top else root > sample.value
            if not (better or math.isnan(root)):
                continue
            if k == 1:  # replaced in place
                heap[0] = kept
                continue
            last = len(heap) - 1  # heap.Pop: the root goes last, the rest sifts, then it goes
            heap[0], heap[last] = heap[last], heap[0]
            down(0, last)
            heap.pop()
        heap.append(kept)
        up(len(heap) - 1)
    return heap


# --- functions over ranges -------------------------------------------------------------------

_RangeFn = Callable[[list[tuple[int, float]], list[float], _Matrix, int], float | None]


def _extrapolated(is_counter: bool, is_rate: bool) -> _RangeFn:
    def fn(
        points: list[tuple[int, float]], _args: list[float], m: _Matrix, _ts: int
    ) -> float | None:
        if len(points) < 2:
            return None
        first_t, first_v = points[0]
        last_t, last_v = points[-1]
        result = last_v - first_v
        if is_counter:
            prev = first_v
            for _, v in points[1:]:
                if v < prev:
                    result += prev
                prev = v
        to_start = (first_t - m.start) / 1000
        to_end = (m.end - last_t) / 1000
        sampled = (last_t - first_t) / 1000
        average = sampled / (len(points) - 1)
        if is_counter and result > 0 and first_v >= 0:
            to_zero = sampled * (first_v / result)
            to_start = min(to_start, to_zero)
        threshold = average * 1.1
        interval = sampled
        interval += to_start if to_start < threshold else average / 2
        interval += to_end if to_end < threshold else average / 2
        factor = interval / sampled
        if is_rate:
            factor /= (m.end - m.start) / 1000
        return result * factor

    return fn


def _instant_value(is_rate: bool) -> _RangeFn:
    def fn(points: list[tuple[int, float]], _a: list[float], _m: _Matrix, _ts: int) -> float | None:
        if len(points) < 2:
            return None
        (prev_t, prev_v), (last_t, last_v) = points[-2], points[-1]
        value = last_v if is_rate and last_v < prev_v else last_v - prev_v
        interval = last_t - prev_t
        if interval == 0:
            return None
        return value / (interval / 1000) if is_rate else value

    return fn


def _regression(points: list[tuple[int, float]], intercept_t: int) -> tuple[float, float]:
    first = points[0][1]
    if all(v == first for _, v in points):
        return (math.nan, math.nan) if math.isinf(first) else (0.0, first)
    n = float(len(points))
    xs = [(t - intercept_t) / 1000 for t, _ in points]
    ys = [v for _, v in points]
    sum_x = sum(xs)
    sum_y = sum(ys)
    sum_xy = sum(x * y for x, y in zip(xs, ys, strict=True))
    sum_x2 = sum(x * x for x in xs)
    cov = sum_xy - sum_x * sum_y / n
    var = sum_x2 - sum_x * sum_x / n
    slope = go_div(cov, var)
    return slope, sum_y / n - slope * sum_x / n


def _deriv(points: list[tuple[int, float]], _a: list[float], _m: _Matrix, _ts: int) -> float | None:
    if len(points) < 2:
        return None
    return _regression(points, points[0][0])[0]


def _predict_linear(
    points: list[tuple[int, float]], args: list[float], _m: _Matrix, ts: int
) -> float | None:
    if len(points) < 2:
        return None
    slope, intercept = _regression(points, ts)
    return slope * args[0] + intercept


def _over_time(reduce: Callable[[list[float]], float]) -> _RangeFn:
    def fn(points: list[tuple[int, float]], _a: list[float], _m: _Matrix, _ts: int) -> float:
        return reduce([v for _, v in points])

    return fn


def _changes(points: list[tuple[int, float]], _a: list[float], _m: _Matrix, _ts: int) -> float:
    count = 0
    for (_, prev), (_, cur) in itertools.pairwise(points):
        if cur != prev and not (math.isnan(cur) and math.isnan(prev)):
            count += 1
    return float(count)


def _resets(points: list[tuple[int, float]], _a: list[float], _m: _Matrix, _ts: int) -> float:
    return float(sum(1 for (_, a), (_, b) in itertools.pairwise(points) if b < a))


def _quantile_over_time(
    points: list[tuple[int, float]], args: list[float], _m: _Matrix, _ts: int
) -> float:
    return _quantile(args[0], [v for _, v in points])


def _holt_winters(
    points: list[tuple[int, float]], args: list[float], _m: _Matrix, _ts: int
) -> float | None:
    sf, tf = args[0], args[1]
    if not 0 < sf < 1:
        raise PromQLError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf}")
    if not 0 < tf < 1:
        raise PromQLError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf}")
    if len(points) < 2:
        return None
    s0 = 0.0
    s1 = points[0][1]
    b = points[1][1] - points[0][1]
    for i in range(1, len(points)):
        x = sf * points[i][1]
        if i > 1:
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


_RANGE_FUNCTIONS: dict[str, _RangeFn] = {
    "rate": _extrapolated(True, True),
    "increase": _extrapolated(True, False),
    "delta": _extrapolated(False, False),
    "irate": _instant_value(True),
    "idelta": _instant_value(False),
    "deriv": _deriv,
    "predict_linear": _predict_linear,
    "changes": _changes,
    "resets": _resets,
    "avg_over_time": _over_time(_mean),
    "sum_over_time": _over_time(lambda vs: _reduce("sum", vs, 0.0)),
    "count_over_time": _over_time(lambda vs: float(len(vs))),
    "min_over_time": _over_time(lambda vs: _reduce("min", vs, 0.0)),
    "max_over_time": _over_time(lambda vs: _reduce("max", vs, 0.0)),
    "stddev_over_time": _over_time(lambda vs: math.sqrt(_variance(vs))),
    "stdvar_over_time": _over_time(_variance),
    "last_over_time": _over_time(lambda vs: vs[-1]),
    "present_over_time": _over_time(lambda vs: 1.0),
    "quantile_over_time": _quantile_over_time,
    "holt_winters": _holt_winters,
}


# --- functions over instant vectors ----------------------------------------------------------

_VectorFn = Callable[[_Evaluator, list[pp.Expr], int], list[_Sample]]


def _clamp(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
    vec = ev._vector(args[0], ts, "clamp")
    low, high = ev._scalar(args[1], ts, "clamp"), ev._scalar(args[2], ts, "clamp")
    if high < low:
        return []
    return [_Sample(_without(s.labels, [NAME]), go_max(low, go_min(high, s.value))) for s in vec]


def _clamp_one(is_max: bool) -> _VectorFn:
    def fn(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
        vec = ev._vector(args[0], ts, "clamp")
        bound = ev._scalar(args[1], ts, "clamp")
        pick = go_min if is_max else go_max
        return [_Sample(_without(s.labels, [NAME]), pick(s.value, bound)) for s in vec]

    return fn


def _round(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
    vec = ev._vector(args[0], ts, "round")
    nearest = ev._scalar(args[1], ts, "round") if len(args) > 1 else 1.0
    inverse = go_div(1.0, nearest)
    return [
        _Sample(_without(s.labels, [NAME]), go_div(go_floor(s.value * inverse + 0.5), inverse))
        for s in vec
    ]


def _sort(descending: bool) -> _VectorFn:
    def fn(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
        vec = ev._vector(args[0], ts, "sort")
        numbers = [s for s in vec if not math.isnan(s.value)]
        nans = [s for s in vec if math.isnan(s.value)]
        return sorted(numbers, key=lambda s: s.value, reverse=descending) + nans

    return fn


def _label_replace(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
    vec = ev._vector(args[0], ts, "label_replace")
    dst, repl, src, pattern = (ev.eval(a, ts) for a in args[1:5])
    assert isinstance(dst, str) and isinstance(repl, str)
    assert isinstance(src, str) and isinstance(pattern, str)
    regex = compile_regex(pattern)
    if not _LABEL_NAME.match(dst):
        raise PromQLError(f"invalid destination label name in label_replace(): {dst}")
    out = []
    for s in vec:
        match = regex.fullmatch(_get(s.labels, src))
        labels = s.labels
        if match is not None:
            labels = _set(labels, dst, go_expand(repl, match))
        out.append(_Sample(labels, s.value))
    return out


def _label_join(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
    vec = ev._vector(args[0], ts, "label_join")
    texts = [ev.eval(a, ts) for a in args[1:]]
    if not all(isinstance(t, str) for t in texts):
        raise PromQLError("label_join() takes label names as strings")
    dst, sep, *src = (str(t) for t in texts)
    if not _LABEL_NAME.match(dst):
        raise PromQLError(f"invalid destination label name in label_join(): {dst}")
    return [
        _Sample(_set(s.labels, dst, sep.join(_get(s.labels, n) for n in src)), s.value) for s in vec
    ]


def _histogram_quantile(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
    q = ev._scalar(args[0], ts, "histogram_quantile")
    vec = ev._vector(args[1], ts, "histogram_quantile")
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for s in vec:
        bound = parse_go_float(_get(s.labels, "le"))
        if bound is None:
            continue
        groups.setdefault(_without(s.labels, [NAME, "le"]), []).append((bound, s.value))
    return [_Sample(key, _bucket_quantile(q, buckets)) for key, buckets in groups.items()]


def _bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if not (math.isinf(buckets[-1][0]) and buckets[-1][0] > 0):
        return math.nan
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -math.inf
    for b in merged:
        if b[1] > highest:
            highest = b[1]
        elif b[1] < highest:
            b[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    index = next((i for i in range(len(merged) - 1) if merged[i][1] >= rank), len(merged) - 1)
    if index == len(merged) - 1:
        return merged[-2][0]
    if index == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start = 0.0
    end, count = merged[index]
    if index > 0:
        start = merged[index - 1][0]
        count -= merged[index - 1][1]
        rank -= merged[index - 1][1]
    return start + (end - start) * (rank / count)


def _date(part: Callable[[datetime], float]) -> _VectorFn:
    def fn(ev: _Evaluator, args: list[pp.Expr], ts: int) -> list[_Sample]:
        vec = ev._vector(args[0], ts, "date") if args else [_Sample((), ts / 1000)]
        out = []
        for s in vec:
            try:
                when = datetime.fromtimestamp(int(s.value), UTC)
            except (ValueError, OverflowError, OSError):
                value = math.nan
            else:
                value = float(part(when))
            out.append(_Sample(_without(s.labels, [NAME]), value))
        return out

    return fn


_VECTOR_FUNCTIONS: dict[str, _VectorFn] = {
    "clamp": _clamp,
    "clamp_max": _clamp_one(True),
    "clamp_min": _clamp_one(False),
    "round": _round,
    "sort": _sort(False),
    "sort_desc": _sort(True),
    "label_replace": _label_replace,
    "label_join": _label_join,
    "histogram_quantile": _histogram_quantile,
    "day_of_month": _date(lambda d: d.day),
    "day_of_week": _date(lambda d: (d.weekday() + 1) % 7),
    "day_of_year": _date(lambda d: d.timetuple().tm_yday),
    "days_in_month": _date(lambda d: calendar.monthrange(d.year, d.month)[1]),
    "hour": _date(lambda d: d.hour),
    "minute": _date(lambda d: d.minute),
    "month": _date(lambda d: d.month),
    "year": _date(lambda d: d.year),
}

_OTHER_FUNCTIONS = {"time", "pi", "vector", "scalar", "timestamp", "absent", "absent_over_time"}
_AGGREGATIONS = {
    "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "quantile", "topk",
    "bottomk", "count_values",
}  # fmt: skip

SUPPORTED_FUNCTIONS = frozenset(
    {*_RANGE_FUNCTIONS, *SIMPLE_FUNCTIONS, *_VECTOR_FUNCTIONS, *_OTHER_FUNCTIONS}
)
"""Every function the evaluator knows (the native-histogram ones and newer ones it does not)."""


def unsupported_constructs(expr: pp.Expr) -> list[str]:
    """What in ``expr`` the evaluator cannot evaluate, each named as it is written."""
    found: list[str] = []

    def visit(node: pp.Expr) -> bool:
        if isinstance(node, pp.Call) and node.func.name not in SUPPORTED_FUNCTIONS:
            found.append(f"the function {node.func.name}()")
        if isinstance(node, pp.AggregateExpr) and str(node.op) not in _AGGREGATIONS:
            found.append(f"the aggregation {node.op}")
        if isinstance(node, pp.BinaryExpr) and node.modifier is not None:
            fill = node.modifier.fill_values
            if fill is not None and (fill.lhs is not None or fill.rhs is not None):
                found.append("fill modifiers on vector matching")
        return True

    pp.walk(expr, visit)
    return sorted(set(found), key=found.index)


def evaluate_instant(
    query: str | pp.Expr,
    source: SampleSource,
    at_ms: int,
    *,
    lookback_ms: int = LOOKBACK_MS,
) -> list[Point] | float | str:
    """The result of instant query ``query`` at ``at_ms``: a vector, a scalar or a string."""
    expr = parse_query(query) if isinstance(query, str) else query
    missing = unsupported_constructs(expr)
    if missing:
        raise PromQLError(f"cannot evaluate {missing[0]}")
    try:
        value = _Evaluator(source, at_ms, lookback_ms).eval(expr, at_ms)
    except PromQLError:
        raise
    except RecursionError:
        raise PromQLError("the query is nested too deeply to evaluate") from None
    except (ArithmeticError, ValueError) as exc:  # a float corner not handled above
        raise PromQLError(f"cannot evaluate the query: {exc}") from None
    if isinstance(value, _Matrix):
        raise PromQLError(
            "the query returns a range vector (like up[5m]); wrap it in a function such as rate()"
        )
    if isinstance(value, list):
        return [Point(dict(s.labels), s.value) for s in value]
    return value
