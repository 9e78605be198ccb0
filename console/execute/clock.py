"""The clock the session and the runner measure and wait by.

Outside a drill it is the real monotonic clock. In a drill it is the drill clock
(``console.drill.clock.DrillClock``), so ``within``/``every``, timeouts and durations pass in
drill time: at x10 a ``within: 60s`` check gives up after 6 real seconds, and a paused drill
waits with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Protocol


class Clock(Protocol):
    """Seconds that can be read and waited for."""

    def now(self) -> float:
        """Seconds on this clock (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...

    @property
    def speed(self) -> float:
        """Seconds on this clock per real second (to show a wait as a time of day)."""
        ...


class RealClock:
    """The machine's monotonic clock."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)

    @property
    def speed(self) -> float:
        """One: it is real time."""
        return 1.0


REAL_CLOCK = RealClock()


@contextlib.asynccontextmanager
async def clock_timeout(clock: Clock, seconds: float) -> AsyncIterator[None]:
    """Like ``asyncio.timeout(seconds)``, with the seconds counted on ``clock``."""
    if isinstance(clock, RealClock):
        async with asyncio.timeout(seconds):
            yield
        return
    until = clock.now() + seconds
    async with asyncio.timeout(None) as scope:
        loop = asyncio.get_running_loop()

        async def expire() -> None:
            await clock.sleep(until - clock.now())
            scope.reschedule(loop.time())

        alarm = asyncio.create_task(expire())
        try:
            yield
        finally:
            alarm.cancel()
