"""Shared fixtures of the console tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from console.tui.app import ConsoleApp
from tests.drill.conftest import runtime_dir  # noqa: F401  (the drill socket folder)

Autopilot = Callable[[Pilot[str]], Awaitable[None]]


@pytest.fixture
def drive_console(monkeypatch: pytest.MonkeyPatch) -> Callable[[Autopilot], None]:
    """Let the CLI's console commands run with ``work`` at the keyboard and no terminal.

    Only how the screen is driven changes; the command builds and runs the console as usual.
    ``work`` starts once the console is open (its workspace built after the first frame).
    """

    real_run_async = ConsoleApp.run_async  # once: a second drive must not wrap the first

    def drive(work: Autopilot) -> None:

        async def once_open(pilot: Pilot[str]) -> None:
            app = pilot.app
            assert isinstance(app, ConsoleApp)
            deadline = asyncio.get_running_loop().time() + 20
            while not app.is_open and app.opening_error is None:
                assert asyncio.get_running_loop().time() < deadline, "the console never opened"
                await pilot.pause(0.05)
            if app.is_open:
                await work(pilot)

        async def driven(self: ConsoleApp, **_: Any) -> str | None:
            return await real_run_async(self, headless=True, size=(150, 45), auto_pilot=once_open)

        monkeypatch.setattr(ConsoleApp, "run_async", driven)

    return drive
