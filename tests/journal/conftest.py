"""Shared fixtures of the journal tests: a fixed clock and small logs written through the API."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from console.journal.events import Mode, Payload
from console.journal.log import JournalLog
from tests.journal.example import FakeClock

GOLDEN = Path(__file__).parent / "golden"
EXAMPLE_LOG = GOLDEN / "INC-20261122T101201Z-etcd-member-down.jsonl"


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's INCIDENT_LOG_KEY must not change what verify reports."""
    monkeypatch.delenv("INCIDENT_LOG_KEY", raising=False)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion (the tests that are not async themselves)."""
    return asyncio.run(coro)


def new_log(
    directory: Path,
    *,
    clock: FakeClock | None = None,
    key: bytes | None = None,
    mode: Mode = "test",
    fsync: str = "never",
    **kwargs: Any,
) -> JournalLog:
    """A fresh log in ``directory`` with a fixed clock and no fsync (fast)."""
    clock = clock or FakeClock()
    return JournalLog.create(
        directory,
        "INC-20261122T101201Z-test",
        "test incident",
        actor="tester@host",
        mode=mode,
        key=key,
        fsync=fsync,  # type: ignore[arg-type]
        clock=clock.wall,
        monotonic=clock.monotonic,
        **kwargs,
    )


async def write_events(log: JournalLog, payloads: list[Payload], *, close: bool = True) -> Path:
    """Emit ``payloads`` in order (then close) and return the log's path."""
    for payload in payloads:
        await log.emit(payload)
    if close:
        await log.close("done")
    return log.path


def forge(path: Path, payloads: list[Payload], *, key: bytes | None = None) -> Path:
    """Write a log line by line without the writer's checks (logs from elsewhere, attackers)."""
    from console.journal.chain import GENESIS, canonical_json
    from console.journal.events import IncidentOpened
    from console.journal.sink import seal

    clock = FakeClock()
    prev, lines = GENESIS, []
    chain = "hmac-sha256" if key else "sha256"
    for seq, payload in enumerate([IncidentOpened(title="forged", chain=chain), *payloads]):
        clock.advance(1)
        event = seal(
            payload,
            seq=seq,
            prev=prev,
            incident="INC-20261122T101201Z-forged",
            actor="tester@host",
            mode="test",
            key=key,
            ts=clock.wall().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            mono=clock.monotonic(),
        )
        lines.append(canonical_json(event.record()) + b"\n")
        prev = event.hash
    path.write_bytes(b"".join(lines))
    return path
