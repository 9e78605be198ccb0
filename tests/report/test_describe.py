"""Each event type says what it means itself, and the timeline only makes that safe to show."""

from __future__ import annotations

import pytest

from console.journal.events import EVENT_TYPES, Event, IncidentClosed, Payload, SourceDown
from console.report.timeline import describe


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_type_describes_itself(name: str) -> None:
    model = EVENT_TYPES[name]
    own = model.describe is not Payload.describe or model.TEXT
    assert own, f"{name} has neither a describe() nor a TEXT of its own"
    if model.TAIL:
        assert model.TAIL in model.model_fields, f"{name}: TAIL names no field"


def test_a_text_payload_shows_its_tail_only_when_there_is_one() -> None:
    closed = IncidentClosed(final_seq=9, head_hash="0123456789abcdef")
    assert closed.describe("live") == "incident closed (log seq 0-9, head 0123456789ab)"
    with_summary = closed.model_copy(update={"summary": "all {good}"})
    assert with_summary.describe("live").endswith("head 0123456789ab): all {good}")


def test_the_timeline_shows_the_payloads_words_with_controls_made_visible() -> None:
    data = SourceDown(source="prom\x1b[2J", error="refused\nforged line")
    event = Event(
        seq=3, ts="2026-11-22T10:00:00Z", mono=0, type=SourceDown.TYPE, incident="I",
        actor="a", mode="test", data=data, prev="p", hash="h",
    )  # fmt: skip
    assert data.describe("test").startswith("data source down: prom")
    shown = describe(event)
    assert "\x1b" not in shown and "\n" not in shown
    assert shown == "data source down: prom␛[2J (refused␤forged line)"
