"""The drill clock: drill seconds that can be paused and sped up by the facilitator.

It is also the clock the session and the runner wait by in a drill (``console.execute.clock``):
``within``/``every``, timeouts and scripted delays pass in drill time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

RECHECK_S = 0.25
"""A sleeping waiter looks at the clock at least this often (real seconds), so a pause, a new
speed or a skip ahead takes effect on it."""


class DrillClock:
    """Seconds since the drill started, in drill time (``speed`` drill seconds per real one)."""

    def __init__(self, speed: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError("speed must be more than 0")
        self._now = now
        self._speed = speed
        self._anchor_real = now()
        self._anchor_drill = 0.0
        self._paused = False

    def elapsed(self) -> float:
        """Drill seconds since the start."""
        if self._paused:
            return self._anchor_drill
        return self._anchor_drill + (self._now() - self._anchor_real) * self._speed

    @property
    def paused(self) -> bool:
        """Whether drill time stands still."""
        return self._paused

    @property
    def speed(self) -> float:
        """Drill seconds per real second."""
        return self._speed

    def _rebase(self) -> None:
        self._anchor_drill = self.elapsed()
        self._anchor_real = self._now()

    def pause(self) -> None:
        """Stop drill time."""
        self._rebase()
        self._paused = True

    def resume(self) -> None:
        """Let drill time run again."""
        self._anchor_real = self._now()
        self._paused = False

    def set_speed(self, speed: float) -> None:
        """Change how fast drill time runs, from now on."""
        if speed <= 0:
            raise ValueError("speed must be more than 0")
        self._rebase()
        self._speed = speed

    def advance(self, seconds: float) -> None:
        """Jump drill time forward (the facilitator skips ahead)."""
        self._rebase()
        self._anchor_drill += max(seconds, 0.0)

    def now(self) -> float:
        """Drill seconds since the start (the ``Clock`` protocol's reading)."""
        return self.elapsed()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of drill time, following pauses, speed changes and skips."""
        until = self.elapsed() + max(seconds, 0.0)
        while (real := self.real_seconds_until(until)) > 0:
            await asyncio.sleep(min(real, RECHECK_S))

    def real_seconds_until(self, drill_at: float) -> float:
        """Real seconds until the drill clock reads ``drill_at`` (inf while paused)."""
        remaining = drill_at - self.elapsed()
        if remaining <= 0:
            return 0.0
        return float("inf") if self._paused else remaining / self._speed
