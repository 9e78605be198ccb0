"""End to end: the node-exporter host runbooks' shell checks on a real host behind real
OpenSSH (this machine, as the test's login user): the numbers they print are the host's own,
and the guard before the restart refuses a unit that is not the top user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Data, node_config, run_runbook
from tests.execute.sshd import SshdCluster
from tests.servers import free_port


@pytest.fixture(scope="module")
def host() -> Iterator[SshdCluster]:
    cluster = SshdCluster.start(["127.0.0.51"])
    yield cluster
    cluster.stop()


@pytest.fixture
def mount() -> Iterator[Path]:
    """A folder any account can read (the login user is not the test's), with some data."""
    folder = Path(tempfile.mkdtemp(prefix="ic-host-", dir="/tmp"))
    folder.chmod(0o755)
    (folder / "big").mkdir(mode=0o755)
    (folder / "big" / "data").write_bytes(os.urandom(2 << 20))
    yield folder
    shutil.rmtree(folder)


def run(tmp: Path, host: SshdCluster, runbook: str, *args: str) -> tuple[int, Data]:
    # no Prometheus here: the one PromQL check (fill-rate) gets an error verdict, not asserted
    nowhere = f"prometheus: {{url: 'http://127.0.0.1:{free_port()}', timeout: 1s}}\n"
    cfg = node_config(tmp, host, [("h1", "127.0.0.51", "worker")], extra=nowhere)
    return run_runbook(cfg, runbook, "--only", "checks", "--var", "server=h1", *args)


def node(data: Data, block: str) -> Data:
    (found,) = (
        n for s in data["steps"] for b in s["blocks"] if b["id"] == block for n in b["nodes"]
    )
    return found


def df_percent(column: str, path: Path) -> int:
    out = subprocess.run(["df", f"--output={column}", str(path)], capture_output=True, text=True)
    return int("".join(c for c in out.stdout.splitlines()[-1] if c.isdigit()))


def test_the_disk_checks_measure_the_real_file_system(
    tmp_path: Path, host: SshdCluster, mount: Path
) -> None:
    _, data = run(tmp_path, host, "host-disk-space.md", "--var", f"mount={mount}")
    used = node(data, "disk-used")
    assert used["verdict"] in ("pass", "fail")
    assert abs(int(used["stdout"]) - df_percent("pcent", mount)) <= 1
    assert node(data, "disk-used")["verdict"] == ("pass" if int(used["stdout"]) < 90 else "fail")
    assert abs(int(node(data, "inodes-used")["stdout"]) - df_percent("ipcent", mount)) <= 1
    largest = node(data, "largest")
    assert largest["verdict"] == "pass"
    assert f"{mount}/big\n" in largest["stdout"]  # du names the folder that holds the data
    assert node(data, "deleted-open")["verdict"] == "pass"


def test_the_memory_checks_and_the_guard_before_a_restart(
    tmp_path: Path, host: SshdCluster
) -> None:
    _, data = run(tmp_path, host, "host-memory-cpu.md", "--var", "unit=not-running.service")
    lines = Path("/proc/meminfo").read_text().splitlines()
    meminfo = {line.split(":")[0]: int(line.split()[1]) for line in lines}
    available = meminfo["MemAvailable"] * 100 // meminfo["MemTotal"]
    assert abs(int(node(data, "memory-available")["stdout"]) - available) <= 5
    assert "cpus: " in node(data, "load")["stdout"]
    assert "PID" in node(data, "top-memory")["stdout"]
    assert "PID" in node(data, "top-cpu")["stdout"]
    guard = node(data, "unit-is-top")
    assert guard["verdict"] == "fail"  # the unit is nobody's: the restart would be refused
    assert guard["stdout"].startswith("largest memory user: ")
