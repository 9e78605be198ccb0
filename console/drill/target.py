"""The drill's target: nodes of the simulated cluster answer from the scenario's script.

It implements the same target protocol as the local and SSH targets, so a runbook runs the same
way in a drill as in an incident. A reply's ``delay`` passes in drill time (so a sped-up drill
waits less); a ``hang`` reply never ends until the runner kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from console.drill.simulator import Happening, Simulator
from console.execute.target import Chunk, ChunkQueue, ExitStatus, KillReport, TargetError


class SimulatedProcess:
    """One scripted command run on a simulated node, played by a background task."""

    def __init__(self, simulator: Simulator, node: str, command: str) -> None:
        self._sim = simulator
        self._queue = ChunkQueue()
        self._killed = asyncio.Event()
        self.happening: Happening | None = None
        self._task = asyncio.create_task(self._play(node, command))

    async def _play(self, node: str, command: str) -> ExitStatus:
        try:
            response, self.happening = self._sim.respond(node, command)
            wait = (
                float("inf")
                if response.hang
                else self._sim.clock.real_seconds_until(self._sim.now() + response.delay)
            )
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._killed.wait(), timeout=None if wait == float("inf") else wait
                    )
                if self._killed.is_set():
                    return ExitStatus(None, "KILL")
            if response.stdout:
                self._queue.put(Chunk("stdout", response.stdout.encode()))
            if response.stderr:
                self._queue.put(Chunk("stderr", response.stderr.encode()))
            return ExitStatus(response.exit)
        finally:
            self._queue.close()

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._queue

    async def wait(self) -> ExitStatus:
        """The scripted exit status (SIGKILL if the runner killed it first)."""
        return await asyncio.shield(self._task)

    async def kill(self) -> KillReport:
        """Stop the scripted command; nothing survives on a simulated node."""
        self._killed.set()
        return KillReport(True, "simulated command stopped")

    async def close(self) -> None:
        """Stop the script if it still runs."""
        self._killed.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class SimulatedTarget:
    """A node of the simulated cluster."""

    def __init__(self, simulator: Simulator, node: str) -> None:
        self._sim = simulator
        self._node = node

    @property
    def node(self) -> str:
        """The simulated node's name."""
        return self._node

    async def start(self, command: str, *, shell: str) -> SimulatedProcess:
        """Start the scripted reply to ``command``; a node the scenario lacks (``on: local``, a
        name from the inventory) is that node's error verdict, raised here where the runner
        judges it rather than when the block is planned."""
        if self._node not in {n.name for n in self._sim.nodes}:
            raise TargetError("unreachable", f"node {self._node!r} is not in the drill scenario")
        return SimulatedProcess(self._sim, self._node, command)
