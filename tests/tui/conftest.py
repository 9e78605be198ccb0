"""Shared fixtures of the console tests."""

from __future__ import annotations

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
    """

    def drive(work: Autopilot) -> None:
        real_run_async = ConsoleApp.run_async

        async def driven(self: ConsoleApp, **_: Any) -> str | None:
            return await real_run_async(self, headless=True, size=(150, 45), auto_pilot=work)

        monkeypatch.setattr(ConsoleApp, "run_async", driven)

    return drive
