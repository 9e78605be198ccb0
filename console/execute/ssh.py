"""The SSH target (asyncssh): pooled connections, host-key policy, and a remote kill that works.

- One connection per node, opened on first use and reused by every later step and block; a
  connection that dropped is reopened for the next command (never mid-command).
- Host keys: ``strict`` (only keys in known_hosts), ``accept-new`` (a host with no entry is
  added; a changed key is refused) or ``off``; the config's guardrails allow only ``strict`` in
  prod unless the risk was accepted.
- ``~/.ssh/config`` (or the configured file), the agent and identity files are honoured. Jump
  hosts (a node's ``jump``, else the ssh config's ``ProxyJump``: inventory node names, ssh config
  aliases or ``user@host:port``, comma-separated) are followed here, not by asyncssh, so each hop
  is resolved through the ssh config (HostName, User, Port, IdentityFile, its own ProxyJump),
  checked under the console's host-key policy and pooled; a loop or more than ``MAX_JUMPS`` hops
  is a ``config`` error naming the chain.
- At most ``handshakes`` connections are being set up at once, so a fleet does not trip
  OpenSSH's ``MaxStartups``; channels are queued per connection under ``MaxSessions``.
- Commands run without a PTY (stdout and stderr stay apart). The block itself is sent on stdin
  to a fixed wrapper, so the node's ``ps`` shows the wrapper, never the block and its values.
  The wrapper reports the remote process group first (the login shell is its leader under
  OpenSSH), and a kill opens a second channel that SIGTERMs the group, then SIGKILLs it after
  a grace period: closing a channel alone would leave the remote process running.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import ipaddress
import os
import shlex
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import asyncssh.config

from console.config import Node, SSHSettings
from console.errors import PolicyError, Problem
from console.execute.target import (
    RUN_STDIN,
    Chunk,
    ChunkQueue,
    ConnectionLost,
    ExitStatus,
    KillReport,
    Stream,
    TargetError,
)

KILL_GRACE_S = 2.0
MAX_JUMPS = 8
_PGID_TAG = b"\x1eic-pgid:"
_HEAD_LIMIT = 4096


def wrap_command(shell: str) -> str:
    """The remote command line: report the process group on stderr, then run stdin's script.

    The script arrives on stdin (``SSHProcess.open`` sends it, then end-of-file), so it never
    appears in the node's process list; ``eval`` keeps its exit status, and the script's own
    stdin is at end-of-file, as it was when the script was an argument.
    """
    report = "printf '\\036ic-pgid:%s\\n' \"$$\" >&2"
    return f"{report}; exec {shlex.quote(shell)} -c {shlex.quote(RUN_STDIN)}"


def kill_script(pgid: int, grace: float = KILL_GRACE_S) -> str:
    """A POSIX shell script that ends process group ``pgid``: TERM, wait, then KILL.

    A group counts as gone once only zombies are left in it (they wait for init to reap
    them); ``ps`` tells that, and ``kill -0`` stands in where ``ps`` cannot.
    """
    ticks = max(1, round(grace / 0.1))
    return (
        "alive() { if ps -e -o pgid= -o stat= >/dev/null 2>&1; then "
        f"ps -e -o pgid= -o stat= | awk '$1 == {pgid} && $2 !~ /^Z/ {{ f = 1 }} "
        "END { exit !f }'; "
        f"else kill -0 -{pgid} 2>/dev/null; fi; }}; "
        f"kill -TERM -{pgid} 2>/dev/null || kill -TERM {pgid} 2>/dev/null "
        "|| { echo gone; exit 0; }; n=0; "
        "while alive; do "
        f"if [ $n -ge {ticks} ]; then kill -KILL -{pgid} 2>/dev/null; echo killed; exit 0; fi; "
        "sleep 0.1; n=$((n+1)); done; echo terminated"
    )


@dataclass
class PoolStats:
    """Counters a caller (or a test) can read: connections opened and commands started."""

    connects: int = 0
    reconnects: int = 0
    commands: int = 0


class _HostKeys:
    """The known_hosts policy, with the file parsed once (and again after an addition)."""

    def __init__(self, settings: SSHSettings) -> None:
        self.mode = settings.host_keys
        self.path = settings.known_hosts
        self._loaded: asyncssh.SSHKnownHosts | None = None

    def known_hosts_arg(self) -> Any:
        """The ``known_hosts`` argument for ``asyncssh.connect``."""
        if self.mode == "off":
            return None
        if self._loaded is None:
            self._loaded = self._read()
        return self._loaded

    def _read(self) -> asyncssh.SSHKnownHosts:
        if self.path is None:
            if self.mode == "strict":
                raise TargetError(
                    "host-key", "strict host key checking needs ssh.known_hosts in the config"
                )
            return asyncssh.import_known_hosts("")
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if self.mode == "strict":
                raise TargetError(
                    "host-key",
                    f"strict host key checking: known_hosts file {self.path} does not exist",
                ) from None
            text = ""
        except OSError as exc:
            raise TargetError(
                "host-key", f"cannot read known_hosts {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            return asyncssh.import_known_hosts(text)
        except (ValueError, asyncssh.KeyImportError) as exc:
            raise TargetError("host-key", f"bad known_hosts {self.path}: {exc}") from None

    def has_entry(self, host: str, addr: str, port: int) -> bool:
        """Whether known_hosts names ``host`` at all (with any key)."""
        if self._loaded is None:
            return False
        keys, ca_keys, *_ = asyncssh.match_known_hosts(
            self._loaded, host, addr if _is_ip(addr) else "", None if port == 22 else port
        )
        return bool(keys or ca_keys)

    def accept_new(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """``accept-new``: trust and record a host seen for the first time; refuse changes."""
        if self.mode != "accept-new" or self.path is None or self.has_entry(host, addr, port):
            return False
        name = host if port == 22 else f"[{host}]:{port}"
        line = f"{name} {key.export_public_key('openssh').decode().strip()}\n"
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # created 0600 like OpenSSH's: the file lists every host this operator reaches
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)
        self._loaded = self._read()
        return True


class _Client(asyncssh.SSHClient):
    """Client callbacks: accept-new host keys, and notice a dropped connection."""

    def __init__(self, entry: _Entry, host_keys: _HostKeys) -> None:
        self._entry = entry
        self._host_keys = host_keys

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self._host_keys.accept_new(host, addr, port, key)

    def connection_lost(self, exc: Exception | None) -> None:
        self._entry.alive = False


@dataclass
class _Entry:
    """One node's pooled connection and its channel slots."""

    node: Node
    sessions: asyncio.Semaphore
    conn: asyncssh.SSHClientConnection | None = None
    alive: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SSHPool:
    """Pooled SSH connections to the inventory's nodes; hands out ``SSHTarget``s."""

    def __init__(
        self,
        settings: SSHSettings,
        nodes: Sequence[Node] = (),
        *,
        profile: str = "dev",
        risk_accepted: bool = False,
    ) -> None:
        if profile == "prod" and settings.host_keys != "strict" and not risk_accepted:
            raise PolicyError(
                [
                    Problem(
                        "<config>",
                        1,
                        f"prod refuses unknown host keys: host_keys is {settings.host_keys}",
                        key="ssh.host_keys",
                        code="policy",
                    )
                ]
            )
        self.settings = settings
        self.stats = PoolStats()
        self._nodes = {n.name: n for n in nodes}
        self._entries: dict[str, _Entry] = {}
        self._handshakes = asyncio.Semaphore(settings.handshakes)
        self._host_keys = _HostKeys(settings)
        self._keys: dict[Path, list[asyncssh.SSHKeyPair]] = {}
        self._routes: dict[tuple[object, ...], _Route] = {}

    def target(self, node: Node) -> SSHTarget:
        """The target for ``node`` (cheap: connections open on first use)."""
        return SSHTarget(self, node)

    def _entry(self, key: str, node: Node) -> _Entry:
        entry = self._entries.get(key)
        if entry is None or entry.node != node:
            entry = _Entry(node, asyncio.Semaphore(self.settings.sessions_per_connection))
            self._entries[key] = entry
        return entry

    async def connection(self, node: Node) -> _Entry:
        """The live pooled connection to ``node``, opened (or reopened) if needed."""
        return await self._connection(node, node.name)

    async def _connection(self, node: Node, label: str) -> _Entry:
        entry = self._entry(node.name, node)
        if entry.alive and entry.conn is not None:
            return entry
        async with entry.lock:
            if entry.alive and entry.conn is not None:
                return entry
            self._check_route(node, label)
            tunnel = await self._tunnel(node)
            await self._open(entry, tunnel)
            return entry

    async def _open(self, entry: _Entry, tunnel: asyncssh.SSHClientConnection | None) -> None:
        """(Re)connect ``entry``; the caller holds its lock."""
        reopening = entry.conn is not None
        if entry.conn is not None:
            entry.conn.abort()
            entry.conn = None
        entry.conn = await self._connect(entry, tunnel)
        entry.alive = True
        self.stats.connects += 1
        self.stats.reconnects += int(reopening)

    def _hops(self, node: Node) -> list[tuple[str, Node]]:
        """``node``'s jump hosts in connection order, each as (name as written, node)."""
        spec = self._route(node).jump
        hops = [h.strip() for h in (spec or "").split(",") if h.strip()]
        return [(hop, self._nodes.get(hop) or _hop_node(hop)) for hop in hops]

    def _check_route(self, node: Node, label: str, path: tuple[str, ...] = ()) -> int:
        """The number of hops before ``node``; a loop or more than ``MAX_JUMPS`` is an error.

        ``path`` is the chain of first hops that led here (each hop's own jump hosts apply
        only to a first hop, as with OpenSSH's ``-J a,b``), so a loop can only come round
        through it.
        """
        path = (*path, label)
        if label in path[:-1]:
            hops = " -> ".join(path)
            raise TargetError("config", f"jump hosts loop back on themselves: {hops}")
        if len(path) - 1 > MAX_JUMPS:
            raise _too_many_jumps(path)
        total = 0
        for index, (hop, hop_node) in enumerate(self._hops(node)):
            if index == 0:
                total += 1 + self._check_route(hop_node, hop, path)
            elif hop in path:
                hops = " -> ".join((*path, hop))
                raise TargetError("config", f"jump hosts loop back on themselves: {hops}")
            else:
                total += 1
            if total > MAX_JUMPS:
                raise _too_many_jumps((*path, hop))
        return total

    async def _tunnel(self, node: Node) -> asyncssh.SSHClientConnection | None:
        """The connection to tunnel through: the last of ``node``'s jump hosts.

        The first hop is an ordinary pooled connection (honouring its own jump hosts); each
        later hop is reached through the one before it and pooled under that path.
        """
        via: _Entry | None = None
        path = ""
        for hop, hop_node in self._hops(node):
            if via is None:
                via = await self._connection(hop_node, hop)
                path = hop_node.name
                continue
            path = f"{path} -> {hop_node.name}"
            entry = self._entry(path, hop_node.model_copy(update={"jump": "none"}))
            if not (entry.alive and entry.conn is not None):
                async with entry.lock:
                    if not (entry.alive and entry.conn is not None):
                        await self._open(entry, via.conn)
            via = entry
        return via.conn if via is not None else None

    def _config_file(self) -> Path | None:
        config_file = self.settings.config.expanduser() if self.settings.config else None
        return config_file if config_file is not None and config_file.is_file() else None

    def _route(self, node: Node) -> _Route:
        """How to reach ``node``: its entry merged with the ssh config's for its host.

        The inventory wins over the ssh config, which wins over the ``ssh:`` defaults, the way
        command-line options win over ``~/.ssh/config`` for OpenSSH.
        """
        key = (node.host, node.port, node.user, node.identity_file, node.jump)
        route = self._routes.get(key)
        if route is not None:
            return route
        found: dict[str, Any] = {}
        config_file = self._config_file()
        if config_file is not None:
            found = _ssh_config_for(config_file, node.host)
        proxy_jump = found.get("ProxyJump")
        jump = node.jump or (proxy_jump if isinstance(proxy_jump, str) else None)
        own = [node.identity_file] if node.identity_file else []
        configured = [Path(str(p)) for p in found.get("IdentityFile", ())]
        route = _Route(
            host=str(found.get("Hostname") or node.host),
            port=node.port if node.port != 22 else int(found.get("Port") or 22),
            user=node.user or _text(found.get("User")) or self.settings.user,
            keys=(*own, *self.settings.identity_files),
            optional_keys=tuple(configured),
            jump=None if jump is None or jump.strip().lower() == "none" else jump,
        )
        self._routes[key] = route
        return route

    def _client_keys(self, route: _Route) -> Any:
        """The key pairs to offer: the inventory's and ``ssh:``'s must load, the ssh config's
        are skipped when missing (as OpenSSH does). No keys at all lets asyncssh choose."""
        keys: list[asyncssh.SSHKeyPair] = []
        for raw, required in [
            *((p, False) for p in route.optional_keys),
            *((p, True) for p in route.keys),
        ]:
            path = Path(raw).expanduser()
            if path not in self._keys:
                if not required and not path.exists():
                    continue
                try:
                    self._keys[path] = list(asyncssh.load_keypairs([str(path)]))
                except (OSError, ValueError, asyncssh.KeyImportError) as exc:
                    reason = getattr(exc, "strerror", None) or exc
                    raise TargetError(
                        "config", f"cannot load identity file {path}: {reason}"
                    ) from None
            keys.extend(self._keys[path])
        return keys or ()

    async def _connect(
        self, entry: _Entry, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        node = entry.node
        settings = self.settings
        route = self._route(node)
        config_file = self._config_file()
        kwargs: dict[str, Any] = {
            "port": route.port,
            "username": route.user or (),
            "known_hosts": self._host_keys.known_hosts_arg(),
            "client_keys": self._client_keys(route),
            "agent_path": () if settings.agent else None,
            "config": [str(config_file)] if config_file else None,
            "connect_timeout": settings.connect_timeout,
            "keepalive_interval": settings.keepalive,
            "keepalive_count_max": 3,
            "client_factory": lambda: _Client(entry, self._host_keys),
            # the hops were followed above; never let asyncssh follow ProxyJump unchecked
            "tunnel": tunnel,
        }
        where = f"{route.host}:{route.port}"
        async with self._handshakes:
            try:
                return await asyncssh.connect(node.host, **kwargs)
            except asyncssh.HostKeyNotVerifiable as exc:
                raise TargetError("host-key", self._host_key_message(route, exc)) from None
            except asyncssh.KeyExchangeFailed as exc:
                raise TargetError(
                    "host-key", f"{where}: key exchange failed: {exc.reason}"
                ) from None
            except asyncssh.PermissionDenied as exc:
                user = kwargs["username"] or "the default user"
                raise TargetError(
                    "auth", f"{where}: authentication refused for {user}: {exc.reason}"
                ) from None
            except asyncssh.DisconnectError as exc:
                raise TargetError("unreachable", f"{where}: disconnected: {exc.reason}") from None
            except TimeoutError:
                raise TargetError(
                    "unreachable",
                    f"{where}: no SSH session within {settings.connect_timeout:g}s "
                    "(connect_timeout)",
                ) from None
            except asyncssh.ChannelOpenError as exc:
                raise TargetError(
                    "unreachable", f"{where}: the jump host could not open a tunnel: {exc.reason}"
                ) from None
            except OSError as exc:
                raise TargetError(
                    "unreachable", f"cannot reach {where}: {exc.strerror or exc}"
                ) from None
            except ValueError as exc:  # asyncssh's own config errors
                raise TargetError("config", f"{where}: {exc}") from None

    def _host_key_message(self, route: _Route, exc: asyncssh.HostKeyNotVerifiable) -> str:
        where = f"{route.host}:{route.port}"
        mode = self._host_keys.mode
        source = self._host_keys.path
        if self._host_keys.has_entry(route.host, route.host, route.port):
            return (
                f"{where}: the host key does not match known_hosts ({source}): the node was "
                "rebuilt or someone is intercepting the connection; verify the new key before "
                "replacing the entry"
            )
        return (
            f"{where}: unknown host key ({mode} checking against {source}): verify the key "
            f"and add it to known_hosts ({exc.reason})"
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        conns = [e.conn for e in self._entries.values() if e.conn is not None]
        for entry in self._entries.values():
            entry.alive = False
            entry.conn = None
        for conn in conns:
            conn.close()
        await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)


@dataclass(frozen=True)
class _Route:
    """Where and as whom to connect for one node, after the ssh config was applied."""

    host: str
    port: int
    user: str | None
    keys: tuple[Path, ...]
    optional_keys: tuple[Path, ...]
    jump: str | None


def _ssh_config_for(config_file: Path, host: str) -> dict[str, Any]:
    """The ssh config's options for ``host`` (first value wins, as with OpenSSH)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    try:
        loaded = asyncssh.config.SSHClientConfig.load(
            None, [str(config_file)], False, False, False, user, (), host, ()
        )
    except (OSError, ValueError, asyncssh.Error) as exc:
        raise TargetError("config", f"cannot read ssh config {config_file}: {exc}") from None
    return {
        key: loaded.get(key)
        for key in ("Hostname", "Port", "User", "IdentityFile", "ProxyJump")
        if loaded.get(key) is not None
    }


def _too_many_jumps(path: tuple[str, ...]) -> TargetError:
    hops = " -> ".join(path)
    return TargetError(
        "config", f"more than {MAX_JUMPS} jump hosts on the way to {path[0]}: {hops}"
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _hop_node(spec: str) -> Node:
    """A jump hop written as ``[user@]host[:port]``."""
    user, _, hostport = spec.rpartition("@")
    host, sep, port = hostport.rpartition(":")
    if not sep:
        host, port = hostport, "22"
    if not port.isdigit():
        raise TargetError("config", f"bad jump host {spec!r}: expected [user@]host[:port]")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in spec)
    return Node(name=f"jump_{safe}", host=host, port=int(port), user=user or None)


class SSHTarget:
    """One node reached over a pooled SSH connection."""

    def __init__(self, pool: SSHPool, node: Node) -> None:
        self._pool = pool
        self._node = node

    @property
    def node(self) -> str:
        """The node's inventory name."""
        return self._node.name

    async def start(self, command: str, *, shell: str) -> SSHProcess:
        """Open a channel on the pooled connection and start ``command`` in it.

        A connection that turns out to be closed before the channel opened (nothing was
        sent) is reopened once. A connection lost after that may have carried the command,
        so it raises ``ConnectionLost`` and is never retried.
        """
        for attempt in (1, 2):
            entry = await self._pool.connection(self._node)
            await entry.sessions.acquire()
            process = SSHProcess(self._node.name, entry)
            try:
                await process.open(wrap_command(shell), command)
            except asyncssh.ChannelOpenError as exc:
                entry.sessions.release()
                if exc.code == asyncssh.OPEN_CONNECT_FAILED and attempt == 1:
                    entry.alive = False
                    continue
                raise TargetError(
                    "refused", f"{self._node.host}: cannot start the command: {exc.reason}"
                ) from None
            except (asyncssh.DisconnectError, OSError) as exc:
                entry.sessions.release()
                entry.alive = False
                raise ConnectionLost(
                    "the connection dropped while the command was being started "
                    f"({getattr(exc, 'reason', None) or exc})"
                ) from None
            except BaseException:
                entry.sessions.release()
                raise
            self._pool.stats.commands += 1
            return process
        raise AssertionError("unreachable")


class _Session(asyncssh.SSHClientSession[bytes]):
    """asyncssh callbacks forwarded to the ``SSHProcess``."""

    def __init__(self, process: SSHProcess) -> None:
        self._process = process

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        stream: Stream = "stdout" if datatype is None else "stderr"
        self._process.on_data(stream, data)

    def exit_status_received(self, status: int) -> None:
        self._process.exit = ExitStatus(status)

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self._process.exit = ExitStatus(None, signal)

    def connection_lost(self, exc: Exception | None) -> None:
        self._process.on_closed(exc)


class SSHProcess:
    """A command running in one SSH channel."""

    def __init__(self, node: str, entry: _Entry) -> None:
        self._node = node
        self._entry = entry
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None
        self._queue = ChunkQueue(self._pause, self._resume)
        self._closed = asyncio.Event()
        self._lost: Exception | None = None
        self._released = False
        self._head = bytearray()
        self._head_done = False
        self._pgid: int | None = None
        self._pgid_known = asyncio.Event()
        self._kill: asyncio.Task[KillReport] | None = None
        self.exit: ExitStatus | None = None

    async def open(self, command: str, script: str) -> None:
        """Open the channel running ``command``, send ``script`` on its stdin, then close it."""
        assert self._entry.conn is not None
        chan, _ = await self._entry.conn.create_session(
            lambda: _Session(self), command, encoding=None
        )
        self._chan = chan
        chan.write(script.encode("utf-8", "surrogateescape"))
        chan.write_eof()

    def _pause(self) -> None:
        if self._chan is not None:
            self._chan.pause_reading()

    def _resume(self) -> None:
        if self._chan is not None:
            self._chan.resume_reading()

    def on_data(self, stream: Stream, data: bytes) -> None:
        """Queue output; the wrapper's process-group line is taken off stderr first."""
        if stream == "stderr" and not self._head_done:
            self._head += data
            data = self._take_head(final=False)
            if not data:
                return
        self._queue.put(Chunk(stream, data))

    def _take_head(self, *, final: bool) -> bytes:
        head = self._head
        start = head.find(_PGID_TAG)
        if start >= 0:
            end = head.find(b"\n", start)
            if end >= 0:
                digits = bytes(head[start + len(_PGID_TAG) : end])
                if digits.isdigit():
                    self._pgid = int(digits)
                    self._pgid_known.set()
                rest = bytes(head[:start] + head[end + 1 :])
                return self._end_head(rest)
        if final or len(head) > _HEAD_LIMIT:
            return self._end_head(bytes(head))
        return b""

    def _end_head(self, rest: bytes) -> bytes:
        self._head_done = True
        self._head = bytearray()
        self._pgid_known.set()
        return rest

    def on_closed(self, exc: Exception | None) -> None:
        """The channel closed: normally, or because the connection died."""
        if not self._head_done:
            rest = self._take_head(final=True)
            if rest:
                self._queue.put(Chunk("stderr", rest))
        if exc is not None:
            self._lost = exc
            self._entry.alive = False
        self._queue.close(ConnectionLost(_lost_message(exc)) if exc is not None else None)
        self._closed.set()
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._entry.sessions.release()

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._queue

    async def wait(self) -> ExitStatus:
        """The exit status once the channel closed; ``ConnectionLost`` if it died."""
        await self._closed.wait()
        if self._lost is not None:
            raise ConnectionLost(_lost_message(self._lost))
        return self.exit or ExitStatus(None)

    async def kill(self) -> KillReport:
        """End the remote process group over a second channel (shared by concurrent calls)."""
        if self._kill is None:
            self._kill = asyncio.ensure_future(self._do_kill())
        return await asyncio.shield(self._kill)

    async def _do_kill(self) -> KillReport:
        if self._closed.is_set() and self._lost is None:
            return KillReport(True, "the command had already ended")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pgid_known.wait(), 5.0)
        conn = self._entry.conn
        if self._pgid is None or conn is None or not self._entry.alive:
            self._abort_channel()
            why = "no process id was reported" if self._pgid is None else "the connection is gone"
            return KillReport(False, f"could not kill the remote command: {why}")
        try:
            result = await asyncio.wait_for(
                conn.run(kill_script(self._pgid), encoding="utf-8"), KILL_GRACE_S + 10
            )
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            self._abort_channel()
            return KillReport(False, f"remote kill of process group {self._pgid} failed: {exc}")
        self._abort_channel()
        said = str(result.stdout or "").strip()
        detail = {
            "terminated": f"remote process group {self._pgid} terminated (SIGTERM)",
            "killed": f"remote process group {self._pgid} killed (SIGKILL after {KILL_GRACE_S:g}s)",
            "gone": f"remote process group {self._pgid} had already exited",
        }.get(said, f"remote kill of process group {self._pgid}: {said or result.exit_status}")
        return KillReport(said in ("terminated", "killed", "gone"), detail)

    def _abort_channel(self) -> None:
        if self._chan is not None and not self._closed.is_set():
            self._chan.close()

    async def close(self) -> None:
        """Close the channel if it is still open and give back its slot."""
        if self._chan is not None and not self._closed.is_set():
            self._chan.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), 2.0)
        self._release()


def _lost_message(exc: Exception | None) -> str:
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return f"the connection dropped while the command ran ({reason})"
