"""Real Redis servers for the library tests (Debian's redis-server), on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers import binary, wait_until


def redis_cli(host: str, port: int, *command: str) -> str:
    """What ``redis-cli`` prints for ``command`` (empty when nothing answers)."""
    result = subprocess.run(
        [binary("redis-cli", "redis-tools"), "-h", host, "-p", str(port), *command],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.stdout


def start_redis(
    folder: Path, port: int, *args: str, host: str = "127.0.0.1"
) -> subprocess.Popen[bytes]:
    """A redis-server on ``host:port`` keeping its files in ``folder``, answering PING."""
    folder.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [
            binary("redis-server", "redis-server"),
            *("--port", str(port), "--bind", host, "--dir", str(folder)),
            *("--save", "", "--appendonly", "no", *args),
        ],
        stdout=(folder / "log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: redis_cli(host, port, "ping") == "PONG\n", 20, f"redis on {host}:{port}")
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a server and reap it."""
    process.kill()
    process.wait(10)
