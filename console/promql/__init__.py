"""PromQL: the grammar (``parse``) and a Prometheus-faithful evaluator (``evaluate``).

A foundation package so that lint (formats layer) can check queries and the drill simulator
can answer them with one definition of what is supported.
"""

from console.promql.evaluate import (
    Point,
    SampleSource,
    evaluate_instant,
    unsupported_constructs,
)
from console.promql.parse import MAX_DEPTH, MAX_LENGTH, PromQLError, parse_query

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Point",
    "PromQLError",
    "SampleSource",
    "evaluate_instant",
    "parse_query",
    "unsupported_constructs",
]
