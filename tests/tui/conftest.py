"""Shared fixtures of the console tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.tui.app import ConsoleApp

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


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private runtime folder for drill sockets (short: a socket path is at most 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="icrt-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
