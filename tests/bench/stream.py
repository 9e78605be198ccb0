"""Streaming-output benchmark: keypress to paint while three nodes stream, and what the log kept.

Run it as a script (it is not a test):
``python tests/bench/stream.py [--seconds 60] [--rate 10000] [--line-bytes 100]``.
It starts OpenSSH sshd on loopback for three nodes (``tests/execute/sshd.py``) and
``incident-console open`` on a two-step runbook in a pseudo-terminal of 120x40
(``tests/bench/screen.py``'s ``Console``). Step 1's check runs on the three nodes a generator
that writes ``--rate`` lines a second in total (every 100 ms, each node a tenth of its share,
fixed-width lines) for ``--seconds`` and then ``--past-cap`` seconds more.
``execution.output_cap`` is raised so that exactly the lines of the first ``--seconds`` fit
(plus half a line): the stream reaches the screen for all of them, and what comes after is cut.

- keypress: while it streams, ``down`` and ``up`` alternately in the steps list, each from the
  moment the key is written until the terminal has received the repaint of the newly
  highlighted step's title; median, p95 and max, per direction too (``up`` comes back to the
  streaming block, whose output pane is redrawn as output arrives);
- memory: the console process's resident size (``/proc/PID/status``) before the block starts,
  each second while it streams, and its peak (``VmHWM``); once the cap is reached it must stay
  flat while the nodes go on streaming;
- CPU: the console's user+system time over the stream;
- the log: after the console has quit, the journal's ``block.output`` text of each node is
  every line the generator wrote up to the cap, in order and without a gap, and its
  ``output.truncated`` counts the rest exactly (bytes and lines).

It prints the figures and the targets met or missed as Markdown, and exits 1 when the log is
not exact or memory grew past its bound.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.screen import DOWN, OPEN, UP, Console  # noqa: E402
from tests.execute.sshd import SshdCluster, loopback_addresses  # noqa: E402

NODES = 3
TICK_S = 0.1
STEP_TITLES = {DOWN: b"2. Read the aftermath", UP: b"1. Watch the flow"}
"""The steps list's rows: with the number, so the timeline's "step 1: Watch the flow" (repainted
with any relayout) cannot be mistaken for the highlight's repaint."""
PREFIX = "line "  # every generated line: PREFIX, a 12-digit number, a space, filler, newline
DIGITS = 12
ENTER = b"\r"
MEMORY_SLACK = 96 << 20
"""What the console may grow by besides the kept output: screen buffers, asyncssh windows,
Python's allocator keeping freed arenas."""
KEPT_FACTOR = 3
"""Bytes of memory the console may hold per byte of kept output: one copy shared by the runner,
the journal's fold and the screen, the node's whole output joined once at its end for judging,
and what the allocator keeps (see docs/performance.md, "Streaming output")."""
PAST_CAP_GROWTH = 16 << 20
"""What the console may grow by while the nodes stream past the cap (nothing is kept)."""


def filler(line_bytes: int) -> str:
    """The constant tail that makes every line ``line_bytes`` long (newline included)."""
    room = line_bytes - len(PREFIX) - DIGITS - 2
    if room < 0:
        raise SystemExit(f"--line-bytes must be at least {len(PREFIX) + DIGITS + 2}")
    return ("of the stream, as a busy service would log it " * 8)[:room]


def generator(per_tick: int, ticks: int, line_bytes: int) -> str:
    """The check's body: ``per_tick`` lines every 100 ms for ``ticks`` ticks.

    Lines are counted, not timed: a node that falls behind writes the same lines late."""
    fmt = f"{PREFIX}%0{DIGITS}.0f {filler(line_bytes)}"
    return "\n".join(
        [
            f"per={per_tick}; ticks={ticks}; n=0; i=0; t0=$(date +%s%N)",
            'while [ "$i" -lt "$ticks" ]; do',
            f'  seq -f "{fmt}" $((n + 1)) $((n + per))',
            "  n=$((n + per)); i=$((i + 1))",
            f"  left=$((t0 + i * {int(TICK_S * 1e9)} - $(date +%s%N)))",
            '  if [ "$left" -gt 0 ]; then sleep "0.$(printf %09d "$left")"; fi',
            "done",
        ]
    )


def runbook(body: str, timeout_s: int) -> str:
    """Two steps: the streaming check, and a quiet one to move to."""
    return (
        "---\nid: stream-bench\nnodes: all\n---\n# Stream bench\n\n"
        "## 1. Watch the flow\n\nThree nodes write as fast as a busy service logs.\n\n"
        f"```sh check\n#| id: flow\n#| timeout: {timeout_s}s\n{body}\n```\n\n"
        "## 2. Read the aftermath\n\nNothing runs here; the highlight comes and goes.\n\n"
        "```sh check\n#| id: quiet\ntrue\n```\n"
    )


def config(cluster: SshdCluster, cap: int, timeout_s: int) -> str:
    nodes = "".join(
        f"  - {{name: {d['name']}, host: {d['host']}, port: {d['port']}}}\n"
        for d in cluster.node_dicts()
    )
    return (
        "profile: dev\n"
        f"nodes:\n{nodes}"
        f"ssh: {{config: null, known_hosts: {cluster.known_hosts}, identity_files: "
        f"[{cluster.client_key}], agent: false, user: {cluster.user}}}\n"
        f"execution: {{output_cap: {cap}, timeout: {timeout_s}s}}\n"
        "runbooks: []\nchecks: []\n"
        "journal: {dir: ./incidents}\n"
    )


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """What one benchmark run measured."""

    keys: dict[bytes, list[float]] = field(default_factory=lambda: {DOWN: [], UP: []})
    rss: list[tuple[float, int]] = field(default_factory=list)
    rss_before: int = 0
    peak: int = 0
    cpu_s: float = 0.0
    stream_s: float = 0.0
    log: Path | None = None


def journal_of(home: Path) -> Path:
    logs = sorted((home / "incidents").glob("*.jsonl"))
    if len(logs) != 1:
        raise SystemExit(f"expected one incident log, found {logs}")
    return logs[0]


def finished(log: Path) -> bool:
    """Has the log recorded the end of the ``flow`` block?"""
    with log.open("rb") as handle:
        handle.seek(max(0, log.stat().st_size - (1 << 16)))
        tail = handle.read()
    return b'"type":"block.finished"' in tail and b'"block":"flow"' in tail


def drive(home: Path, args: argparse.Namespace, stream_s: float) -> Run:
    """Open the console, run the streaming check, press keys while it streams, quit."""
    argv = ["open", str(home / "stream.md"), "--config", str(home / "console.yaml")]
    console = Console(home, args.repo, args=argv)
    pid = console.process.pid
    run = Run()
    try:
        console.wait_for(OPEN)
        console.wait_for(STEP_TITLES[UP])
        console.drain(1.0)
        run.rss_before = proc_status(pid)["VmRSS"]
        cpu = cpu_seconds(pid)
        console.press(ENTER)  # enter step 1: its first block, the stream, is selected
        console.drain(0.5)
        console.press(b"r")
        # The stream is on screen: any of its first 10,000 lines (the pane shows the newest
        # lines, so line 1 itself may already have scrolled away by the first redraw).
        began = console.wait_for(f"{PREFIX}{0:0{DIGITS - 4}d}".encode(), timeout=30)
        console.press(b"\x1b")  # back to the steps list
        console.drain(0.5)
        index = 0
        next_sample = began
        while (now := time.perf_counter()) < began + stream_s:
            if now >= next_sample:
                run.rss.append((now - began, proc_status(pid)["VmRSS"]))
                next_sample += 1.0
            key = DOWN if index % 2 == 0 else UP
            pressed = console.press(key)
            run.keys[key].append(console.wait_for(STEP_TITLES[key], timeout=60) - pressed)
            console.drain(args.gap)
            index += 1
        log = journal_of(home)
        deadline = time.perf_counter() + stream_s + 120
        while not finished(log):
            if time.perf_counter() > deadline:
                raise SystemExit("the flow block never finished")
            console.drain(0.5)
        run.stream_s = time.perf_counter() - began
        run.cpu_s = cpu_seconds(pid) - cpu
        run.peak = proc_status(pid)["VmHWM"]
        console.press(b"q")
        quit_by = time.perf_counter() + 60
        while console.process.poll() is None:  # read on: a full terminal would block its exit
            if time.perf_counter() > quit_by:
                raise SystemExit("the console did not quit within 60 s of q")
            try:
                console.drain(0.2)
            except OSError:  # EIO: the console has closed its terminal
                break
        run.log = log
    finally:
        console.stop()
    return run


@dataclass
class NodeLog:
    """What the journal holds of one node's stdout in the ``flow`` block."""

    text: list[str] = field(default_factory=list)
    truncated: dict[str, int] | None = None
    verdict: str = ""


def read_log(log: Path) -> tuple[dict[str, NodeLog], int]:
    """Each node's journalled output of ``flow``, and how many output events there were."""
    nodes: dict[str, NodeLog] = {}
    events = 0
    flow_runs: set[str] = set()
    with log.open() as handle:
        for line in handle:
            event = json.loads(line)
            data = event["data"]
            if event["type"] == "block.started" and data["block"] == "flow":
                flow_runs.add(data["run"])
            if data.get("run") not in flow_runs:
                continue
            node = nodes.setdefault(data.get("node", ""), NodeLog())
            if event["type"] == "block.output":
                events += 1
                if data["stream"] == "stdout":
                    node.text.append(data["text"])
            elif event["type"] == "output.truncated":
                node.truncated = data
            elif event["type"] == "node.result":
                node.verdict = data["verdict"]
    nodes.pop("", None)
    return nodes, events


def check_log(
    nodes: dict[str, NodeLog], paced: int, produced_lines: int, line_bytes: int, cap: int
) -> list[str]:
    """Problems with the log: a line missing or out of order, counts that do not add up.

    ``paced``: the lines each node wrote before the cap; ``produced_lines``: all it wrote."""
    problems: list[str] = []
    if len(nodes) != NODES:
        problems.append(f"output of {len(nodes)} nodes in the log, expected {NODES}")
    tail = filler(line_bytes)
    produced_bytes = produced_lines * line_bytes
    for name, node in sorted(nodes.items()):
        text = "".join(node.text)
        lines = text.split("\n")
        partial = lines.pop()  # what follows the last newline: the line the cap cut
        for number, line in enumerate(lines, start=1):
            if line != f"{PREFIX}{number:0{DIGITS}d} {tail}":
                problems.append(f"{name}: line {number} of the log is {line[:40]!r}")
                break
        kept = len(text.encode())
        expected_kept = min(cap, produced_bytes)
        if kept != expected_kept:
            problems.append(f"{name}: {kept} bytes in the log, expected {expected_kept}")
        if len(lines) < paced:
            problems.append(f"{name}: {len(lines)} whole lines in the log, {paced} were paced")
        cut = node.truncated
        if produced_lines > paced and cut is None:
            problems.append(f"{name}: no output.truncated although the cap was passed")
        if cut is not None:
            if cut["kept_bytes"] != kept or cut["kept_bytes"] + cut["dropped_bytes"] != (
                produced_bytes
            ):
                problems.append(f"{name}: truncated bytes {cut} do not add up to {produced_bytes}")
            if len(lines) + cut["dropped_lines"] != produced_lines:
                problems.append(
                    f"{name}: {len(lines)} lines kept + {cut['dropped_lines']} dropped != "
                    f"{produced_lines} produced"
                )
            if partial and not f"{PREFIX}{len(lines) + 1:0{DIGITS}d} {tail}".startswith(partial):
                problems.append(f"{name}: the cut line {partial[:40]!r} is not the next line")
        if node.verdict != "pass":
            problems.append(f"{name}: verdict {node.verdict or 'missing'}")
    return problems


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(size: float) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long the nodes stream")
    parser.add_argument("--rate", type=int, default=10_000, help="lines a second, all nodes")
    parser.add_argument("--line-bytes", type=int, default=100, help="bytes of each line")
    parser.add_argument(
        "--past-cap", type=int, default=10, help="seconds the nodes go on streaming past the cap"
    )
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between keypresses")
    parser.add_argument(
        "--repo", type=Path, default=REPO, help="the checkout to run (compare with an older one)"
    )
    args = parser.parse_args()
    ticks = round(args.seconds / TICK_S)
    past_ticks = round(args.past_cap / TICK_S)
    per_tick = max(1, round(args.rate / NODES * TICK_S))
    paced = per_tick * ticks
    cap = max(1024, paced * args.line_bytes + args.line_bytes // 2)
    timeout_s = (args.seconds + args.past_cap) * 3 + 120
    body = generator(per_tick, ticks + past_ticks, args.line_bytes)
    load = os.getloadavg()
    cluster = SshdCluster.start(loopback_addresses(NODES, first=220))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
            home = Path(tmp)
            (home / "stream.md").write_text(runbook(body, timeout_s))
            (home / "console.yaml").write_text(config(cluster, cap, timeout_s))
            run = drive(home, args, args.seconds + args.past_cap)
            assert run.log is not None
            nodes, events = read_log(run.log)
    finally:
        cluster.stop()
    problems = check_log(nodes, paced, per_tick * (ticks + past_ticks), args.line_bytes, cap)
    report(args, run, events, per_tick, cap, load)
    kept = sum(len("".join(n.text).encode()) for n in nodes.values())
    bound = run.rss_before + KEPT_FACTOR * kept + MEMORY_SLACK
    if run.peak > bound:
        problems.append(
            f"peak RSS {mib(run.peak)} is over {mib(run.rss_before)} + {KEPT_FACTOR} x "
            f"{mib(kept)} kept + {mib(MEMORY_SLACK)}"
        )
    past = [rss for at, rss in run.rss if at >= args.seconds + 1]
    if len(past) >= 2 and max(past) - past[0] > PAST_CAP_GROWTH:
        problems.append(
            f"RSS grew from {mib(past[0])} to {mib(max(past))} while the nodes streamed past "
            "the cap"
        )
    at_cap = [rss for at, rss in run.rss if at <= args.seconds + 1]
    if at_cap and run.rss:
        first = run.rss[0][1]
        print(
            f"kept output {mib(kept)} in all; RSS from the first second to the cap "
            f"{mib(first)} -> {mib(at_cap[-1])} ({(at_cap[-1] - first) / max(kept, 1):.2f} bytes "
            f"per kept byte), past the cap {mib(past[0] if past else 0)} -> "
            f"{mib(max(past) if past else 0)}"
        )
    print()
    print(f"log: {'exact' if not problems else 'PROBLEMS'}; peak RSS bound {mib(bound)}")
    for problem in problems:
        print(f"- {problem}")
    sys.exit(1 if problems else 0)


def report(
    args: argparse.Namespace,
    run: Run,
    events: int,
    per_tick: int,
    cap: int,
    load: tuple[float, float, float],
) -> None:
    rate = per_tick * NODES / TICK_S
    print(
        f"{NODES} nodes, {rate:.0f} lines/s in all for {args.seconds} s, "
        f"{args.line_bytes}-byte lines, then {args.past_cap} s more past the cap "
        f"({cap} bytes per node); load average before {load[0]:.2f}, "
        f"after {os.getloadavg()[0]:.2f}"
    )
    print()
    every = run.keys[DOWN] + run.keys[UP]
    print("| keypress to paint while streaming | keys | median | p95 | max | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    rows = [("all", every), ("down, away from the stream", run.keys[DOWN])]
    rows.append(("up, back to the stream", run.keys[UP]))
    for label, values in rows:
        if len(values) < 2:
            print(f"| {label} | {len(values)} | | | | too few keys |")
            continue
        p95 = statistics.quantiles(values, n=20)[-1]
        met = ("met" if p95 <= 0.1 else "**missed**") if label == "all" else ""
        print(
            f"| {label} | {len(values)} | {ms(statistics.median(values))} | {ms(p95)} | "
            f"{ms(max(values))} | {'p95 ≤ 100 ms: ' + met if met else ''} |"
        )
    print()
    print(
        f"block.output events: {events} ({events / max(run.stream_s, 1e-9):.0f}/s); "
        f"console CPU {run.cpu_s:.1f} s over {run.stream_s:.1f} s "
        f"({100 * run.cpu_s / max(run.stream_s, 1e-9):.0f}% of a core)"
    )
    samples = run.rss[:: max(1, len(run.rss) // 6)] + run.rss[-1:]
    print(
        f"RSS before the block {mib(run.rss_before)}; while streaming "
        + ", ".join(f"{t:.0f} s {mib(r)}" for t, r in samples)
        + f"; peak {mib(run.peak)}"
    )


if __name__ == "__main__":
    main()
