"""Fan-out benchmark: one check on 50 and 200 nodes, cold and warm.

Run it as a script (it is not a test): ``python tests/bench/fanout.py [--sizes 50 200]``. It
starts OpenSSH sshd on loopback (127.0.0.2 onwards, into 127.0.1.x; OpenSSH binds at most 16
addresses per daemon, so 200 nodes take 13 daemons sharing one config, with ``MaxStartups`` and
``MaxSessions`` raised), logs in as a dedicated account with ``/bin/sh`` and no rc files
(created with useradd when running as root), and times:

- the console: ``RunbookSession.run_block`` on a one-line check, cold (new connections) and
  warm (the pooled connections of the previous run), with the default ``ssh:`` settings;
- the floor: raw asyncssh, connect and run in a bare ``gather``, no console;
- ``parallel-ssh`` (Debian pssh), one OpenSSH client per node;
- ``ansible`` ad-hoc with the ``raw`` module (pip install ansible-core), cold and then warm over
  its ControlPersist sockets.

It prints the figures, the ratios and the targets met or missed, as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import asyncssh  # noqa: E402

from console.config import Config, Node, SSHSettings  # noqa: E402
from console.execute.session import RunbookSession  # noqa: E402
from console.execute.targets import LiveTargets  # noqa: E402
from console.journal.sink import MemorySink  # noqa: E402
from console.runbook.parse import parse_runbook  # noqa: E402
from tests.execute.sshd import SshdCluster, loopback_addresses  # noqa: E402

COMMAND = "echo hi"
RUNBOOK = """---
id: bench
nodes: all
---
# Bench

## 1. Fan out

```sh check
#| id: hello
#| expect: {stdout: hi}
echo hi
```
"""


@dataclass
class Figures:
    """Timings for one fleet size (seconds), with failure counts."""

    nodes: int
    console_cold: list[float] = field(default_factory=list)
    console_warm: list[float] = field(default_factory=list)
    console_cpu_per_conn_ms: list[float] = field(default_factory=list)
    raw_cold: list[float] = field(default_factory=list)
    raw_warm: list[float] = field(default_factory=list)
    raw_cpu_per_conn_ms: list[float] = field(default_factory=list)
    pssh: list[float] = field(default_factory=list)
    pssh_cpu_per_conn_ms: list[float] = field(default_factory=list)
    ansible_cold: list[float] = field(default_factory=list)
    ansible_warm: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, tool: str, count: int) -> None:
        if count:
            self.failures[tool] = self.failures.get(tool, 0) + count


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def settings(cluster: SshdCluster) -> SSHSettings:
    return SSHSettings(
        config=None,
        known_hosts=cluster.known_hosts,
        identity_files=[cluster.client_key],
        agent=False,
        user=cluster.user,
    )


async def console_runs(cluster: SshdCluster, count: int, figures: Figures, repeat: int) -> None:
    """Cold: a new session (new connections) per run; warm: re-runs on the last session."""
    nodes = [Node.model_validate(d) for d in cluster.node_dicts()[:count]]
    config = Config(nodes=nodes, ssh=settings(cluster))
    runbook, problems = parse_runbook(RUNBOOK, "bench.md")
    assert runbook is not None, [str(p) for p in problems]
    block = runbook.blocks()[0]
    session: RunbookSession | None = None
    for index in range(repeat):
        if session is not None:
            await session.close()
        session = RunbookSession(runbook, config, MemorySink(), targets=LiveTargets(config))
        cpu, began = time.process_time(), time.perf_counter()
        run = await session.run_block(block)
        figures.console_cold.append(time.perf_counter() - began)
        figures.console_cpu_per_conn_ms.append((time.process_time() - cpu) / count * 1000)
        figures.fail("console", sum(n.verdict != "pass" for n in run.nodes))
        if index == 0 and run.verdict != "pass":
            print(f"  console cold run: {run.reason}", file=sys.stderr)
    assert session is not None
    for _ in range(repeat + 2):
        began = time.perf_counter()
        run = await session.run_block(block)
        figures.console_warm.append(time.perf_counter() - began)
        figures.fail("console", sum(n.verdict != "pass" for n in run.nodes))
    await session.close()


async def raw_runs(cluster: SshdCluster, count: int, figures: Figures, repeat: int) -> None:
    """The floor: asyncssh connect + run in a bare gather, the same keys and known_hosts."""
    known = asyncssh.read_known_hosts(str(cluster.known_hosts))
    key = asyncssh.read_private_key(str(cluster.client_key))
    hosts = cluster.addresses[:count]

    async def one(host: str) -> asyncssh.SSHClientConnection:
        conn = await asyncssh.connect(
            host,
            cluster.port,
            username=cluster.user,
            known_hosts=known,
            client_keys=[key],
            agent_path=None,
            config=None,
        )
        result = await conn.run(COMMAND)
        if result.stdout != "hi\n":
            figures.fail("raw", 1)
        return conn

    conns: list[asyncssh.SSHClientConnection] = []
    for _ in range(repeat):
        for conn in conns:
            conn.close()
        cpu, began = time.process_time(), time.perf_counter()
        conns = list(await asyncio.gather(*(one(h) for h in hosts)))
        figures.raw_cold.append(time.perf_counter() - began)
        figures.raw_cpu_per_conn_ms.append((time.process_time() - cpu) / count * 1000)
    for _ in range(repeat + 2):
        began = time.perf_counter()
        results = await asyncio.gather(*(c.run(COMMAND) for c in conns))
        figures.raw_warm.append(time.perf_counter() - began)
        figures.fail("raw", sum(r.stdout != "hi\n" for r in results))
    for conn in conns:
        conn.close()
        await conn.wait_closed()


def pssh_runs(cluster: SshdCluster, count: int, figures: Figures, repeat: int, work: Path) -> None:
    """parallel-ssh: one ssh process per node, all at once."""
    binary = shutil.which("parallel-ssh")
    if binary is None:
        print("  parallel-ssh not found: apt-get install pssh", file=sys.stderr)
        return
    hosts = work / f"hosts-{count}"
    hosts.write_text(
        "".join(f"{cluster.user}@{a}:{cluster.port}\n" for a in cluster.addresses[:count])
    )
    ssh_args = (
        f"-o UserKnownHostsFile={cluster.known_hosts} -o IdentitiesOnly=yes "
        f"-i {cluster.client_key} -o BatchMode=yes -F /dev/null"
    )
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        out = subprocess.run(
            [binary, "-h", str(hosts), "-p", str(count), "-t", "60", "-x", ssh_args, COMMAND],
            capture_output=True,
            text=True,
        )
        figures.pssh.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        figures.pssh_cpu_per_conn_ms.append(cpu / count * 1000)
        figures.fail("parallel-ssh", count - out.stdout.count("[SUCCESS]"))


def ansible_runs(cluster: SshdCluster, count: int, figures: Figures, work: Path) -> None:
    """ansible ad-hoc, raw module: cold (fresh ControlPath dir), then warm over its sockets."""
    binary = shutil.which("ansible")
    if binary is None:
        print("  ansible not found: pip install ansible-core", file=sys.stderr)
        return
    inventory = work / f"inventory-{count}.ini"
    lines = [
        f"{d['name']} ansible_host={d['host']} ansible_port={d['port']}"
        for d in cluster.node_dicts()[:count]
    ]
    inventory.write_text(
        "[all]\n" + "\n".join(lines) + "\n\n[all:vars]\n"
        f"ansible_user={cluster.user}\n"
        f"ansible_ssh_private_key_file={cluster.client_key}\n"
        f"ansible_ssh_common_args='-o UserKnownHostsFile={cluster.known_hosts} "
        "-o IdentitiesOnly=yes -F /dev/null'\n"
    )
    control = Path(tempfile.mkdtemp(prefix="ic-ansible-cp-", dir=work))
    env = {
        **os.environ,
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
        "ANSIBLE_HOME": str(work / "ansible-home"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
    }
    command = [binary, "all", "-i", str(inventory), "-m", "raw", "-a", COMMAND, "-f", str(count)]
    try:
        for bucket in (figures.ansible_cold, figures.ansible_warm):
            began = time.perf_counter()
            out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
            bucket.append(time.perf_counter() - began)
            figures.fail("ansible", count - out.stdout.count("CHANGED"))
    finally:
        _end_control_masters(control)


def _end_control_masters(control: Path) -> None:
    """Stop the ssh ControlPersist masters ansible started for this run (found by their path)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(control).encode() in cmdline and cmdline.startswith(b"ssh"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGTERM)


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value == value else "n/a"


def ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.1f}x" if fast and slow == slow else "n/a"


def report(all_figures: list[Figures]) -> None:
    print(
        "\n| nodes | console cold | console warm | raw cold | raw warm | parallel-ssh | "
        "ansible cold | ansible warm |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in all_figures:
        print(
            f"| {f.nodes} | {seconds(median(f.console_cold))} | "
            f"{seconds(median(f.console_warm))} | {seconds(median(f.raw_cold))} | "
            f"{seconds(median(f.raw_warm))} | {seconds(median(f.pssh))} | "
            f"{seconds(median(f.ansible_cold))} | {seconds(median(f.ansible_warm))} |"
        )
    print(
        "\n| nodes | vs raw cold | vs raw warm | parallel-ssh ÷ console cold | "
        "ansible ÷ console (cold) | ansible ÷ console (warm) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in all_figures:
        print(
            f"| {f.nodes} | {ratio(median(f.console_cold), median(f.raw_cold))} | "
            f"{ratio(median(f.console_warm), median(f.raw_warm))} | "
            f"{ratio(median(f.pssh), median(f.console_cold))} | "
            f"{ratio(median(f.ansible_cold), median(f.console_cold))} | "
            f"{ratio(median(f.ansible_warm), median(f.console_warm))} |"
        )
    print("\nclient CPU per cold connection (connect + one command): ")
    for f in all_figures:
        print(
            f"- {f.nodes} nodes: console {median(f.console_cpu_per_conn_ms):.1f} ms, raw asyncssh "
            f"{median(f.raw_cpu_per_conn_ms):.1f} ms, parallel-ssh "
            f"{median(f.pssh_cpu_per_conn_ms):.1f} ms"
        )
    print("\nfailures (nodes that did not answer 'hi'):", end=" ")
    print(", ".join(f"{f.nodes} nodes: {f.failures or 'none'}" for f in all_figures))
    print("\ntargets:")
    by_size = {f.nodes: f for f in all_figures}
    checks: list[tuple[str, Callable[[], bool]]] = []
    if 50 in by_size:
        f = by_size[50]
        checks += [
            ("50 warm <= 0.3 s", lambda f=f: median(f.console_warm) <= 0.3),
            ("50 cold <= 2 s", lambda f=f: median(f.console_cold) <= 2),
            (
                "50 cold >= 3x faster than parallel-ssh",
                lambda f=f: median(f.pssh) >= 3 * median(f.console_cold),
            ),
        ]
    if 200 in by_size:
        f = by_size[200]
        checks += [
            ("200 cold <= 5 s", lambda f=f: median(f.console_cold) <= 5),
            ("200 warm <= 1 s", lambda f=f: median(f.console_warm) <= 1),
        ]
    for f in all_figures:
        checks += [
            (
                f"{f.nodes}: >= 10x faster than ansible (cold and warm)",
                lambda f=f: (
                    median(f.ansible_cold) >= 10 * median(f.console_cold)
                    and median(f.ansible_warm) >= 10 * median(f.console_warm)
                ),
            ),
            (
                f"{f.nodes}: within 1.5x of raw asyncssh (cold and warm)",
                lambda f=f: (
                    median(f.console_cold) <= 1.5 * median(f.raw_cold)
                    and median(f.console_warm) <= 1.5 * median(f.raw_warm)
                ),
            ),
            (
                f"{f.nodes}: zero client-caused failures",
                lambda f=f: not f.failures.get("console") and not f.failures.get("raw"),
            ),
        ]
    for label, check in checks:
        print(f"- [{'x' if check() else ' '}] {label}")


async def measure(
    cluster: SshdCluster, count: int, repeat: int, work: Path, ansible: bool
) -> Figures:
    figures = Figures(count)
    steps: list[tuple[str, Callable[[], Awaitable[None] | None]]] = [
        ("raw asyncssh", lambda: raw_runs(cluster, count, figures, repeat)),
        ("console", lambda: console_runs(cluster, count, figures, repeat)),
        ("parallel-ssh", lambda: pssh_runs(cluster, count, figures, repeat, work)),
    ]
    if ansible:
        steps.append(("ansible", lambda: ansible_runs(cluster, count, figures, work)))
    for name, step in steps:
        print(f"{count} nodes: {name}...", file=sys.stderr)
        result = step()
        if result is not None:
            await result
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--repeat", type=int, default=3, help="cold runs per tool (warm: +2)")
    parser.add_argument("--no-ansible", action="store_true", help="skip ansible (slowest)")
    args = parser.parse_args()
    cluster = SshdCluster.start(
        loopback_addresses(max(args.sizes)), max_startups=1000, max_sessions=64
    )
    work = Path(tempfile.mkdtemp(prefix="ic-bench-"))
    print(
        f"sshd: {len(cluster.procs)} daemon(s), {len(cluster.addresses)} addresses, port "
        f"{cluster.port}, user {cluster.user}, MaxStartups 1000, MaxSessions 64",
        file=sys.stderr,
    )
    try:
        figures = [
            asyncio.run(measure(cluster, n, args.repeat, work, not args.no_ansible))
            for n in args.sizes
        ]
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(figures)


if __name__ == "__main__":
    main()
