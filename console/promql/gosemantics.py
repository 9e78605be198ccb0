"""What Go (and so Prometheus) does differently from Python, in one place: float arithmetic
(``x/0`` is ±Inf, ``math.Pow``/``Mod``/``Max`` corners), the functions of one number, number
formatting and parsing (``strconv``), RE2 regular expressions and ``Regexp.Expand``.

Python raises where Go answers NaN or ±Inf; these answer as Go does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from console.promql.parse import PromQLError

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}  # fmt: skip
_RE2_ONLY = re.compile(r"\\z|\\.|\[:(\^?)([a-z]+):\]", re.DOTALL)


def _python_regex(pattern: str) -> str:
    """RE2 syntax Python's ``re`` reads otherwise: ``[[:alpha:]]`` and ``\\z``."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "\\z":
            return "\\Z"
        if text.startswith("\\"):
            return text
        chars = _POSIX_CLASSES.get(match.group(2))
        if chars is None:
            raise PromQLError(f"invalid character class {text!r} in regular expression")
        if match.group(1):
            raise PromQLError(f"negated class {text!r} is not supported: write [^...] instead")
        return chars

    return _RE2_ONLY.sub(replace, pattern)


def compile_regex(pattern: str) -> re.Pattern[str]:
    """A Prometheus (RE2) regular expression in Python: ``\\d``, ``\\w``, ``\\s`` are ASCII."""
    try:
        return re.compile(_python_regex(pattern), re.ASCII)
    except re.error as exc:
        raise PromQLError(f"invalid regular expression {pattern!r}: {exc}") from None


# --- Go's float semantics --------------------------------------------------------------------


def go_div(a: float, b: float) -> float:
    """``a / b`` as Go divides floats: ±Inf for a non-zero over zero, NaN for 0/0."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _pow(a: float, b: float) -> float:
    try:
        result = math.pow(a, b)
    except OverflowError:
        negative = a < 0 and b == int(b) and int(b) % 2 == 1
        return -math.inf if negative else math.inf
    except ValueError:
        if a == 0 and b < 0:
            return math.inf
        return math.nan
    return result


def _mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": go_div,
    "^": _pow,
    "%": _mod,
    "atan2": math.atan2,
}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def go_max(a: float, b: float) -> float:
    """Go's ``math.Max``: +Inf wins over NaN, NaN over any number."""
    if (math.isinf(a) and a > 0) or (math.isinf(b) and b > 0):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def go_min(a: float, b: float) -> float:
    """Go's ``math.Min``: -Inf wins over NaN, NaN over any number."""
    if (math.isinf(a) and a < 0) or (math.isinf(b) and b < 0):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return min(a, b)


def go_floor(v: float) -> float:
    """Go's ``math.Floor``: ±Inf and NaN stay as they are."""
    return v if not math.isfinite(v) else float(math.floor(v))


def _ceil(v: float) -> float:
    return v if not math.isfinite(v) else float(math.ceil(v))


def _math(fn: Callable[[float], float]) -> Callable[[float], float]:
    """``fn`` with Go's answers where Python raises: NaN outside the domain, +Inf on overflow."""

    def safe(v: float) -> float:
        try:
            return fn(v)
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan

    return safe


def _log(fn: Callable[[float], float]) -> Callable[[float], float]:
    def log(v: float) -> float:
        if v == 0:
            return -math.inf
        return _math(fn)(v)

    return log


def _atanh(v: float) -> float:
    if v in (1.0, -1.0):
        return math.copysign(math.inf, v)
    return _math(math.atanh)(v)


def _sgn(v: float) -> float:
    if v < 0:
        return -1.0
    if v > 0:
        return 1.0
    return v


SIMPLE_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": _ceil,
    "floor": go_floor,
    "exp": _math(math.exp),
    "sqrt": _math(math.sqrt),
    "ln": _log(math.log),
    "log2": _log(math.log2),
    "log10": _log(math.log10),
    "sgn": _sgn,
    "sin": _math(math.sin),
    "cos": _math(math.cos),
    "tan": _math(math.tan),
    "asin": _math(math.asin),
    "acos": _math(math.acos),
    "atan": _math(math.atan),
    "sinh": lambda v: math.copysign(math.inf, v) if abs(v) > 710 else math.sinh(v),
    "cosh": _math(math.cosh),
    "tanh": _math(math.tanh),
    "asinh": _math(math.asinh),
    "acosh": _math(math.acosh),
    "atanh": _atanh,
    "deg": lambda v: v * 180 / math.pi,
    "rad": lambda v: v * math.pi / 180,
}


def format_go_float(value: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" not in text and "E" not in text:
        return text[:-2] if text.endswith(".0") else text
    mantissa, exp_text = text.split("e")
    exponent = int(exp_text)
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    point = len(mantissa.lstrip("-").split(".")[0]) + exponent
    if point <= 0:
        out = "0." + "0" * (-point) + digits
    elif point >= len(digits):
        out = digits + "0" * (point - len(digits))
    else:
        out = digits[:point] + "." + digits[point:]
    return sign + out


def parse_go_float(text: str) -> float | None:
    """``strconv.ParseFloat``: what Python accepts besides (spaces, underscores) is refused."""
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def go_expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``$$``; unknown is empty."""
    out: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "$" or i + 1 >= len(template):
            out.append(ch)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = template.find("}", i + 2)
            name = template[i + 2 : end] if end > 0 else ""
            if end < 0 or not re.fullmatch(r"\w+", name):
                out.append(ch)
                i += 1
                continue
            i = end + 1
        else:
            found = re.match(r"\w+", template[i + 1 :])
            if not found:
                out.append(ch)
                i += 1
                continue
            name = found.group(0)
            i += 1 + len(name)
        out.append(_group(match, name))
    return "".join(out)


def _group(match: re.Match[str], name: str) -> str:
    try:
        value = match.group(int(name)) if name.isdigit() else match.group(name)
    except IndexError:  # no such group: Go expands it to nothing
        return ""
    return value or ""
