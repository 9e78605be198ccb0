"""The drill's target: nodes of the simulated cluster answer from the scenario's script.

It implements the same target protocol as the local and SSH targets, so a runbook runs the same
way in a drill as in an incident. A reply's ``delay`` passes in drill time (so a sped-up drill
waits less); a ``hang`` reply never ends until the runner kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from console.drill.scenario import Reply
from console.drill.simulator import Happening, Simulator
from console.execute.target import Chunk, ChunkQueue, ExitStatus, KillReport, TargetError


class SimulatedProcess:
    """One scripted command run on a simulated node, played by a background task."""

    def __init__(self, simulator: Simulator, response: Reply, happening: Happening | None) -> None:
        self._sim = simulator
        self._queue = ChunkQueue()
        self._killed = asyncio.Event()
        self.happening = happening
        self._task = asyncio.create_task(self._play(response))

    async def _play(self, response: Reply) -> ExitStatus:
        try:
            if response.hang:
                await self._killed.wait()
                return ExitStatus(None, "KILL")
            if response.delay > 0 and await self._killed_within(response.delay):
                return ExitStatus(None, "KILL")
            if response.stdout:
                self._queue.put(Chunk("stdout", response.stdout.encode()))
            if response.stderr:
                self._queue.put(Chunk("stderr", response.stderr.encode()))
            return ExitStatus(response.exit)
        finally:
            self._queue.close()

    async def _killed_within(self, delay: float) -> bool:
        """Wait ``delay`` drill seconds; True if the runner killed the command first."""
        waits = [
            asyncio.ensure_future(self._sim.clock.sleep(delay)),
            asyncio.ensure_future(self._killed.wait()),
        ]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()
        return self._killed.is_set()

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
        """Start the scripted reply to ``command``. Every node answers, ``local`` and names the
        scenario lacks included: what nothing scripts gets the scenario's default response.
        A ``when:`` the simulator cannot evaluate now is this node's error verdict."""
        try:
            response, happening = self._sim.respond(self._node, command)
        except ValueError as exc:  # PromQLError: a when: that parsed but cannot be evaluated
            raise TargetError("config", f"the scenario's when: failed: {exc}") from None
        return SimulatedProcess(self._sim, response, happening)
