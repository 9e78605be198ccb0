"""Reading incident logs from disk: raw lines for verify, typed events for fold, export, timeline.

Every line the writer finishes ends with a newline, so bytes after the last newline are a torn
tail: a write the crash cut short. Anything else that does not parse is reported as
a problem naming the file, line and the seq it should have had.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from console.errors import ConsoleError, Problem
from console.journal.events import Event

_CHUNK = 1 << 22
MAX_LINE_BYTES = 16 << 20  # the writer's biggest line is far smaller (output is capped per node)
MAX_DEPTH = 32  # the deepest event the console writes is about 6 levels of objects and lists
MAX_INT_DIGITS = 20  # enough for any seq, exit code or count; more is a hostile line


class LogUnreadable(ConsoleError):
    """The file cannot be read at all, or holds no incident-log event."""


class RawLine(NamedTuple):
    """One line of the log as bytes (newline stripped), where it is, and whether it is torn.

    A named tuple, not a dataclass: a big log has millions of them."""

    number: int
    offset: int
    data: bytes
    torn: bool = False


@dataclass(frozen=True)
class TornTail:
    """The bytes after the last newline: a write cut short by a crash, not tampering."""

    offset: int
    length: int
    line: int
    data: bytes


@dataclass
class ReadResult:
    """A whole log: the events that parse, the problems of the lines that do not, the torn tail."""

    path: Path
    events: list[Event] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    torn_tail: TornTail | None = None


class LongLine(bytes):
    """The first bytes of a line longer than ``MAX_LINE_BYTES``; ``size`` is its real length.

    Only the start is kept, so a hostile gigabyte line cannot exhaust memory; offsets after it
    stay right because they add up ``size``."""

    size: int

    def __new__(cls, head: bytes, size: int) -> LongLine:
        line = super().__new__(cls, head)
        line.size = size
        return line


def line_size(line: bytes) -> int:
    """The length of ``line`` in the file (a ``LongLine`` was cut when it was read)."""
    return line.size if isinstance(line, LongLine) else len(line)


class LineBatch(NamedTuple):
    """Consecutive lines as read: the first one's line number and byte offset, then the lines
    (newlines stripped). ``torn``: the batch is the final unterminated bytes."""

    number: int
    offset: int
    lines: list[bytes]
    torn: bool = False


def read_batches(path: str | Path, *, offset: int = 0, number: int = 1) -> Iterator[LineBatch]:
    """Yield the log's lines a few MiB at a time; the final unterminated bytes come as torn.

    A line over ``MAX_LINE_BYTES`` comes as a ``LongLine``: its start only, which
    ``parse_record`` refuses. ``offset`` and ``number`` start the reading at a line already
    known (how ``review --follow`` reads what was appended). Raises ``LogUnreadable`` if the file
    cannot be opened or read.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise LogUnreadable(f"{path}: cannot read the log: {exc.strerror or exc}") from None
    try:
        handle.seek(offset)
        rest = b""
        skipped = 0  # bytes of an over-long line dropped after its kept start
        while True:
            try:
                chunk = handle.read(_CHUNK)
            except OSError as exc:
                raise LogUnreadable(f"{path}: cannot read the log: {exc.strerror or exc}") from None
            if not chunk:
                break
            if skipped:
                end = chunk.find(b"\n")
                if end < 0:
                    skipped += len(chunk)
                    continue
                first, chunk = LongLine(rest, len(rest) + skipped + end), chunk[end + 1 :]
                yield LineBatch(number, offset, [first])
                number, offset, rest, skipped = number + 1, offset + first.size + 1, b"", 0
            *complete, rest = (rest + chunk).split(b"\n")
            complete = [_bounded(line) for line in complete]
            if complete:
                yield LineBatch(number, offset, complete)
                number += len(complete)
                offset += sum(line_size(line) for line in complete) + len(complete)
            if len(rest) > MAX_LINE_BYTES:
                skipped, rest = len(rest) - MAX_LINE_BYTES, rest[:MAX_LINE_BYTES]
        if rest or skipped:
            tail = LongLine(rest, len(rest) + skipped) if skipped else rest
            yield LineBatch(number, offset, [tail], torn=True)
    finally:
        handle.close()


def _bounded(line: bytes) -> bytes:
    """``line``, or its start as a ``LongLine`` if it is over ``MAX_LINE_BYTES``."""
    return LongLine(line[:MAX_LINE_BYTES], len(line)) if len(line) > MAX_LINE_BYTES else line


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _too_deep(value: Any) -> bool:
    """Whether objects and lists nest deeper than ``MAX_DEPTH`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_record(data: bytes) -> dict[str, Any]:
    """The JSON object of one line; raises ``ValueError`` saying why it is not one.

    Bounded, so no line can crash or exhaust a reader: at most ``MAX_LINE_BYTES`` long,
    ``MAX_DEPTH`` levels deep and ``MAX_INT_DIGITS`` digits per integer.
    """
    if isinstance(data, LongLine) or len(data) > MAX_LINE_BYTES:
        size = line_size(data)
        raise ValueError(f"a line of {size} bytes, over the limit of {MAX_LINE_BYTES}")
    try:
        # decoding first: twice as fast as bytes
        record = json.loads(data.decode("utf-8"), parse_int=_bounded_int)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, or an integer too long
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    # Counting brackets is quick and most lines have few; only those with many are walked.
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and _too_deep(record):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return record


def parse_event(record: dict[str, Any]) -> Event:
    """Validate a record as an event; raises ``ValueError`` with a one-line reason."""
    try:
        return Event.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ValueError(
            f"not a valid {record.get('type')!s} event: {where}: {first['msg']}"
        ) from None


def read_log(path: str | Path) -> ReadResult:
    """Read a whole log into typed events, collecting problems instead of stopping at them.

    Raises ``LogUnreadable`` when the file cannot be read or no line of it is an event.
    """
    result = ReadResult(Path(path))
    for batch in read_batches(path):
        if batch.torn:
            data = batch.lines[0]
            result.torn_tail = TornTail(batch.offset, line_size(data), batch.number, data)
            break
        for number, data in enumerate(batch.lines, batch.number):
            expected = result.events[-1].seq + 1 if result.events else 0
            try:
                event = parse_event(parse_record(data))
            except ValueError as exc:
                result.problems.append(
                    Problem(str(path), number, f"seq {expected}: {exc}", code="journal")
                )
                continue
            result.events.append(event)
            result.lines.append(number)
    if not result.events:
        raise LogUnreadable(f"{path}:1: not an incident log (no line holds an event)")
    return result


def follow_log(
    path: str | Path, *, poll_s: float = 0.2, sleep: Callable[[float], None] = time.sleep
) -> Generator[Event | Problem, None, None]:
    """Yield the log's events as they are appended, like ``tail -f``; never returns by itself.

    Lines that do not parse come as problems. A partial last line is held until it completes.
    Raises ``LogUnreadable`` if the file cannot be opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise LogUnreadable(f"{path}: cannot read the log: {exc.strerror or exc}") from None
    try:
        number, rest = 1, b""
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                sleep(poll_s)
                continue
            buf = rest + chunk
            *complete, rest = buf.split(b"\n")
            if len(rest) > MAX_LINE_BYTES:  # keep the start: parse_record refuses it anyway
                rest = LongLine(rest[:MAX_LINE_BYTES], len(rest))
            for data in complete:
                data = _bounded(data)
                try:
                    yield parse_event(parse_record(data))
                except ValueError as exc:
                    yield Problem(str(path), number, str(exc), code="journal")
                number += 1
    finally:
        os.close(fd)
