"""The Redis catalog checks (``checks/redis.yaml``) against a real primary and replica, started
here on loopback with Debian's redis-server: they pass on a healthy pair and fail, saying why,
when the replica's primary is gone."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from tests.library.redis_servers import redis_cli, start_redis, stop
from tests.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]

RUNBOOK = """\
---
id: redis-pair
nodes: local
vars:
  redis_port: {pattern: "^[0-9]{1,5}$"}
---
# Redis pair

## 1. Look

Look at the server.

```sh check
#| id: ping
#| use: redis/ping
#| on: local
```

```sh check
#| id: role
#| use: redis/role
#| on: local
```

```sh check
#| id: linked
#| use: redis/replica-linked
#| on: local
```
"""


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[int, int, subprocess.Popen[bytes]]]:
    primary_port, replica_port = free_port(), free_port()
    primary = start_redis(tmp_path / "primary", primary_port)
    replica = start_redis(
        tmp_path / "replica", replica_port, "--replicaof", "127.0.0.1", str(primary_port)
    )
    yield primary_port, replica_port, primary
    for process in (replica, primary):
        stop(process)


def run(tmp_path: Path, port: int) -> tuple[int, dict[str, str], str]:
    book = tmp_path / "book"
    if not book.exists():
        book.mkdir()
        shutil.copytree(ROOT / "checks", book / "checks")
        (book / "redis-pair.md").write_text(RUNBOOK)
    (tmp_path / "console.yaml").write_text("profile: dev\n")
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(book / "redis-pair.md"), "--var", f"redis_port={port}", "--json"),
            *("--config", str(tmp_path / "console.yaml"), "--journal", str(tmp_path / "j")),
        ],
    )
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)
    blocks = [b for s in data["steps"] for b in s["blocks"]]
    reasons = " ".join(n["reason"] or "" for b in blocks for n in b["nodes"])
    return result.exit_code, {b["id"]: b["verdict"] for b in blocks}, reasons


def test_redis_checks_on_a_real_primary_and_replica(
    tmp_path: Path, pair: tuple[int, int, subprocess.Popen[bytes]]
) -> None:
    primary_port, replica_port, primary = pair
    wait_until(
        lambda: "master_link_status:up" in redis_cli("127.0.0.1", replica_port, "info"),
        20,
        "the replica to sync",
    )
    code, verdicts, _ = run(tmp_path, replica_port)
    assert (code, verdicts) == (0, {"ping": "pass", "role": "pass", "linked": "pass"})

    code, verdicts, reasons = run(tmp_path, primary_port)
    assert code == 1  # a primary is not a linked replica
    assert verdicts == {"ping": "pass", "role": "pass", "linked": "fail"}
    assert "role:slave" in reasons

    stop(primary)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        code, verdicts, reasons = run(tmp_path, replica_port)
        if verdicts["linked"] == "fail":
            break
        time.sleep(0.5)
    assert verdicts == {"ping": "pass", "role": "pass", "linked": "fail"}
    assert "master_link_status:up" in reasons

    code, verdicts, _ = run(tmp_path, primary_port)  # nothing listens there any more
    assert verdicts["ping"] == "fail"
