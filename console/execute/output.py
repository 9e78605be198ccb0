"""What a node printed: decoded, capped, and counted exactly past the cap.

Each node may keep up to ``cap`` bytes across its two streams. Past that, bytes are counted
but not kept, so memory stays bounded whatever a node prints, and the truncation is reported
with exact dropped byte and line counts: nothing disappears silently. The cut never splits a
UTF-8 character. Bytes that are not UTF-8 are replaced with U+FFFD and the chunk is flagged.

Text is handed on in whole lines (a line longer than ``LINE_HOLD`` characters goes out in
pieces), so the journal's redaction sees a secret whole even when the node wrote it across two
reads.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from console.execute.target import Stream

LINE_HOLD = 8192
"""Characters of an unfinished line held back before they are handed on anyway."""


@dataclass(frozen=True)
class Truncation:
    """Output of one stream dropped past the cap; the counts are exact."""

    stream: Stream
    kept_bytes: int
    dropped_bytes: int
    dropped_lines: int


@dataclass(frozen=True)
class Decoded:
    """A chunk's kept text, and whether it held bytes that are not UTF-8."""

    text: str
    invalid_utf8: bool


@dataclass
class _StreamState:
    decoder: codecs.BufferedIncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("strict")
    )
    parts: list[str] = field(default_factory=list)
    kept: int = 0
    dropped: int = 0
    dropped_newlines: int = 0
    ends_with_newline: bool = True
    invalid: bool = False
    pending: str = ""
    pending_invalid: bool = False

    def whole_lines(self, text: str, invalid: bool) -> Decoded | None:
        """The complete lines of what is held plus ``text``; keep the unfinished rest."""
        held = self.pending + text
        self.pending_invalid = self.pending_invalid or invalid
        cut = held.rfind("\n") + 1
        if cut == 0 and len(held) < LINE_HOLD:
            self.pending = held
            return None
        cut = cut or len(held)
        self.pending = held[cut:]
        out = Decoded(held[:cut], self.pending_invalid)
        self.pending_invalid = False
        return out


class NodeOutput:
    """Accumulates one node's output under a byte cap shared by stdout and stderr."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._room = cap
        self._streams: dict[Stream, _StreamState] = {
            "stdout": _StreamState(),
            "stderr": _StreamState(),
        }

    def add(self, stream: Stream, data: bytes) -> Decoded | None:
        """Take a chunk; return the text to show (``None`` when all of it was dropped)."""
        state = self._streams[stream]
        keep = min(len(data), self._room)
        if keep < len(data):
            keep = _char_boundary(data, keep)
            dropped = memoryview(data)[keep:]
            state.dropped += len(dropped)
            state.dropped_newlines += data.count(b"\n", keep)
            state.ends_with_newline = data.endswith(b"\n")
            self._room = 0
        else:
            self._room -= keep
        if keep == 0:
            return None
        state.kept += keep
        text, invalid = _decode(state, data[:keep] if keep < len(data) else data)
        if not text and not invalid:
            return None
        out = state.whole_lines(text, invalid)
        if out is not None:
            # Keep the very string handed on: the journal and the screen's fold hold it too,
            # so a node's kept output is in memory once, not once per holder.
            state.parts.append(out.text)
        return out

    def finish(self) -> dict[Stream, Decoded]:
        """Flush the decoders at end of output; an unfinished character counts as invalid."""
        out: dict[Stream, Decoded] = {}
        for name, state in self._streams.items():
            text, invalid = _decode(state, b"", final=True)
            rest = state.pending + text
            if rest:
                state.parts.append(rest)
                out[name] = Decoded(rest, invalid or state.pending_invalid)
            state.pending, state.pending_invalid = "", False
        return out

    def text(self, stream: Stream) -> str:
        """Everything kept from ``stream``, decoded."""
        state = self._streams[stream]
        return "".join(state.parts) + state.pending

    @property
    def invalid_utf8(self) -> bool:
        """True if any kept bytes were not UTF-8."""
        return any(s.invalid for s in self._streams.values())

    def truncations(self) -> list[Truncation]:
        """The streams that lost output past the cap (call after ``finish``)."""
        out: list[Truncation] = []
        for name, state in self._streams.items():
            if state.dropped:
                lines = state.dropped_newlines + (0 if state.ends_with_newline else 1)
                out.append(Truncation(name, state.kept, state.dropped, lines))
        return out


def _char_boundary(data: bytes, cut: int) -> int:
    """Move ``cut`` back so it does not split a UTF-8 sequence (at most 3 bytes)."""
    back = cut
    while back > 0 and cut - back < 3 and (data[back] & 0xC0) == 0x80:
        back -= 1
    if back < cut and (data[back] & 0xC0) == 0xC0:
        return back
    return cut


def _decode(state: _StreamState, data: bytes, *, final: bool = False) -> tuple[str, bool]:
    decoder = state.decoder
    saved = decoder.getstate()
    try:
        return decoder.decode(data, final), False
    except UnicodeDecodeError:
        decoder.setstate(saved)
        decoder.errors = "replace"
        try:
            text = decoder.decode(data, final)
        finally:
            decoder.errors = "strict"
        state.invalid = True
        return text, True
