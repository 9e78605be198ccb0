"""The target protocol: run one command on one node, stream its output, kill it if asked.

Local subprocesses, SSH and the drill simulator implement the same protocol, so the runner
never knows where a command runs. The runner owns timeouts, caps and verdicts; a
target only moves bytes and reports how the command ended.

Failures are split by whether the command may have run:

- ``TargetError`` is raised by ``Target.start`` before anything was sent to the node
  (unreachable, authentication, host key): the node's verdict is ``error``.
- ``ConnectionLost`` is raised while a command runs: it may have taken effect, so the verdict
  is ``indeterminate``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

Stream = Literal["stdout", "stderr"]
FailureKind = Literal["unreachable", "auth", "host-key", "config", "refused"]

RUN_STDIN = (
    '__ic_s=; while IFS= read -r __ic_l || [ -n "$__ic_l" ]; do __ic_s="$__ic_s$__ic_l\n"; '
    'done; eval "unset __ic_s __ic_l; $__ic_s"'
)
"""The script a shell runs as ``shell -c RUN_STDIN``: the block itself, read from stdin.

Targets send the block on stdin rather than as an argument, so a process list (``ps``,
``/proc/*/cmdline``) on the node shows only this, never the block or the values in it. The
block is read with the shell's own ``read`` (no ``cat``: one process fewer per block and node,
which is most of a warm run's cost), and its own stdin is then at end-of-file.
"""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes a command wrote to one of its streams."""

    stream: Stream
    data: bytes


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a command ended: an exit code, or the signal that killed it."""

    code: int | None
    signal: str | None = None


@dataclass(frozen=True, slots=True)
class KillReport:
    """What a kill did on the node, in words for the node's result."""

    done: bool
    detail: str


class TargetError(Exception):
    """The command could not be started on the node; nothing was sent."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind


class ConnectionLost(Exception):
    """The connection died while the command ran: it may or may not have taken effect."""


class Process(Protocol):
    """A running command. Iterate it for output chunks; ``wait`` for the exit status."""

    def __aiter__(self) -> AsyncIterator[Chunk]: ...

    async def wait(self) -> ExitStatus:
        """The exit status once the command has ended; raises ``ConnectionLost``."""
        ...

    async def kill(self) -> KillReport:
        """Kill the command's whole process group on the node (idempotent)."""
        ...

    async def close(self) -> None:
        """Release the channel or pipes; call once done, killed or not."""
        ...


class Target(Protocol):
    """One node that can run commands."""

    @property
    def node(self) -> str:
        """The node's name as written in the inventory."""
        ...

    async def start(self, command: str, *, shell: str) -> Process:
        """Start ``command`` under ``shell`` (``sh`` or ``bash``); raise ``TargetError``."""
        ...


class ChunkQueue:
    """Output chunks between a producer callback and the runner, with flow control.

    The producer calls ``put``; past ``high`` buffered bytes it is told to pause (``on_pause``),
    and it is resumed once the consumer has drained below ``low``. Memory therefore stays
    bounded by about ``high`` plus one chunk, however fast the node writes.
    """

    def __init__(
        self,
        on_pause: Callable[[], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        *,
        high: int = 1 << 20,
        low: int = 1 << 18,
    ) -> None:
        self._items: deque[Chunk] = deque()
        self._bytes = 0
        self._closed = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._on_pause = on_pause
        self._on_resume = on_resume
        self._high = high
        self._low = low

    def put(self, chunk: Chunk) -> None:
        """Add a chunk (from a protocol callback)."""
        if not chunk.data or self._closed:
            return
        self._items.append(chunk)
        self._bytes += len(chunk.data)
        if self._bytes > self._high and not self._paused and self._on_pause is not None:
            self._paused = True
            self._on_pause()
        self._wake()

    def close(self, error: BaseException | None = None) -> None:
        """No more chunks will come; ``error`` is raised to the consumer after the last one."""
        if not self._closed:
            self._closed = True
            self._error = error
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> ChunkQueue:
        return self

    async def __anext__(self) -> Chunk:
        while not self._items:
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._items.popleft()
        self._bytes -= len(chunk.data)
        if self._paused and self._bytes <= self._low and self._on_resume is not None:
            self._paused = False
            self._on_resume()
        return chunk
