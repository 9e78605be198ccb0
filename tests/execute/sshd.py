"""OpenSSH ``sshd`` on loopback: several 127.0.0.x addresses that act as distinct nodes.

Used by the execution tests and by ``tests/bench/fanout.py``. Each daemon gets a generated
host key, an authorized key for the test client, ``StrictModes no`` and a free port; a
known_hosts file for the client lists every address. OpenSSH binds at most 16 listen sockets
per daemon (``MAX_LISTEN_SOCKS``), so more addresses are spread over several daemons that
share one configuration.

Sessions log in as a dedicated account whose shell is ``/bin/sh`` with no rc files (created
with ``useradd`` when running as root and missing), so a session costs what sshd costs, not
what a login shell's start-up costs. Run as another user, they log in as that user.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from tests.servers import free_port

SSHD = Path("/usr/sbin/sshd")
LOGIN_USER = "icssh"
MAX_LISTEN_SOCKS = 16


class SshdUnavailable(RuntimeError):
    """sshd is missing or would not start."""


def login_user() -> str:
    """The account test sessions log in as (see the module docstring)."""
    if os.geteuid() != 0:
        return getpass.getuser()
    try:
        pwd.getpwnam(LOGIN_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "-M", "-d", f"/home/{LOGIN_USER}", "-s", "/bin/sh", "-p", "*", LOGIN_USER],
            check=True,
        )
    entry = pwd.getpwnam(LOGIN_USER)
    home = Path(entry.pw_dir)
    if not home.is_dir():
        home.mkdir(mode=0o755, parents=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    return LOGIN_USER


def loopback_addresses(count: int, first: int = 2) -> list[str]:
    """``count`` addresses from 127.0.0.<first> on, continuing into 127.0.1.1, 127.0.1.2..."""
    out = []
    for number in range(first, first + count):
        out.append(f"127.0.0.{number}" if number <= 254 else f"127.0.1.{number - 254}")
    return out


@dataclass
class SshdCluster:
    """Running sshd processes and what a client needs to reach them."""

    workdir: Path
    addresses: list[str]
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    host_public_key: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        addresses: list[str],
        *,
        max_startups: int = 100,
        max_sessions: int = 32,
        workdir: Path | None = None,
        extra_config: str = "",
    ) -> SshdCluster:
        """Generate keys, write the configs, start the daemons, wait until all listen."""
        if not SSHD.is_file():
            raise SshdUnavailable(
                f"OpenSSH sshd not found at {SSHD}: install the Debian package openssh-server"
            )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        base = workdir or Path(tempfile.mkdtemp(prefix="ic-sshd-"))
        base.chmod(0o755)  # the login user reads authorized_keys from here
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        host_key.write_private_key(str(base / "host_key"))
        (base / "host_key").chmod(0o600)
        client_key.write_private_key(str(base / "client_key"))
        (base / "client_key").chmod(0o600)
        authorized = base / "authorized_keys"
        authorized.write_bytes(client_key.export_public_key())
        authorized.chmod(0o644)
        host_public = host_key.export_public_key().decode().strip()
        user = login_user()
        last_error = ""
        for _ in range(3):
            port = free_port()
            cluster = cls(
                base,
                addresses,
                port,
                user,
                base / "client_key",
                base / "known_hosts",
                host_public,
            )
            cluster.known_hosts.write_text(
                "".join(f"[{a}]:{port} {host_public}\n" for a in addresses)
            )
            try:
                cluster._launch(max_startups, max_sessions, extra_config)
                return cluster
            except SshdUnavailable as exc:
                last_error = str(exc)
                cluster.stop(remove=False)
        shutil.rmtree(base, ignore_errors=True)
        raise SshdUnavailable(last_error)

    def _launch(self, max_startups: int, max_sessions: int, extra_config: str = "") -> None:
        groups = [
            self.addresses[i : i + MAX_LISTEN_SOCKS]
            for i in range(0, len(self.addresses), MAX_LISTEN_SOCKS)
        ]
        for index, group in enumerate(groups):
            config = self.workdir / f"sshd_{index}.conf"
            listen = "".join(f"ListenAddress {a}\n" for a in group)
            config.write_text(
                f"Port {self.port}\n{listen}"
                f"HostKey {self.workdir / 'host_key'}\n"
                f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}\n"
                "StrictModes no\nUsePAM no\nPidFile none\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                f"MaxStartups {max_startups}\nMaxSessions {max_sessions}\n"
                "AllowTcpForwarding yes\nPrintMotd no\nLogLevel ERROR\n"
                f"{extra_config}"
            )
            log = (self.workdir / f"sshd_{index}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [str(SSHD), "-D", "-e", "-f", str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 10
        pending = list(self.addresses)
        while pending:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise SshdUnavailable(f"sshd exited at start: {self.logs()}")
            pending = [a for a in pending if not _listening(a, self.port)]
            if pending and time.monotonic() > deadline:
                raise SshdUnavailable(f"sshd not listening on {pending[:3]}: {self.logs()}")
            if pending:
                time.sleep(0.05)

    def logs(self) -> str:
        """What the daemons wrote (errors only, at LogLevel ERROR)."""
        return " | ".join(
            p.read_text(errors="replace").strip() for p in sorted(self.workdir.glob("sshd_*.log"))
        )

    def node_dicts(self, prefix: str = "n") -> list[dict[str, object]]:
        """Inventory entries for the addresses: ``n1``, ``n2``, ..."""
        return [
            {"name": f"{prefix}{i}", "host": a, "port": self.port, "user": self.user}
            for i, a in enumerate(self.addresses, start=1)
        ]

    def stop(self, *, remove: bool = True) -> None:
        """Stop the daemons (and remove the work folder)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False
