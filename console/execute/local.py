"""The local target: a command on the console's own machine (``on: local``).

The command runs in a new session, so it leads its own process group; a kill signals the whole
group (SIGTERM, then SIGKILL after a grace period), which reaches the children a shell started
too, not only the shell. It inherits the console's environment minus the variables that hold
the console's own secrets (``hidden_env``, from ``console.secret_values``), so a check running
``env`` cannot copy the journal's HMAC key or a source token into its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Collection

from console.execute.target import (
    RUN_STDIN,
    Chunk,
    ChunkQueue,
    ExitStatus,
    KillReport,
    Stream,
    TargetError,
)
from console.secret_values import LOG_KEY_ENV

LOCAL_NODE = "local"
KILL_GRACE_S = 2.0
_READ_SIZE = 1 << 16


class LocalProcess:
    """A local subprocess in its own process group."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._may_read = asyncio.Event()
        self._may_read.set()
        self._queue = ChunkQueue(self._may_read.clear, self._may_read.set)
        self._pumps = [
            asyncio.create_task(self._pump("stdout", proc.stdout)),
            asyncio.create_task(self._pump("stderr", proc.stderr)),
        ]
        self._done = asyncio.create_task(self._close_when_drained())

    async def _pump(self, stream: Stream, reader: asyncio.StreamReader | None) -> None:
        assert reader is not None
        while True:
            await self._may_read.wait()  # paused while the consumer is behind
            data = await reader.read(_READ_SIZE)
            if not data:
                return
            self._queue.put(Chunk(stream, data))

    async def _close_when_drained(self) -> None:
        await asyncio.gather(*self._pumps, return_exceptions=True)
        self._queue.close()

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._queue

    async def wait(self) -> ExitStatus:
        """The exit status; a negative return code means a signal."""
        code = await self._proc.wait()
        if code < 0:
            return ExitStatus(None, signal.Signals(-code).name.removeprefix("SIG"))
        return ExitStatus(code)

    async def kill(self) -> KillReport:
        """SIGTERM the process group, then SIGKILL whatever is left after the grace period."""
        pgid = self._proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return KillReport(True, "the process group had already exited")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KILL_GRACE_S
        while loop.time() < deadline:
            if not _group_alive(pgid):
                return KillReport(True, "process group terminated (SIGTERM)")
            await asyncio.sleep(0.05)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return KillReport(True, "process group terminated (SIGTERM)")
        return KillReport(True, f"process group killed (SIGKILL after {KILL_GRACE_S:g}s)")

    async def close(self) -> None:
        """Stop reading; reap the shell if it has exited."""
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, self._done, return_exceptions=True)
        if self._proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), 0.5)


def _group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a member that is not a zombie.

    Orphaned children of a killed shell may stay zombies until init reaps them, and a zombie
    still answers ``killpg(pgid, 0)``; on Linux, /proc tells them apart.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.scandir("/proc")
    except OSError:
        return True
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
                return True
    return False


class LocalTarget:
    """Runs commands on this machine, without the environment variables in ``hidden_env``."""

    def __init__(
        self, node: str = LOCAL_NODE, *, hidden_env: Collection[str] = (LOG_KEY_ENV,)
    ) -> None:
        self._node = node
        self._hidden_env = frozenset(hidden_env)

    @property
    def node(self) -> str:
        """The pseudo-node's name (``local``)."""
        return self._node

    async def start(self, command: str, *, shell: str) -> LocalProcess:
        """Start ``command`` under ``shell`` in a new process group; the command goes in on
        stdin (see ``RUN_STDIN``), and the command's own stdin is at end-of-file."""
        env = {k: v for k, v in os.environ.items() if k not in self._hidden_env}
        try:
            proc = await asyncio.create_subprocess_exec(
                shell,
                "-c",
                RUN_STDIN,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise TargetError("config", f"cannot start {shell}: {exc.strerror or exc}") from None
        assert proc.stdin is not None
        proc.stdin.write(command.encode("utf-8", "surrogateescape"))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await proc.stdin.drain()
        proc.stdin.close()
        return LocalProcess(proc)
