"""YAML loading that remembers where each key came from.

Every file a user writes is YAML or holds YAML (front matter, ``#|`` options), and every error
must name its line. ``load_yaml`` returns the data together with a ``LineMap`` from key paths to
lines, and ``validation_problems`` turns a pydantic ``ValidationError`` into problems that name
file, line and key.

The loader follows YAML 1.2 for booleans: only ``true``/``false`` are booleans, so the runbook
option ``on:`` stays the string key ``"on"`` instead of becoming ``True`` as in YAML 1.1.
Duplicate keys are reported rather than silently overwritten.

Hostile input is refused while the document is composed, before anything is built: at most
``MAX_DEPTH`` levels of nesting, ``MAX_ALIASES`` aliases, ``MAX_ALIAS_NODES`` nodes reached
through aliases (each alias is charged the size of what it points at, so a "billion laughs"
document stops at once), ``MAX_NODES`` nodes in all, no alias inside its own anchor and no NUL
in a string. Files are read by ``read_source``: regular files only, at most ``MAX_SOURCE_BYTES``.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from console.errors import Problem, ProblemList, Severity, SourceError

Path_ = tuple[str | int, ...]

MAX_DEPTH = 64
"""Levels of nesting in one YAML document (aliases count at the depth they are used)."""
MAX_ALIASES = 1_000
"""Aliases (``*name``) in one YAML document."""
MAX_ALIAS_NODES = 10_000
"""Nodes reached through aliases, each alias charged the whole size of its anchor."""
MAX_NODES = 250_000
"""Nodes in one YAML document, counting what aliases expand to."""
MAX_SOURCE_BYTES = 8 * 1024 * 1024
"""The largest file ``read_source`` reads (runbooks, config, inventory, catalog, ...)."""


class YamlLimitError(yaml.MarkedYAMLError):
    """A document that breaks one of the limits above; marked at the offending node."""

    def __init__(self, message: str, mark: yaml.Mark) -> None:
        super().__init__(problem=message, problem_mark=mark)


class _PyEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python reader, scanner and parser: only where PyYAML lacks libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


_EVENTS: type = yaml.cyaml.CParser if yaml.__with_libyaml__ else _PyEvents  # type: ignore[attr-defined]
"""Where parse events come from: libyaml (every PyYAML wheel has it) scans and parses about
ten times faster than Python, and start-up reads every bundled runbook."""


class _Loader(
    yaml.composer.Composer, _EVENTS, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """A safe loader with YAML 1.2 booleans (no yes/no/on/off) and bounded composition.

    Events come from ``_EVENTS``; nodes are composed here, in Python, so every node is counted
    against the limits before anything is built."""

    def __init__(self, stream: str) -> None:
        _EVENTS.__init__(self, stream)  # type: ignore[misc]
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._deepest = 0  # the deepest level reached since the innermost open anchor began
        self._nodes = 0
        self._aliases = 0
        self._alias_nodes = 0
        self._open_anchors: set[str] = set()
        self._anchor_size: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, depth)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, charging its size (or its anchor's, for an alias) to the limits."""
        if self.check_event(yaml.AliasEvent):
            return self._compose_alias()
        event = self.peek_event()
        anchor = event.anchor
        if self._depth >= MAX_DEPTH:
            raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        self._charge(1, event.start_mark)
        before, outer_deepest = self._nodes, self._deepest
        self._depth += 1
        self._deepest = max(self._deepest, self._depth)
        if anchor is not None:
            self._open_anchors.add(anchor)
            self._deepest = self._depth
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.discard(anchor)
        if anchor is not None:
            height = self._deepest - self._depth
            self._anchor_size[anchor] = (self._nodes - before + 1, height)
            self._deepest = max(outer_deepest, self._deepest)
        if isinstance(node, yaml.ScalarNode) and "\x00" in node.value:
            raise YamlLimitError("a NUL character is not allowed in a string", node.start_mark)
        return node

    def _compose_alias(self) -> yaml.Node | None:
        event = self.peek_event()
        anchor = event.anchor
        mark = event.start_mark
        if anchor in self._open_anchors:
            raise YamlLimitError(f"alias *{anchor} is used inside its own anchor", mark)
        size, height = self._anchor_size.get(anchor, (1, 1))
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise YamlLimitError(f"more than {MAX_ALIASES:,} aliases", mark)
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise YamlLimitError(
                f"alias *{anchor} takes the nodes reached through aliases past the limit of "
                f"{MAX_ALIAS_NODES:,}",
                mark,
            )
        if self._depth + height > MAX_DEPTH:
            raise YamlLimitError(
                f"alias *{anchor} nests the document more than {MAX_DEPTH} levels deep", mark
            )
        self._charge(size, mark)
        self._deepest = max(self._deepest, self._depth + height)
        return super().compose_node(None, 0)

    def _charge(self, size: int, mark: yaml.Mark) -> None:
        self._nodes += size
        if self._nodes > MAX_NODES:
            raise YamlLimitError(f"more than {MAX_NODES:,} nodes in one document", mark)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_source_bytes(
    path: str | Path, what: str, problems: ProblemList, *, limit: int = MAX_SOURCE_BYTES
) -> bytes | None:
    """The bytes of the regular file at ``path``, at most ``limit`` of them; else a problem.

    A FIFO, a device or a folder is refused without reading (opening never blocks), so a
    hostile path cannot hang or exhaust the console. ``/dev/null`` reads as empty, since
    ``--config /dev/null`` is the usual way to ask for no config.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        problems.add(path, 1, f"cannot read {what}: {exc.strerror or exc}", code="io")
        return None
    try:
        info = os.fstat(fd)
        if stat.S_ISCHR(info.st_mode) and _is_devnull(info):
            return b""
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            problems.add(path, 1, f"cannot read {what}: {kind}", code="io")
            return None
        if info.st_size > limit:
            problems.add(path, 1, _too_big(what, limit), code="io")
            return None
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        problems.add(path, 1, f"cannot read {what}: {exc.strerror or exc}", code="io")
        return None
    finally:
        os.close(fd)
    if size > limit:
        problems.add(path, 1, _too_big(what, limit), code="io")
        return None
    return b"".join(chunks)


def read_source(
    path: str | Path, what: str, problems: ProblemList, *, limit: int = MAX_SOURCE_BYTES
) -> str | None:
    """``read_source_bytes`` decoded as UTF-8 (undecodable bytes replaced)."""
    raw = read_source_bytes(path, what, problems, limit=limit)
    return None if raw is None else raw.decode("utf-8", errors="replace")


def read_source_or_raise(path: str | Path, what: str) -> str:
    """``read_source`` for a loader that has nothing to go on without the file: raise
    ``SourceError`` naming why it cannot be read."""
    problems = ProblemList()
    text = read_source(path, what, problems)
    if text is None:
        raise SourceError(problems)
    return text


@dataclass(frozen=True)
class YamlFileKind:
    """A kind of YAML file: a mapping whose key ``needs`` holds a ``kind`` (a catalog's
    ``checks:``, a rule file's ``groups:``). ``shape`` says so to the user."""

    what: str
    needs: str
    kind: type
    shape: str
    code: str


def read_yaml_file(
    path: str | Path, file_kind: YamlFileKind, problems: ProblemList
) -> YamlDoc | None:
    """The YAML file at ``path`` if it has the shape of ``file_kind``; else ``None`` once a
    problem says why not."""
    text = read_source(path, file_kind.what, problems)
    doc = None if text is None else load_yaml(text, path, problems=problems)
    if doc is None:
        return None
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get(file_kind.needs), file_kind.kind):
        problems.add(path, 1, file_kind.shape, code=file_kind.code)
        return None
    return doc


def _is_devnull(info: os.stat_result) -> bool:
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return info.st_rdev == null.st_rdev


def _too_big(what: str, limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
    return f"cannot read {what}: larger than the limit of {size}"


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
    except UnicodeEncodeError as exc:  # libyaml takes UTF-8: a lone surrogate cannot be one
        line = text.count("\n", 0, exc.start) + 1 + line_offset
        sink.add(
            file, line, f"bad YAML: U+{ord(text[exc.start]):04X} is not a character", code="yaml"
        )
        return None
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDoc(None, LineMap(default=line_offset + 1))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        last = max(text.count("\n", 0, len(text.rstrip("\n"))), 0)  # at the end: its last line
        line = (min(mark.line, last) + 1 if mark else 1) + line_offset
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


def unknown_keys(
    doc: YamlDoc,
    allowed: Sequence[str],
    file: str | Path,
    problems: ProblemList,
    *,
    what: str = "key",
    suggest: bool = False,
) -> bool:
    """Record each top-level key of ``doc`` (a mapping) that ``allowed`` lacks, at its line;
    ``suggest`` adds the nearest allowed key as a "did you mean" hint. Whether all were allowed.

    One place for the ``unknown-option`` problem, so runbooks and catalogs word it alike."""
    ok = True
    for key in doc.data:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1) if suggest else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.add(
            file,
            doc.lines.line_for((key,)),
            f"unknown {what} {key!r}{hint}",
            key=str(key),
            code="unknown-option",
        )
        ok = False
    return ok


def _reader_problem(
    exc: yaml.reader.ReaderError, text: str, file: str | Path, offset: int, sink: ProblemList
) -> None:
    """Record a character YAML refuses (control characters) at its line."""
    at = max(exc.position, 0)
    if _EVENTS is _PyEvents:
        line = text.count("\n", 0, at) + 1 + offset
    else:  # libyaml counts bytes of UTF-8
        line = text.encode("utf-8", "surrogatepass")[:at].count(b"\n") + 1 + offset
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
