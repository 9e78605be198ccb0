"""The drill clock: drill seconds that can be paused and sped up by the facilitator."""

from __future__ import annotations

import time
from collections.abc import Callable


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

    def real_seconds_until(self, drill_at: float) -> float:
        """Real seconds until the drill clock reads ``drill_at`` (inf while paused)."""
        remaining = drill_at - self.elapsed()
        if remaining <= 0:
            return 0.0
        return float("inf") if self._paused else remaining / self._speed
