"""Console screen benchmark: start to first painted frame, and keypress to paint while idle.

Run it as a script (it is not a test): ``python tests/bench/screen.py [--runs 7] [--keys 200]``.
It starts ``incident-console demo`` (the bundled drill) in a pseudo-terminal of 120x40, as a
person would in a terminal, and reads what the console writes to it:

- start: from just before the process is started until the terminal has received the first
  frame (``Opening the drill``: the console paints it before it builds the drill), and until it
  has received the open console's (the status bar's ``events`` has been painted); the median
  of ``--runs`` starts after one warm-up start, with byte code compiled as an installed
  console has it (a private ``PYTHONPYCACHEPREFIX``). A checkout that paints nothing before
  it is open (``--repo``) has one frame for both;
- keypress: in one of those consoles, idle, ``down`` and ``up`` alternately in the steps list,
  each from the moment the key is written until the terminal has received the repaint that
  shows the newly highlighted step's title (the header's clock cannot be mistaken for it);
  median, p95 and max of ``--keys`` presses, 300 ms apart; and until the step's text has been
  drawn beside it (the console draws it once the highlight has rested 60 ms).

It prints the figures and the targets met or missed as Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OPENING = b"Opening the drill"  # the first frame, painted before the drill is built
OPEN = b"events"  # the open console's status bar
DOWN, UP = b"\x1b[B", b"\x1b[A"
MARKS = {DOWN: b"Find out why", UP: b"Confirm quorum"}  # steps 2 and 1 of the bundled runbook
PROSE = {DOWN: b"corrupt", UP: b"fewer"}  # words of those steps' text


class Console:
    """``incident-console demo`` (or ``args``) on a pseudo-terminal of its own.

    ``tests/bench/stream.py`` drives ``open`` with it, ``tests/bench/review.py`` ``review``."""

    def __init__(
        self,
        home: Path,
        repo: Path,
        size: tuple[int, int] = (120, 40),
        args: Sequence[str] = ("demo",),
    ) -> None:
        master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLORTERM": "truecolor",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "PYTHONPATH": str(repo),
            "PYTHONPYCACHEPREFIX": str(home / "pycache"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.master = master
        self.unread = b""
        self.watch: tuple[bytes, ...] = ()
        self.seen: dict[bytes, float] = {}
        self._tail = b""
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=home,
            start_new_session=True,
        )
        os.close(slave)

    def wait_for(self, mark: bytes, timeout: float = 20.0) -> float:
        """Read until ``mark`` has been written to the terminal; when it was (perf_counter).

        What was read after the mark is kept for the next wait."""
        now = time.perf_counter()
        deadline = now + timeout
        while (found := self.unread.find(mark)) < 0:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{mark!r} never reached the terminal")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self.unread = self.unread[-len(mark) :] + self.read()
                now = time.perf_counter()
        self.unread = self.unread[found + len(mark) :]
        return now

    def read(self) -> bytes:
        """What the console wrote since the last read, noting when each ``watch`` mark first
        arrived (in ``seen``): marks written while a measure waits for something else."""
        data = os.read(self.master, 1 << 16)
        now = time.perf_counter()
        for mark in self.watch:
            if mark not in self.seen and mark in self._tail + data:
                self.seen[mark] = now
        self._tail = data[-64:]
        return data

    def drain(self, seconds: float) -> None:
        """Read and drop what the console writes for ``seconds``."""
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self.read()
        self.unread = b""

    def press(self, key: bytes) -> float:
        """Write ``key``; when (perf_counter)."""
        self.unread = b""
        os.write(self.master, key)
        return time.perf_counter()

    def stop(self) -> None:
        """Stop the console and everything it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.master)


def start_seconds(home: Path, repo: Path) -> tuple[float, float]:
    """One start: seconds from starting the process to its first frame, and to the open
    console's."""
    console = Console(home, repo)
    console.watch = (OPENING,)
    try:
        opened = console.wait_for(OPEN)
        first = min(console.seen.get(OPENING, opened), opened)
        return first - console.started, opened - console.started
    finally:
        console.stop()


def keypress_seconds(home: Path, repo: Path, keys: int) -> tuple[list[float], list[float]]:
    """Keypress to the highlight's paint, and to the step text's, of ``keys`` presses."""
    console = Console(home, repo)
    highlight: list[float] = []
    text: list[float] = []
    try:
        console.wait_for(OPEN)
        console.wait_for(MARKS[UP])  # the runbook is open, its steps listed
        console.drain(2.0)  # the first poll lands
        for index in range(keys):
            key = DOWN if index % 2 == 0 else UP
            pressed = console.press(key)
            highlight.append(console.wait_for(MARKS[key], timeout=5.0) - pressed)
            text.append(console.wait_for(PROSE[key], timeout=5.0) - pressed)
            console.drain(0.2)
    finally:
        console.stop()
    return highlight, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="starts measured (median counts)")
    parser.add_argument("--keys", type=int, default=200, help="keypresses measured")
    parser.add_argument(
        "--repo", type=Path, default=REPO, help="the checkout to run (compare with an older one)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-screen-") as tmp:
        home = Path(tmp)
        start_seconds(home, args.repo)  # warm-up: compiles the byte code, fills the OS caches
        starts = [start_seconds(home, args.repo) for _ in range(args.runs)]
        keys, texts = keypress_seconds(home, args.repo, args.keys)
    start = statistics.median(first for first, _ in starts)
    opened = statistics.median(open_ for _, open_ in starts)
    p95 = statistics.quantiles(keys, n=20)[-1]
    print("| measure | median | p95 | max | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    met = "met" if start <= 0.5 else "**missed**"
    print(
        f"| start to first frame ({args.runs} starts) | {start * 1000:.0f} ms | "
        f"| {max(first for first, _ in starts) * 1000:.0f} ms | median ≤ 500 ms: {met} |"
    )
    print(
        f"| start to the open console ({args.runs} starts) | {opened * 1000:.0f} ms | "
        f"| {max(open_ for _, open_ in starts) * 1000:.0f} ms | |"
    )
    met = "met" if p95 <= 0.05 else "**missed**"
    print(
        f"| keypress to paint, idle ({args.keys} keys) | "
        f"{statistics.median(keys) * 1000:.1f} ms | {p95 * 1000:.1f} ms | "
        f"{max(keys) * 1000:.1f} ms | p95 ≤ 50 ms: {met} |",
    )
    print(
        f"| keypress to the step's text, idle | {statistics.median(texts) * 1000:.1f} ms | "
        f"{statistics.quantiles(texts, n=20)[-1] * 1000:.1f} ms | {max(texts) * 1000:.1f} ms | |",
        flush=True,
    )


if __name__ == "__main__":
    main()
