"""Firing alerts: one model for Alertmanager's and Prometheus' alerts, and their parsers.

The parsers are pure and strict about shape: a reply that is not what the API documents
raises ``ValueError`` with a message saying what was wrong, which the source turns into
"unexpected reply" for the screen. Nothing in a reply can crash the console.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from console.journal.events import AlertFiring, AlertPayload, AlertResolved

_Event = TypeVar("_Event", bound=AlertPayload)

RUNBOOK_ANNOTATIONS = ("runbook_url", "runbook")


class Alert(BaseModel):
    """One active alert, as the console shows and journals it."""

    model_config = ConfigDict(defer_build=True, frozen=True)
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    state: str  # alertmanager: active | suppressed | unprocessed; prometheus: firing
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    starts_at: datetime | None = None
    generator_url: str | None = None
    source: str = "alertmanager"

    @property
    def alertname(self) -> str:
        """The ``alertname`` label ("" when missing)."""
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        """The ``severity`` label ("" when missing)."""
        return self.labels.get("severity", "")

    @property
    def runbook_url(self) -> str | None:
        """The ``runbook_url`` (or ``runbook``) annotation."""
        for key in RUNBOOK_ANNOTATIONS:
            if self.annotations.get(key):
                return self.annotations[key]
        return None

    @property
    def suppressed(self) -> bool:
        """Whether a silence or an inhibition hides this alert."""
        return bool(self.silenced_by or self.inhibited_by or self.state == "suppressed")

    def firing_event(self) -> AlertFiring:
        """The ``alert.firing`` payload for this alert."""
        return self._event(
            AlertFiring,
            annotations=self.annotations,
            starts_at=self.starts_at,
            silenced=self.suppressed,
        )

    def resolved_event(self, ends_at: datetime) -> AlertResolved:
        """The ``alert.resolved`` payload for this alert, resolved at ``ends_at``."""
        return self._event(AlertResolved, ends_at=ends_at)

    def _event(self, kind: type[_Event], **fields: Any) -> _Event:
        """A ``kind`` payload naming this alert the one way both alert events do."""
        return kind(
            fingerprint=self.fingerprint,
            alertname=self.alertname,
            labels=self.labels,
            source=self.source,
            **fields,
        )


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable id for a label set (Prometheus' own alert API gives none)."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class _Lenient(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")


class _Labelled(_Lenient):
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _text_values(cls, value: Any) -> Any:
        """Label values are text; a number sent by a sloppy exporter is kept as its text."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value


class _AmStatus(_Lenient):
    state: str = "active"
    silencedBy: list[str] | None = None
    inhibitedBy: list[str] | None = None


class _AmAlert(_Labelled):
    fingerprint: str
    status: _AmStatus = Field(default_factory=_AmStatus)
    startsAt: datetime | None = None
    generatorURL: str | None = None


class _PromAlert(_Labelled):
    state: str
    activeAt: datetime | None = None


class _PromAlerts(_Lenient):
    alerts: list[_PromAlert]


class _PromReply(_Lenient):
    status: str
    data: _PromAlerts


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "the reply"
    return f"{where}: {err['msg']}"


def parse_alertmanager_alerts(data: Any) -> list[Alert]:
    """Alerts from an Alertmanager ``GET /api/v2/alerts`` reply; ``ValueError`` on bad shape."""
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON list of alerts, got {type(data).__name__}")
    items: list[_AmAlert] = []
    for index, raw in enumerate(data):
        try:
            items.append(_AmAlert.model_validate(raw))
        except ValidationError as exc:
            raise ValueError(f"alert #{index + 1}, {_first_error(exc)}") from None
    alerts = [
        Alert(
            fingerprint=item.fingerprint,
            labels=item.labels,
            annotations=item.annotations,
            state=item.status.state,
            silenced_by=tuple(item.status.silencedBy or ()),
            inhibited_by=tuple(item.status.inhibitedBy or ()),
            starts_at=item.startsAt,
            generator_url=item.generatorURL,
            source="alertmanager",
        )
        for item in items
    ]
    return sorted(alerts, key=_oldest_first)


def _oldest_first(alert: Alert) -> tuple[float, str]:
    """Sort key: oldest first, so the order on screen is stable between polls."""
    started = alert.starts_at.timestamp() if alert.starts_at else float("inf")
    return (started, alert.fingerprint)


def parse_prometheus_alerts(data: Any) -> list[Alert]:
    """The firing alerts of a Prometheus ``GET /api/v1/alerts`` reply (pending ones are left
    out); ``ValueError`` on bad shape."""
    try:
        reply = _PromReply.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_first_error(exc)) from None
    if reply.status != "success":
        raise ValueError(f"status is {reply.status!r}, not 'success'")
    alerts = [
        Alert(
            fingerprint=label_fingerprint(item.labels),
            labels=item.labels,
            annotations=item.annotations,
            state="firing",
            starts_at=item.activeAt,
            source="prometheus",
        )
        for item in reply.data.alerts
        if item.state == "firing"
    ]
    return sorted(alerts, key=_oldest_first)
