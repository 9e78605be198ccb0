"""A real 3-member etcd cluster on loopback (Debian etcd-server), for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import binary, free_port


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"


@dataclass
class EtcdCluster:
    root: Path
    members: list[EtcdMember] = field(default_factory=list)

    @property
    def endpoints(self) -> str:
        return ",".join(m.endpoint for m in self.members)

    def start(self, member: EtcdMember, *, initial_state: str = "new") -> None:
        etcd = binary("etcd", "etcd-server")
        cluster = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        args = [
            etcd,
            "--name",
            member.name,
            "--data-dir",
            str(member.data_dir),
            "--listen-client-urls",
            member.endpoint,
            "--advertise-client-urls",
            member.endpoint,
            "--listen-peer-urls",
            f"http://127.0.0.1:{member.peer_port}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{member.peer_port}",
            "--initial-cluster",
            cluster,
            "--initial-cluster-state",
            initial_state,
            "--initial-cluster-token",
            "ic-test",
            "--heartbeat-interval",
            "50",
            "--election-timeout",
            "500",
        ]
        env = {**os.environ, "ETCDCTL_API": "3"}
        member.process = subprocess.Popen(
            args,
            stdout=member.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def stop(self, member: EtcdMember) -> None:
        if member.process and member.process.poll() is None:
            member.process.send_signal(signal.SIGTERM)
            try:
                member.process.wait(10)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
        member.process = None

    def healthy(self, endpoints: str | None = None) -> bool:
        etcdctl = binary("etcdctl", "etcd-client")
        out = subprocess.run(
            [etcdctl, "--endpoints", endpoints or self.endpoints, "endpoint", "health"],
            capture_output=True,
            text=True,
            env={**os.environ, "ETCDCTL_API": "3"},
            timeout=20,
        )
        return out.returncode == 0

    def wait_healthy(self, timeout: float = 30.0, endpoints: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy(endpoints):
                return
            time.sleep(0.2)
        logs = "\n".join(m.log.read_text()[-2000:] for m in self.members)
        raise AssertionError(f"etcd cluster not healthy after {timeout}s:\n{logs}")


def start_cluster(root: Path, size: int = 3) -> EtcdCluster:
    ports = [free_port() for _ in range(2 * size)]
    cluster = EtcdCluster(root)
    for i in range(size):
        name = f"m{i + 1}"
        cluster.members.append(
            EtcdMember(name, ports[2 * i], ports[2 * i + 1], root / name, root / f"{name}.log")
        )
    for member in cluster.members:
        cluster.start(member)
    cluster.wait_healthy()
    return cluster
