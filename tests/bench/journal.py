"""Journal benchmark: append rate, decision durability, and verify against sha256sum.

Run it as a script (it is not a test): ``python tests/bench/journal.py [--events 1000000]
[--dir DIR]``. DIR defaults to a temporary folder under the current directory, so fsync hits a
real disk (not a tmpfs ``/tmp``). It measures:

- append: ``block.output`` events emitted back to back through ``JournalLog`` with the default
  policy (``fsync: always``, group commit 200 ms), events per second;
- decisions: ``note`` events (fsynced before ``emit`` returns) while a second task streams output
  into the same log, the latency of ``emit`` (median, p99, max);
- verify: a log of ``--events`` events in the shape of a real incident (mostly output, every
  action confirmed and followed by a check), verified by ``incident-console verify``'s engine,
  against ``sha256sum`` of the same file.

It prints the figures, the targets met or missed, as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.journal.chain import GENESIS, body_hash, canonical_json, join_line  # noqa: E402
from console.journal.events import (  # noqa: E402
    ActionConfirmed,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    IncidentClosed,
    IncidentOpened,
    NodeResult,
    Note,
    Payload,
)
from console.journal.log import JournalLog  # noqa: E402
from console.journal.verify import verify_path  # noqa: E402

LINE = "member 8e9e05c52164694d is healthy: got healthy result from https://10.0.0.12:2379\n"
APPEND_TARGET = 10_000
DECISION_P99_TARGET_MS = 20.0
VERIFY_TARGET_S = 10.0


def output(run: str, node: str, i: int) -> BlockOutput:
    return BlockOutput(run=run, block="status", node=node, stream="stdout", text=f"{i} {LINE}")


async def measure_append(folder: Path, count: int) -> float:
    """Output events per second, group-committed."""
    log = JournalLog.create(folder, None, "bench append", actor="bench@host")
    payloads = [output("r1", f"m{i % 3}", i) for i in range(count)]
    started = time.perf_counter()
    for payload in payloads:
        await log.emit(payload)
    elapsed = time.perf_counter() - started
    await log.close()
    return count / elapsed


async def measure_decisions(folder: Path, count: int) -> list[float]:
    """Milliseconds each decision's ``emit`` took, with output streaming alongside."""
    log = JournalLog.create(folder, None, "bench decisions", actor="bench@host")
    done = asyncio.Event()

    async def stream() -> None:
        i = 0
        while not done.is_set():
            for _ in range(20):
                await log.emit(output("r1", "m1", i))
                i += 1
            await asyncio.sleep(0.002)  # about 5k output events a second

    streamer = asyncio.create_task(stream())
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        await log.emit(Note(text=f"decision {i}"))
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    done.set()
    await streamer
    await log.close()
    return latencies


def incident_payloads(count: int) -> list[Payload]:
    """A realistic mix: rounds of check, confirmed action, check, mostly output."""
    out: list[Payload] = []
    round_ = 0
    while len(out) < count - 2:
        for kind in ("check", "action"):
            run = f"{kind[0]}{round_}"
            block = "health" if kind == "check" else "restart"
            if kind == "action":
                out.append(ActionConfirmed(run=run, block=block, nodes=["m1", "m2", "m3"]))
            out.append(
                BlockStarted(
                    run=run,
                    block=block,
                    kind=kind,
                    lang="sh",
                    command="etcdctl endpoint health",
                    nodes=["m1", "m2", "m3"],
                )
            )
            for node in ("m1", "m2", "m3"):
                out += [
                    BlockOutput(run=run, block=block, node=node, stream="stdout", text=LINE)
                ] * 30
                out.append(NodeResult(run=run, block=block, node=node, verdict="pass", exit=0))
            out.append(BlockFinished(run=run, block=block, verdict="pass"))
        round_ += 1
    # End on a check so the policy holds, then close.
    out = out[: count - 2]
    while not isinstance(out[-1], BlockFinished) or out[-1].run.startswith("a"):
        out.pop()
    return out


def write_big_log(path: Path, count: int) -> int:
    """Write a chained log of about ``count`` events directly (the writer's line format)."""
    payloads = [IncidentOpened(title="bench verify"), *incident_payloads(count)]
    prev = GENESIS
    with open(path, "wb") as handle:
        for seq, payload in enumerate(payloads):
            record = {
                "v": 1,
                "seq": seq,
                "ts": "2026-11-22T10:12:01.250000Z",
                "mono": 1000.0 + seq / 1000,
                "type": payload.TYPE,
                "incident": "INC-20261122T101201Z-bench-verify",
                "actor": "bench@host",
                "mode": "test",
                "data": payload.model_dump(mode="json"),
                "prev": prev,
            }
            body = canonical_json(record)
            prev = body_hash(body)
            handle.write(join_line(body, prev) + b"\n")
        closing = IncidentClosed(final_seq=len(payloads) - 1, head_hash=prev)
        record = {**record, "seq": len(payloads), "type": closing.TYPE, "prev": prev}
        record["data"] = closing.model_dump(mode="json")
        body = canonical_json(record)
        handle.write(join_line(body, body_hash(body)) + b"\n")
    return len(payloads) + 1


def measure_verify(path: Path) -> tuple[float, float, int]:
    """Seconds to verify the log, seconds for sha256sum of it, findings."""
    started = time.perf_counter()
    report = verify_path(path)
    verify_s = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, stdout=subprocess.DEVNULL)
    sha_s = time.perf_counter() - started
    return verify_s, sha_s, len(report.findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="size of the verify log")
    parser.add_argument("--append", type=int, default=50_000, help="output events to append")
    parser.add_argument("--decisions", type=int, default=500, help="decisions to time")
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp dir in .)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="journal-bench-", dir=args.dir or Path.cwd()))
    try:
        rate = asyncio.run(measure_append(folder / "append", args.append))
        latencies = sorted(asyncio.run(measure_decisions(folder / "decide", args.decisions)))
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        big = folder / "verify.jsonl"
        started = time.perf_counter()
        events = write_big_log(big, args.events)
        written_s = time.perf_counter() - started
        verify_s, sha_s, findings = measure_verify(big)
        size_mb = big.stat().st_size / 1e6
    finally:
        shutil.rmtree(folder)

    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"## Journal benchmark ({os.cpu_count()} cores)\n")
    print("| measure | figure | target | |")
    print("| --- | --- | --- | --- |")
    print(
        f"| append, output events (group commit) | {rate:,.0f} events/s "
        f"| >= {APPEND_TARGET:,}/s | {mark(rate >= APPEND_TARGET)} |"
    )
    print(
        f"| decision durable (emit, fsync) | median {statistics.median(latencies):.2f} ms, "
        f"p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms | p99 <= {DECISION_P99_TARGET_MS:g} ms "
        f"| {mark(p99 <= DECISION_P99_TARGET_MS)} |"
    )
    print(
        f"| verify {events:,} events ({size_mb:,.0f} MB, {findings} findings) | {verify_s:.2f} s "
        f"| <= {VERIFY_TARGET_S:g} s | {mark(verify_s <= VERIFY_TARGET_S)} |"
    )
    print(f"| sha256sum of the same file | {sha_s:.2f} s | | ratio {verify_s / sha_s:.1f}x |")
    print(f"\n(writing the verify log took {written_s:.1f} s)")


if __name__ == "__main__":
    main()
