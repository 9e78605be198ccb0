"""Review benchmark: open a 100,000-event log with ``incident-console review`` and move through it.

Run it as a script (it is not a test): ``python tests/bench/review.py [--events 100000]
[--dir /var/tmp] [--moves 100]``. It writes a chained log in the shape of a real incident
(mostly output, rounds of check, confirmed action, check; the journal benchmark's generator)
into DIR, starts ``incident-console review LOG`` in a pseudo-terminal of 160x45 (the console
screen benchmark's driver: byte code compiled first, as an installed console has it) and reads
what it writes, as a terminal would:

- first frame: from starting the process until the status bar (``entry 1/N``) has reached the
  terminal (verify and the fold of the whole log go on after it);
- moves: from writing a key until the status bar naming the entry it moves to has arrived:
  forward from the start while verify and the whole fold still run, forward and backward
  (backward from the end restarts from checkpoints) once they are done, the end of the log,
  and the next milestone from the start;
- the analysis: seconds until the banner says the chain is verified and until the figures
  (TTD...) are shown.

It prints the figures and the targets met or missed as Markdown.
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "bench"))

from journal import write_big_log  # noqa: E402
from screen import Console  # noqa: E402

from console.tui.review import _QUIET_ENDINGS  # noqa: E402

FIRST_FRAME_TARGET_S = 2.0
MOVE_TARGET_MS = 50.0
DOWN, UP, HOME, END, NEXT_MILESTONE = b"\x1b[B", b"\x1b[A", b"\x1b[H", b"\x1b[F", b"]"
SIZE = (160, 45)
VERIFIED, FIGURES = b"chain verified", b"TTD "  # the banner's and the figures' words


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * 0.95) - 1, 0)]


class Walk:
    """Where each key takes the review screen: the entries it stops at (not output or
    snapshots, told from the end of their line as the screen tells them)."""

    def __init__(self, path: Path) -> None:
        lines = path.read_bytes().split(b"\n")[:-1]
        self.total = len(lines)
        self.stops = [i for i, line in enumerate(lines) if not line.endswith(_QUIET_ENDINGS)]
        self.cursor = 0

    def move(self, direction: int) -> int:
        """The cursor after one move (a stop), which the status bar shows as ``entry N/``."""
        if direction > 0:
            at = bisect.bisect_right(self.stops, self.cursor)
        else:
            at = bisect.bisect_left(self.stops, self.cursor) - 1
        if 0 <= at < len(self.stops):
            self.cursor = self.stops[at]
        return self.cursor

    def status(self, index: int) -> bytes:
        return f"entry {index + 1}/{self.total} ".encode()


def measure(path: Path, moves: int, home: Path) -> dict[str, float | list[float]]:
    """Start ``review`` on the log and time the first frame, the moves and the analysis."""
    out: dict[str, float | list[float]] = {}
    walk = Walk(path)
    warm = Console(home, REPO, SIZE, ("review", str(path)))  # writes the byte code
    try:
        warm.wait_for(walk.status(0), timeout=120)
    finally:
        warm.stop()
    screen = Console(home, REPO, SIZE, ("review", str(path)))
    screen.watch = (VERIFIED, FIGURES)
    try:
        out["first_frame_s"] = screen.wait_for(walk.status(0), timeout=120) - screen.started

        def press(key: bytes, mark: bytes) -> float:
            began = screen.press(key)
            return (screen.wait_for(mark, timeout=60) - began) * 1000

        def keys(key: bytes, direction: int, count: int) -> list[float]:
            times = []
            for _ in range(count):
                times.append(press(key, walk.status(walk.move(direction))))
                screen.drain(0.05)  # keys 50 ms apart, as a person holding an arrow key
            return times

        out["forward_busy_ms"] = keys(DOWN, 1, moves)
        deadline = time.perf_counter() + 300
        while FIGURES not in screen.seen and time.perf_counter() < deadline:
            screen.drain(0.2)
        out["verified_s"] = screen.seen.get(VERIFIED, float("nan")) - screen.started
        out["figures_s"] = screen.seen.get(FIGURES, float("nan")) - screen.started
        screen.drain(1.0)
        out["forward_ms"] = keys(DOWN, 1, moves)
        walk.cursor = walk.total - 1
        out["end_ms"] = [press(END, walk.status(walk.total - 1))]
        screen.drain(0.5)
        out["backward_ms"] = keys(UP, -1, moves)
        milestones = []
        for _ in range(3):  # from the start to the next milestone (this log's is at its end)
            press(HOME, walk.status(0))
            screen.drain(0.3)
            milestones.append(press(NEXT_MILESTONE, b"entry "))
            screen.drain(0.3)
        out["milestone_ms"] = milestones
    finally:
        screen.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="size of the log")
    parser.add_argument("--moves", type=int, default=100, help="key presses per measure")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where to write it")
    args = parser.parse_args()
    handle, name = tempfile.mkstemp(prefix="review-bench-", suffix=".jsonl", dir=args.dir)
    os.close(handle)
    path = Path(name)
    home = Path(tempfile.mkdtemp(prefix="review-bench-home-", dir=args.dir))
    try:
        events = write_big_log(path, args.events)
        size_mb = path.stat().st_size / 1e6
        figures = measure(path, args.moves, home)
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".review.jsonl").unlink(missing_ok=True)

    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    first = float(figures["first_frame_s"])  # type: ignore[arg-type]
    load = os.getloadavg()[0]
    print(
        f"## Review benchmark ({os.cpu_count()} cores, load {load:.1f}, {events:,} events, "
        f"{size_mb:.0f} MB)\n"
    )
    print("| measure | figure | target | |")
    print("| --- | --- | --- | --- |")
    print(
        f"| first frame (from starting the process) | {first:.2f} s "
        f"| <= {FIRST_FRAME_TARGET_S:g} s | {mark(first <= FIRST_FRAME_TARGET_S)} |"
    )
    for key, label in (
        ("forward_busy_ms", "next event, while the log is verified and folded"),
        ("forward_ms", "next event"),
        ("backward_ms", "previous event, from the end (checkpoints)"),
        ("end_ms", "end of the log"),
        ("milestone_ms", "next milestone, from the start"),
    ):
        values: list[float] = figures[key]  # type: ignore[assignment]
        worst = p95(values)
        print(
            f"| {label} | median {statistics.median(values):.1f} ms, p95 {worst:.1f} ms, "
            f"max {max(values):.1f} ms | p95 <= {MOVE_TARGET_MS:g} ms "
            f"| {mark(worst <= MOVE_TARGET_MS)} |"
        )
    print(f"| banner verified | {figures['verified_s']:.2f} s after starting | | |")
    print(f"| milestones and figures known | {figures['figures_s']:.2f} s after starting | | |")


if __name__ == "__main__":
    main()
