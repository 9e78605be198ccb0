"""YAML loading that remembers where each key came from.

Every file a user writes is YAML or holds YAML (front matter, ``#|`` options), and every error
must name its line. ``load_yaml`` returns the data together with a ``LineMap`` from key paths to
lines, and ``validation_problems`` turns a pydantic ``ValidationError`` into problems that name
file, line and key.

The loader follows YAML 1.2 for booleans: only ``true``/``false`` are booleans, so the runbook
option ``on:`` stays the string key ``"on"`` instead of becoming ``True`` as in YAML 1.1.
Duplicate keys are reported rather than silently overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from console.errors import Problem, ProblemList, Severity

Path_ = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (no yes/no/on/off)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass
class LineMap:
    """Lines (1-based, in the original file) of every key path in a YAML document."""

    lines: dict[Path_, int] = field(default_factory=dict)
    default: int = 1

    def line_for(self, path: Iterable[str | int]) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), self.default)


@dataclass
class YamlDoc:
    """A parsed YAML document with its line map."""

    data: Any
    lines: LineMap


def load_yaml(
    text: str,
    file: str | Path,
    *,
    line_offset: int = 0,
    problems: ProblemList | None = None,
) -> YamlDoc | None:
    """Parse one YAML document; on a syntax error record a problem and return ``None``.

    ``line_offset`` is added to every line, for YAML embedded in a larger file (front matter,
    ``#|`` options). Duplicate keys are recorded as problems too (the last value wins).
    """
    sink = problems if problems is not None else ProblemList()
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        _reader_problem(exc, text, file, line_offset, sink)
        return None
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDoc(None, LineMap(default=line_offset + 1))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1 if mark else 1) + line_offset
        reason = exc.problem or str(exc)
        if exc.context:
            reason = f"{exc.context}, {reason}"
        sink.add(file, line, f"bad YAML: {reason}", code="yaml")
        return None
    except yaml.reader.ReaderError as exc:
        _reader_problem(exc, text, file, line_offset, sink)
        return None
    except yaml.YAMLError as exc:
        sink.add(file, line_offset + 1, f"bad YAML: {exc}", code="yaml")
        return None
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. unhashable key
        sink.add(file, line_offset + 1, f"bad YAML: {exc}", code="yaml")
        return None
    finally:
        loader.dispose()
    lines = LineMap(default=line_offset + 1)
    _walk(node, (), lines, line_offset, file, sink)
    return YamlDoc(data, lines)


def _reader_problem(
    exc: yaml.reader.ReaderError, text: str, file: str | Path, offset: int, sink: ProblemList
) -> None:
    """Record a character YAML refuses (control characters) at its line."""
    line = text.count("\n", 0, max(exc.position, 0)) + 1 + offset
    message = f"bad YAML: control character U+{exc.character:04X} is not allowed"
    sink.add(file, line, message, code="yaml")


def _walk(
    node: yaml.Node,
    path: Path_,
    lines: LineMap,
    offset: int,
    file: str | Path,
    sink: ProblemList,
) -> None:
    lines.lines.setdefault(path, node.start_mark.line + 1 + offset)
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            key: object = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1 + offset
            if key in seen:
                sink.add(
                    file,
                    line,
                    f"duplicate key {key!r} (first at line {seen[key]}); the last one wins",
                    key=".".join(str(p) for p in (*path, str(key))),
                    code="duplicate-key",
                )
            seen[key] = line
            child = (*path, str(key))
            lines.lines[child] = line
            _walk(value_node, child, lines, offset, file, sink)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.lines[child] = item.start_mark.line + 1 + offset
            _walk(item, child, lines, offset, file, sink)


def dotted(loc: Iterable[str | int]) -> str:
    """A key path as people write it: ``nodes[2].host``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def validation_problems(
    exc: ValidationError,
    file: str | Path,
    lines: LineMap,
    *,
    data: Any = None,
    prefix: Path_ = (),
) -> list[Problem]:
    """Turn pydantic errors into problems naming the file, line and dotted key.

    ``data`` is the validated input; with it, pydantic's union and tag markers are dropped from
    each error location so the key matches what the user wrote.
    """
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err.get("loc", ())), data, err.get("type") == "missing")
        full = (*prefix, *loc)
        out.append(
            Problem(
                str(file),
                lines.line_for(full),
                _message(err),
                key=dotted(full) or None,
                severity=Severity.ERROR,
                code="invalid",
            )
        )
    return out


def _clean_loc(loc: tuple[Any, ...], data: Any, missing: bool) -> Path_:
    """Keep only the location parts that exist in ``data`` (plus a final missing key)."""
    if data is None:
        return tuple(p for p in loc if isinstance(p, str | int))
    out: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            out.append(part)
            current = current[part]
        elif missing and index == len(loc) - 1 and isinstance(part, str):
            out.append(part)  # a missing key
    return tuple(out)


def _message(err: Any) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        key = str(ctx.get("discriminator", "kind")).strip("'")
        return f"unknown {key} {ctx.get('tag')!r}: expected one of " + str(
            ctx.get("expected_tags", "")
        ).replace("'", "")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg
