"""A real 3-member etcd cluster on loopback (Debian etcd-server), for end-to-end tests.

By default the members run as the test's own account. With ``user`` they run as that account
(the one the test's sshd logs in as) and their folder is its own, so that a member the runbook
starts again over SSH is the member the test started: same account, same data, same flags.
Each member's pid is kept in a pid file, whoever started it, so the test can stop it at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Sequence
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

    @property
    def pidfile(self) -> Path:
        return self.data_dir.with_suffix(".pid")


@dataclass
class EtcdCluster:
    root: Path
    members: list[EtcdMember] = field(default_factory=list)
    user: str | None = None

    @property
    def endpoints(self) -> str:
        return ",".join(m.endpoint for m in self.members)

    def argv(
        self, member: EtcdMember, *, initial_state: str = "new", extra: Sequence[str] = ()
    ) -> list[str]:
        """The command line that starts ``member`` (the test's, and a node's stand-in unit's)."""
        cluster = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        return [
            binary("etcd", "etcd-server"),
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
            *extra,
        ]

    def start(
        self, member: EtcdMember, *, initial_state: str = "new", extra: Sequence[str] = ()
    ) -> None:
        env = {**os.environ, "ETCDCTL_API": "3"}
        member.process = subprocess.Popen(
            self.argv(member, initial_state=initial_state, extra=extra),
            stdout=member.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            user=self.user,
        )
        member.pidfile.write_text(f"{member.process.pid}\n")

    def kill(self, member: EtcdMember) -> None:
        """SIGKILL ``member``, as a crash would."""
        if member.process and member.process.poll() is None:
            member.process.kill()
            member.process.wait(10)
        member.process = None
        member.pidfile.unlink(missing_ok=True)

    def stop(self, member: EtcdMember) -> None:
        if member.process and member.process.poll() is None:
            member.process.send_signal(signal.SIGTERM)
            try:
                member.process.wait(10)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
        elif member.process is None:
            _stop_pid(member)  # started by someone else (a node's stand-in unit)
        member.process = None
        member.pidfile.unlink(missing_ok=True)

    def force_new_cluster(self, member: EtcdMember) -> None:
        """Restart ``member`` alone with ``--force-new-cluster``, cut off from its peers.

        etcd makes it a one-member cluster that keeps its data and the cluster id, and it takes
        writes on its own. Its peer listener moves to a port the others do not know (the
        partition is still there): were they to reach it, it would answer them as removed
        members and they would stop ("the member has been permanently removed").
        """
        self.stop(member)
        member.peer_port = free_port()
        self.start(member, initial_state="existing", extra=["--force-new-cluster"])
        self.wait_healthy(endpoints=member.endpoint)

    def etcdctl(self, *args: str, endpoints: str | None = None) -> subprocess.CompletedProcess[str]:
        """``etcdctl args`` against every member (or ``endpoints``)."""
        return subprocess.run(
            [binary("etcdctl", "etcd-client"), "--endpoints", endpoints or self.endpoints, *args],
            capture_output=True,
            text=True,
            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
            timeout=30,
        )

    def ctl(self, *args: str, endpoints: str | None = None) -> str:
        """``etcdctl args``' output; the test fails (with etcdctl's error) when it fails."""
        done = self.etcdctl(*args, endpoints=endpoints)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def common_revision(self) -> int:
        """The lowest revision the members report: one every member has applied."""
        status = json.loads(self.ctl("endpoint", "status", "-w", "json"))
        return min(int(s["Status"]["header"]["revision"]) for s in status)

    def healthy(self, endpoints: str | None = None) -> bool:
        return self.etcdctl("endpoint", "health", endpoints=endpoints).returncode == 0

    def wait_healthy(self, timeout: float = 30.0, endpoints: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy(endpoints):
                return
            time.sleep(0.2)
        logs = "\n".join(m.log.read_text()[-2000:] for m in self.members)
        raise AssertionError(f"etcd cluster not healthy after {timeout}s:\n{logs}")


def _runs(pid: int, member: EtcdMember) -> bool:
    """Whether ``pid`` is ``member``'s etcd (not a zombie, not a process that got its pid)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and str(member.data_dir).encode() in cmdline


def _stop_pid(member: EtcdMember) -> None:
    """SIGTERM the member's process named in its pid file; SIGKILL it after 10 s."""
    try:
        pid = int(member.pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if not _runs(pid, member):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while _runs(pid, member) and time.monotonic() < deadline:
            time.sleep(0.1)


def start_cluster(root: Path, size: int = 3, *, user: str | None = None) -> EtcdCluster:
    """Start ``size`` members under ``root`` (as ``user``, who then owns ``root``)."""
    ports = [free_port() for _ in range(2 * size)]
    cluster = EtcdCluster(root, user=user)
    if user is not None:
        account = pwd.getpwnam(user)
        root.chmod(0o755)
        os.chown(root, account.pw_uid, account.pw_gid)
    for i in range(size):
        name = f"m{i + 1}"
        cluster.members.append(
            EtcdMember(name, ports[2 * i], ports[2 * i + 1], root / name, root / f"{name}.log")
        )
    for member in cluster.members:
        if user is not None:  # the member's log and pid file are its own, like its data
            for path in (member.log, member.pidfile):
                path.touch()
                os.chown(path, account.pw_uid, account.pw_gid)
        cluster.start(member)
    cluster.wait_healthy()
    return cluster
