"""Runs a drill's timeline: applies injects as drill time passes and journals each one.

The facilitator's controls (pause, speed, skip ahead, a hand inject) act on the clock and the
simulator, and every one of them is journalled as ``drill.inject`` so the debrief and the log
show exactly what the trainee faced and when.
"""

from __future__ import annotations

import asyncio

from console.drill.clock import DrillClock
from console.drill.scenario import Effects
from console.drill.simulator import Happening, Simulator
from console.journal.events import DrillInject
from console.journal.sink import EventSink

TICK_S = 0.25


class DrillEngine:
    """Drives one simulator against the drill clock and records what happens."""

    def __init__(self, simulator: Simulator, sink: EventSink) -> None:
        self.simulator = simulator
        self.sink = sink
        self.said: list[Happening] = []

    @property
    def clock(self) -> DrillClock:
        """The drill clock (pause, speed)."""
        return self.simulator.clock

    async def run(self) -> None:
        """Apply injects as they come due, until cancelled."""
        while True:
            await self.tick()
            nxt = self.simulator.next_inject_at()
            wait = TICK_S if nxt is None else min(TICK_S, self.clock.real_seconds_until(nxt))
            await asyncio.sleep(max(wait, 0.01))

    async def tick(self) -> list[Happening]:
        """Apply every inject that is due now, journalling each."""
        happened = self.simulator.tick()
        for happening in happened:
            await self._record(happening)
        return happened

    async def inject(self, effects: Effects, say: str) -> Happening:
        """The facilitator's hand inject, applied now."""
        happening = self.simulator.inject(effects, say)
        await self._record(happening, by_hand=True)
        return happening

    async def control(self, what: str) -> None:
        """Pause, resume, change speed or skip ahead and journal it.

        ``pause``, ``resume``, ``speed=4``; ``skip`` jumps the clock to the next inject, which
        is then applied (and journalled) right after the skip itself.
        """
        skip_to = self.simulator.next_inject_at() if what == "skip" else None
        if what == "skip":
            if skip_to is None:
                raise ValueError("no inject is left on the timeline")
            what = f"skip to T+{skip_to:g}s"
        elif what == "pause":
            self.clock.pause()
        elif what == "resume":
            self.clock.resume()
        elif what.startswith("speed="):
            self.clock.set_speed(float(what.partition("=")[2]))
        else:
            raise ValueError(f"unknown drill control {what!r}")
        await self.sink.emit(
            DrillInject(at_s=round(self.simulator.now(), 3), description=f"facilitator: {what}")
        )
        if skip_to is not None:  # jump and apply with no await between: nothing slips in
            self.clock.advance(skip_to - self.simulator.now())
            await self.tick()

    async def _record(self, happening: Happening, *, by_hand: bool = False) -> None:
        self.said.append(happening)
        effects: list[dict[str, object]] = []
        if happening.inject is not None:
            effects = [
                {"set": [s.model_dump(exclude_none=True) for s in happening.inject.set]},
                {"fire": [a.alertname for a in happening.inject.fire]},
                {"resolve": list(happening.inject.resolve)},
            ]
            effects = [e for e in effects if next(iter(e.values()))]
        prefix = "facilitator: " if by_hand else ""
        await self.sink.emit(
            DrillInject(
                at_s=round(happening.at, 3), description=prefix + happening.say, effects=effects
            )
        )
