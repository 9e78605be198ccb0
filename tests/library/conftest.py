"""The library tests run the bundled runbooks from the repository, as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the bundled runbooks find ./checks beside them
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)
