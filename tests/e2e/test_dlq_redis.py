"""End to end: the DLQ pack's broker checks on a real Redis-backed queue, over real OpenSSH.

One node (its own 127.0.0.x address, where sshd sets ``REDIS_PORT``) with a real redis-server
holding the stream ``orders``, read by the consumer group ``orders``. Step 1 of
``dlq-consumer-stalled`` with ``broker=redis`` must read the consumers, the pending entries and
the stream's existence from it: pass with a consumer attached, fail naming the node once the
consumer is gone, and fail ``bound`` for a queue that does not exist.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from tests.e2e.conftest import ROOT, node_config
from tests.execute.sshd import SshdCluster
from tests.servers import binary, free_port, wait_until

RUNBOOK = ROOT / "runbooks" / "dlq-consumer-stalled.md"
ADDRESS = "127.0.0.51"


class Redis:
    """One redis-server on 127.0.0.1, without persistence."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.cli_path = binary("redis-cli", "redis-tools")
        self.proc = subprocess.Popen(
            [
                binary("redis-server", "redis-server"),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(root)),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.cli("PING") == "PONG", 20, "redis-server answers PING")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [self.cli_path, "-p", str(self.port), "--raw", *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout.strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    root = Path(tempfile.mkdtemp(prefix="ic-dlq-redis-"))
    server = Redis(root)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def node(redis: Redis) -> Iterator[SshdCluster]:
    extra = f"Match LocalAddress {ADDRESS}\n  SetEnv REDIS_PORT={redis.port}\n"
    cluster = SshdCluster.start([ADDRESS], extra_config=extra)
    yield cluster
    cluster.stop()


def config(tmp: Path, node: SshdCluster) -> Path:
    return node_config(tmp, node, [("q1", ADDRESS, "queue")])


def step_one(cfg: Path, queue: str) -> tuple[int, dict[str, dict[str, str]]]:
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(RUNBOOK), "--step", "1", "--json", "--config", str(cfg)),
            *("--var", f"queue={queue}", "--var", "broker=redis"),
        ],
    )
    assert "Traceback" not in result.output
    data = json.loads(result.output)
    verdicts = {
        b["id"]: {n["node"]: n["verdict"] for n in b["nodes"]}
        for s in data["steps"]
        for b in s["blocks"]
    }
    return result.exit_code, verdicts


def test_consumer_stalled_reads_a_real_redis_stream_group(
    tmp_path: Path, redis: Redis, node: SshdCluster
) -> None:
    cfg = config(tmp_path, node)
    redis.cli("XGROUP", "CREATE", "orders", "orders", "$", "MKSTREAM")
    redis.cli("XADD", "orders", "*", "id", "ord-1")
    redis.cli("XREADGROUP", "GROUP", "orders", "c1", "COUNT", "1", "STREAMS", "orders", ">")

    code, verdicts = step_one(cfg, "orders")
    assert code == 0, verdicts
    assert verdicts == {
        "consumers": {"q1": "pass"},
        "unacked": {"q1": "pass"},
        "bound": {"q1": "pass"},
    }

    redis.cli("XGROUP", "DELCONSUMER", "orders", "orders", "c1")  # the consumer is gone
    code, verdicts = step_one(cfg, "orders")
    assert code == 1
    assert verdicts["consumers"] == {"q1": "fail"}
    assert verdicts["bound"] == {"q1": "pass"}

    code, verdicts = step_one(cfg, "no-such-queue")
    assert code == 1
    assert verdicts["bound"] == {"q1": "fail"}
