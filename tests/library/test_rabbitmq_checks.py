"""The RabbitMQ catalog checks (``checks/rabbitmq.yaml``) against a real node, started here on
loopback with Debian's rabbitmq-server: on a healthy node they pass, and they fail, saying why,
under a memory alarm, without a majority, and for a node the cluster does not count as running.
The scenarios script these commands' outputs; this proves the commands and their parsing (the
section titles of ``cluster_status`` come with ANSI escapes even into a pipe) on the real tools.
About 10 s: one node boots once for the whole test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from tests.servers import binary, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
SBIN = Path("/usr/lib/rabbitmq/bin")  # the real scripts; /usr/sbin's wrappers switch user

CHECKS = [
    "running",
    "local-alarms",
    "partitions",
    "majority-running",
    "sees-node",
    "versions",
    "fd-use",
    "memory-breakdown",
    "connections-by-client",
    "biggest-queues",
]
RUNBOOK = """\
---
id: rabbitmq-node
nodes: local
vars:
  member: {pattern: "[a-z0-9]+"}
  majority: {pattern: "[0-9]+"}
---
# A RabbitMQ node

## 1. Look

Every catalog check, on the console's own machine.

""" + "".join(
    f"```sh check\n#| id: {name}\n#| use: rabbitmq/{name}\n#| on: local\n```\n\n" for name in CHECKS
)


def ctl(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A RabbitMQ CLI tool run against the test's node (its environment is the test's)."""
    return subprocess.run(
        [str(SBIN / tool), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not (SBIN / "rabbitmq-server").exists():
        pytest.fail("rabbitmq-server not found: apt-get install -y rabbitmq-server")
    epmd_port = free_port()
    env = {
        "HOME": str(tmp_path / "home"),  # the Erlang cookie
        "RABBITMQ_NODENAME": "rabbit@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(free_port()),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(tmp_path / "mnesia"),
        "RABBITMQ_LOG_BASE": str(tmp_path / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(tmp_path / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(tmp_path / "rabbit.pid"),
        "RABBITMQ_CONFIG_FILE": str(tmp_path / "none"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(tmp_path / "none-advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(tmp_path / "none-env"),
        "PATH": f"{SBIN}:{os.environ['PATH']}",
    }
    (tmp_path / "home").mkdir()
    (tmp_path / "enabled_plugins").write_text("[].\n")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    epmd = subprocess.Popen(
        [binary("epmd", "erlang-base"), "-port", str(epmd_port), "-address", "127.0.0.1"]
    )
    log = (tmp_path / "server.out").open("wb")
    server = subprocess.Popen([str(SBIN / "rabbitmq-server")], stdout=log, stderr=log)
    try:
        wait_until(
            lambda: ctl("rabbitmq-diagnostics", "-q", "check_running").returncode == 0,
            90,
            "RabbitMQ to boot",
        )
        yield
    finally:
        ctl("rabbitmqctl", "-q", "shutdown")
        for process in (server, epmd):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def run(tmp_path: Path, member: str, majority: int) -> tuple[dict[str, str], dict[str, str]]:
    """Every check of the catalog through ``run``: each block's verdict and its output."""
    book = tmp_path / "book"
    if not book.exists():
        book.mkdir()
        shutil.copytree(ROOT / "checks", book / "checks")
        (book / "rabbitmq-node.md").write_text(RUNBOOK)
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(book / "rabbitmq-node.md"), "--json", "--no-journal"),
            *("--var", f"member={member}", "--var", f"majority={majority}"),
        ],
        env={"INCIDENT_CONSOLE_CONFIG": ""},
    )
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)
    blocks = [b for s in data["steps"] for b in s["blocks"]]
    verdicts = {b["id"]: b["verdict"] for b in blocks}
    outputs = {b["id"]: " ".join(n["stdout"] + n["stderr"] for n in b["nodes"]) for b in blocks}
    return verdicts, outputs


@pytest.mark.slow
def test_the_catalog_checks_on_a_real_node(tmp_path: Path, node: None) -> None:
    verdicts, out = run(tmp_path, member="localhost", majority=1)
    assert verdicts == dict.fromkeys(CHECKS, "pass"), out
    assert out["majority-running"].strip() == "1 running, 1 needed: majority"
    assert out["sees-node"].strip() == "rabbit@localhost is running here"
    assert out["partitions"].strip() == "0"
    assert "queue_procs" in out["memory-breakdown"]

    # a member this node does not count as running, and a majority it does not see
    verdicts, out = run(tmp_path, member="r9", majority=2)
    assert out["sees-node"].strip() == "rabbit@r9 is not running here"
    assert verdicts["majority-running"] == "fail"
    assert out["majority-running"].strip() == "1 running, 2 needed: minority"

    # a memory alarm: check_local_alarms fails and says so
    assert ctl("rabbitmqctl", "-q", "set_vm_memory_high_watermark", "0.0001").returncode == 0
    wait_until(
        lambda: ctl("rabbitmq-diagnostics", "-q", "check_local_alarms").returncode != 0,
        30,
        "the memory alarm",
    )
    verdicts, out = run(tmp_path, member="localhost", majority=1)
    assert verdicts["local-alarms"] == "fail"
    assert "Memory alarm on node rabbit@localhost" in out["local-alarms"]
    assert verdicts["running"] == "pass"
