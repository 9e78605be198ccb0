"""Review benchmark: open a 100,000-event log in ``review`` and move through it.

Run it as a script (it is not a test): ``python tests/bench/review.py [--events 100000]
[--dir /var/tmp] [--moves 200]``. It writes a chained log in the shape of a real incident
(mostly output, rounds of check, confirmed action, check; the journal benchmark's generator)
into DIR, then drives the review screen headless (Textual's pilot, 160x45) and measures:

- first frame: from reading the log to the first painted screen (verify and the fold of the
  whole log go on after it);
- moves: one key to the next painted screen, ``--moves`` times each way: forward from the
  start and backward from the end (which restarts from checkpoints), while the thread is still
  reading the log and after it finished;
- the analysis (verify, then the fold of the whole log, in slices between keys): seconds until
  the banner is verified and until the figures are known.

It prints the figures and the targets met or missed as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
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

from console.tui.review import ReviewApp, open_replay  # noqa: E402

FIRST_FRAME_TARGET_S = 2.0
MOVE_TARGET_MS = 50.0


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * 0.95) - 1, 0)]


async def measure(path: Path, moves: int) -> dict[str, float | list[float]]:
    """Open the log in the review screen and time the first frame and the moves."""
    out: dict[str, float | list[float]] = {}
    started = time.perf_counter()
    app = ReviewApp(open_replay(path))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        out["first_frame_s"] = time.perf_counter() - started

        async def press(key: str) -> float:
            began = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            return (time.perf_counter() - began) * 1000

        async def watch() -> None:
            while app.report is None:
                await asyncio.sleep(0.05)
            out["verified_s"] = time.perf_counter() - started
            while app.figures is None:
                await asyncio.sleep(0.05)
            out["figures_s"] = time.perf_counter() - started

        watcher = asyncio.create_task(watch())
        out["forward_busy_ms"] = [await press("down") for _ in range(moves)]
        await watcher
        out["idle_ms"] = [await press("x") for _ in range(20)]  # bound to nothing
        out["forward_ms"] = [await press("down") for _ in range(moves)]
        out["end_ms"] = [await press("end")]
        out["backward_ms"] = [await press("up") for _ in range(moves)]
        out["milestone_ms"] = [await press("left_square_bracket") for _ in range(3)]
        await press("end")
        updates = []
        for _ in range(moves):  # the fold and the widgets' update, without the paint
            began = time.perf_counter()
            app.action_move(-1)
            updates.append((time.perf_counter() - began) * 1000)
        out["backward_update_ms"] = updates
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="size of the log")
    parser.add_argument("--moves", type=int, default=200, help="key presses per direction")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where to write it")
    args = parser.parse_args()
    handle, name = tempfile.mkstemp(prefix="review-bench-", suffix=".jsonl", dir=args.dir)
    os.close(handle)
    path = Path(name)
    try:
        events = write_big_log(path, args.events)
        size_mb = path.stat().st_size / 1e6
        figures = asyncio.run(measure(path, args.moves))
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".review.jsonl").unlink(missing_ok=True)

    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    first = float(figures["first_frame_s"])  # type: ignore[arg-type]
    print(f"## Review benchmark ({os.cpu_count()} cores, {events:,} events, {size_mb:.0f} MB)\n")
    print("| measure | figure | target | |")
    print("| --- | --- | --- | --- |")
    print(
        f"| first frame | {first:.2f} s | <= {FIRST_FRAME_TARGET_S:g} s "
        f"| {mark(first <= FIRST_FRAME_TARGET_S)} |"
    )
    for key, label in (
        ("forward_busy_ms", "next event, while the log is verified and folded"),
        ("idle_ms", "a key bound to nothing (the pilot's own cost)"),
        ("forward_ms", "next event"),
        ("backward_ms", "previous event, from the end (checkpoints)"),
        ("end_ms", "end of the log"),
        ("milestone_ms", "previous milestone"),
        ("backward_update_ms", "previous event from the end, fold and update only (no paint)"),
    ):
        values: list[float] = figures[key]  # type: ignore[assignment]
        worst = p95(values)
        print(
            f"| {label} | median {statistics.median(values):.1f} ms, p95 {worst:.1f} ms, "
            f"max {max(values):.1f} ms | p95 <= {MOVE_TARGET_MS:g} ms "
            f"| {mark(worst <= MOVE_TARGET_MS)} |"
        )
    print(f"| banner verified | {figures['verified_s']:.2f} s after opening | | |")
    print(f"| milestones and figures known | {figures['figures_s']:.2f} s after opening | | |")


if __name__ == "__main__":
    main()
