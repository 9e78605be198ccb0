"""Output caps (console/execute/output.py): exact counts, UTF-8 cuts, invalid bytes flagged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from console.execute.output import LINE_HOLD, NodeOutput
from console.execute.target import Stream


def feed(cap: int, chunks: list[tuple[Stream, bytes]]) -> NodeOutput:
    out = NodeOutput(cap)
    for stream, data in chunks:
        out.add(stream, data)
    out.finish()
    return out


def test_output_under_the_cap_is_kept_whole() -> None:
    out = feed(1024, [("stdout", b"a\n"), ("stderr", b"oops\n"), ("stdout", b"b\n")])
    assert out.text("stdout") == "a\nb\n"
    assert out.text("stderr") == "oops\n"
    assert out.truncations() == []
    assert not out.invalid_utf8


def test_the_cap_is_shared_by_both_streams_and_counts_are_exact() -> None:
    out = feed(10, [("stdout", b"12345678\n"), ("stderr", b"abc\ndef\n"), ("stdout", b"x\ny")])
    assert out.text("stdout") == "12345678\n"
    assert out.text("stderr") == "a"
    cuts = {c.stream: c for c in out.truncations()}
    assert (cuts["stderr"].kept_bytes, cuts["stderr"].dropped_bytes) == (1, 7)
    assert cuts["stderr"].dropped_lines == 2
    assert (cuts["stdout"].kept_bytes, cuts["stdout"].dropped_bytes) == (9, 3)
    assert cuts["stdout"].dropped_lines == 2  # "x\n" and the unterminated "y"


def test_a_cut_never_splits_a_utf8_character() -> None:
    text = "é" * 10  # two bytes each
    out = feed(5, [("stdout", text.encode())])
    assert out.text("stdout") == "éé"
    (cut,) = out.truncations()
    assert (cut.kept_bytes, cut.dropped_bytes, cut.dropped_lines) == (4, 16, 1)
    assert not out.invalid_utf8


def test_a_character_split_across_chunks_is_joined() -> None:
    data = "€ok\n".encode()
    out = NodeOutput(100)
    first = out.add("stdout", data[:1])
    second = out.add("stdout", data[1:])
    assert first is None
    assert second is not None and second.text == "€ok\n"
    assert not second.invalid_utf8


def test_text_goes_on_in_whole_lines_so_a_split_secret_stays_whole() -> None:
    out = NodeOutput(1 << 20)
    assert out.add("stdout", b"login ok\npass") is not None  # "login ok\n" only
    held = out.add("stdout", b"word=hunter2")
    assert held is None  # an unfinished line waits for the rest of it
    line = out.add("stdout", b" rest\nnext")
    assert line is not None and line.text == "password=hunter2 rest\n"
    assert out.finish()["stdout"].text == "next"
    assert out.text("stdout") == "login ok\npassword=hunter2 rest\nnext"


def test_a_line_longer_than_the_hold_goes_on_in_pieces() -> None:
    out = NodeOutput(1 << 20)
    piece = out.add("stdout", b"x" * (LINE_HOLD + 10))
    assert piece is not None and len(piece.text) == LINE_HOLD + 10


def test_bytes_that_are_not_utf8_are_replaced_and_flagged() -> None:
    out = NodeOutput(100)
    good = out.add("stdout", b"fine\n")
    bad = out.add("stdout", b"\xff\xfebin\n")
    assert good is not None and not good.invalid_utf8
    assert bad is not None and bad.invalid_utf8
    assert bad.text == "\ufffd\ufffdbin\n"
    assert out.invalid_utf8


def test_a_stream_that_ends_mid_character_is_flagged() -> None:
    out = NodeOutput(100)
    out.add("stdout", "x€".encode()[:2])
    tail = out.finish()
    assert tail["stdout"].invalid_utf8
    assert out.text("stdout") == "x\ufffd"


@given(
    st.lists(st.binary(max_size=40), max_size=12),
    st.integers(min_value=0, max_value=120),
)
def test_kept_plus_dropped_is_everything_and_lines_are_exact(chunks: list[bytes], cap: int) -> None:
    out = NodeOutput(cap)
    for chunk in chunks:
        if chunk:
            out.add("stdout", chunk)
    out.finish()
    whole = b"".join(chunks)
    cuts = out.truncations()
    kept = cuts[0].kept_bytes if cuts else len(whole)
    dropped = cuts[0].dropped_bytes if cuts else 0
    assert kept + dropped == len(whole)
    assert kept <= cap
    if cuts:
        tail = whole[kept:]
        lines = tail.count(b"\n") + (0 if tail.endswith(b"\n") else 1)
        assert cuts[0].dropped_lines == lines
        assert kept >= cap - 3  # at most a partial character is given up
    assert out.text("stdout") == whole[:kept].decode("utf-8", errors="replace")
