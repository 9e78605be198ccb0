"""Silences: create one from the selected alert, list them, expire one — and journal it.

A silence needs a comment and an author (the operator), so the incident log says who muted
what and why. ``silence.created`` is emitted once Alertmanager has accepted the silence and
given it an id; ``silence.expired`` once it has expired it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from console.errors import ConsoleError
from console.journal.events import SilenceCreated, SilenceExpired
from console.journal.sink import EventSink
from console.source_errors import SourceUnavailable
from console.telemetry.alertmanager import AlertmanagerSource
from console.telemetry.alerts import Alert


class InvalidSilence(ConsoleError, ValueError):
    """The silence asked for cannot be created as given (no comment, no duration, ...)."""


class Matcher(BaseModel):
    """One label matcher, spelled as Alertmanager's API spells it."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore")
    name: str
    value: str
    isRegex: bool = False
    isEqual: bool = True

    def __str__(self) -> str:
        op = ("=~" if self.isRegex else "=") if self.isEqual else ("!~" if self.isRegex else "!=")
        return f'{self.name}{op}"{self.value}"'


class Silence(BaseModel):
    """A silence as Alertmanager lists it."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore", populate_by_name=True)
    id: str
    matchers: list[Matcher]
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    created_by: str = Field(default="", alias="createdBy")
    comment: str = ""
    state: str = "active"  # active | pending | expired


def matchers_for(alert: Alert, labels: Sequence[str] | None = None) -> list[Matcher]:
    """Equality matchers on the alert's labels (all of them, or the ``labels`` named)."""
    names = list(labels) if labels is not None else sorted(alert.labels)
    missing = [n for n in names if n not in alert.labels]
    if missing:
        raise InvalidSilence(f"the alert has no label {', '.join(missing)}")
    if not names:
        raise InvalidSilence("a silence needs at least one matcher; the alert has no labels")
    return [Matcher(name=n, value=alert.labels[n]) for n in names]


def parse_silences(data: list[Any]) -> list[Silence]:
    """Silences from ``GET /api/v2/silences``; ``ValueError`` naming the bad entry."""
    out = []
    for index, raw in enumerate(data):
        try:
            state = raw.get("status", {}).get("state", "active") if isinstance(raw, dict) else None
            out.append(Silence.model_validate({**raw, "state": state}))
        except (ValidationError, TypeError, AttributeError) as exc:
            raise ValueError(f"silence #{index + 1} is not a valid silence: {exc}") from None
    return out


class Silences:
    """Silence operations on one Alertmanager, journaled to ``sink`` when there is one."""

    def __init__(self, alertmanager: AlertmanagerSource, sink: EventSink | None = None) -> None:
        self.alertmanager = alertmanager
        self.sink = sink

    async def create(
        self,
        alert: Alert,
        *,
        duration: float,
        created_by: str,
        comment: str,
        labels: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> Silence:
        """Silence ``alert`` for ``duration`` seconds, by its labels (or the ``labels`` named)."""
        return await self.create_matchers(
            matchers_for(alert, labels),
            duration=duration,
            created_by=created_by,
            comment=comment,
            now=now,
        )

    async def create_matchers(
        self,
        matchers: Sequence[Matcher],
        *,
        duration: float,
        created_by: str,
        comment: str,
        now: datetime | None = None,
    ) -> Silence:
        """Create a silence from explicit matchers; emit ``silence.created``."""
        if not comment.strip():
            raise InvalidSilence("a silence needs a comment: say why the alert is muted")
        if not created_by.strip():
            raise InvalidSilence("a silence needs its author (created_by)")
        if duration <= 0:
            raise InvalidSilence(f"a silence needs a positive duration, got {duration}s")
        if not matchers:
            raise InvalidSilence("a silence needs at least one matcher")
        starts = now or datetime.now(UTC)
        ends = starts + timedelta(seconds=duration)
        body = {
            "matchers": [m.model_dump() for m in matchers],
            "startsAt": _iso(starts),
            "endsAt": _iso(ends),
            "createdBy": created_by,
            "comment": comment,
        }
        silence_id = await self.alertmanager.post_silence(body)
        silence = Silence(
            id=silence_id,
            matchers=list(matchers),
            starts_at=starts,
            ends_at=ends,
            created_by=created_by,
            comment=comment,
        )
        if self.sink is not None:
            await self.sink.emit(
                SilenceCreated(
                    id=silence_id,
                    matchers=body["matchers"],
                    starts_at=starts,
                    ends_at=ends,
                    created_by=created_by,
                    comment=comment,
                )
            )
        return silence

    async def list(self, *, include_expired: bool = False) -> list[Silence]:
        """The silences Alertmanager knows, newest end first; expired ones only if asked."""
        data = await self.alertmanager.get_silences()
        try:
            silences = parse_silences(data)
        except ValueError as exc:
            raise SourceUnavailable(
                self.alertmanager.name,
                self.alertmanager.url,
                f"unexpected reply to GET /api/v2/silences: {exc}",
            ) from None
        if not include_expired:
            silences = [s for s in silences if s.state != "expired"]
        return sorted(silences, key=lambda s: s.ends_at.timestamp(), reverse=True)

    async def expire(self, silence_id: str) -> None:
        """Expire a silence now; emit ``silence.expired``."""
        if not silence_id.strip():
            raise InvalidSilence("which silence? the id is empty")
        await self.alertmanager.delete_silence(silence_id)
        if self.sink is not None:
            await self.sink.emit(SilenceExpired(id=silence_id))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
