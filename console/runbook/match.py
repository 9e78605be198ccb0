"""Alert → runbook: rank the local runbooks that answer an alert.

Two signals, strongest first: the alert's ``runbook_url`` annotation resolves to a local
runbook (a file path or ``file://`` URL naming the file itself; or any URL whose last path
segment is a runbook's file name or id), and the runbook's front matter lists the alertname
under ``alerts:``. Both together rank highest. Ties go to the more specific runbook (fewer
alerts listed), then the one whose ``severity`` matches the alert's, then by id.

Alert names are case-sensitive, as in Prometheus. A runbook whose ``alerts:`` differs from the
alert's name only in case (``EtcdMembersDown`` for ``etcdMembersDown``) is offered last, as a
"did you mean" (``RunbookMatch.answers`` is false), so the slip is seen and can be fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from console.runbook.model import Runbook

URL_FILE = 100
URL_NAME = 80
ALERTS_LIST = 50
CASE_ONLY = 1

RUNBOOK_SUFFIXES = (".md", ".markdown", ".html", ".htm")


class AlertLike(Protocol):
    """Anything with an alertname and annotations: a live ``Alert`` or a journaled event."""

    @property
    def alertname(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class RunbookMatch:
    """A runbook that answers an alert, how strongly, and why (for the screen)."""

    runbook: Runbook
    score: int
    reasons: tuple[str, ...]

    @property
    def answers(self) -> bool:
        """True when the runbook answers the alert; false for a near miss (a name that
        differs only in case), offered as a "did you mean"."""
        return self.score >= ALERTS_LIST


def case_near_miss(alertname: str, listed: Sequence[str]) -> str | None:
    """The name in ``listed`` that differs from ``alertname`` only in case, if any."""
    folded = alertname.casefold()
    return next((n for n in listed if n != alertname and n.casefold() == folded), None)


def runbook_url_of(alert: AlertLike) -> str | None:
    """The alert's ``runbook_url`` (or ``runbook``) annotation."""
    for key in ("runbook_url", "runbook"):
        value = alert.annotations.get(key)
        if value:
            return value.strip()
    return None


def _resolved(path: Path, base: Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        return path.resolve()
    except OSError:
        return path


def url_score(url: str, runbook: Runbook, base: Path) -> tuple[int, str] | None:
    """How ``url`` points at ``runbook``: the file itself, or a path ending in its name/id."""
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file", "http", "https"):
        return None
    path = unquote(parsed.path)
    local = parsed.scheme in ("", "file") and bool(path)
    if local and _resolved(Path(path), base) == _resolved(Path(runbook.file), base):
        return URL_FILE, f"runbook_url points at {runbook.file}"
    names = {runbook.id, Path(runbook.file).stem}
    for last in (path.rstrip("/").rsplit("/", 1)[-1], parsed.fragment):
        stem = last
        for suffix in RUNBOOK_SUFFIXES:
            if last.lower().endswith(suffix):
                stem = last[: -len(suffix)]
                break
        if stem and stem in names:
            return URL_NAME, f"runbook_url ends in {last}"
    return None


def rank_runbooks(
    alert: AlertLike,
    runbooks: Sequence[Runbook],
    *,
    base: Path | None = None,
) -> list[RunbookMatch]:
    """The runbooks that answer ``alert``, best first; empty when none does.

    ``base`` resolves relative paths in ``runbook_url`` (default: the current directory).
    """
    base = base or Path.cwd()
    severity = alert.labels.get("severity")
    url = runbook_url_of(alert)
    matches: list[RunbookMatch] = []
    for runbook in runbooks:
        score = 0
        reasons: list[str] = []
        if url:
            by_url = url_score(url, runbook, base)
            if by_url:
                score += by_url[0]
                reasons.append(by_url[1])
        if alert.alertname and alert.alertname in runbook.meta.alerts:
            score += ALERTS_LIST
            reasons.append(f"front matter lists {alert.alertname}")
        elif alert.alertname and not score:
            near = case_near_miss(alert.alertname, runbook.meta.alerts)
            if near is not None:
                score += CASE_ONLY
                reasons.append(
                    f"did you mean this runbook? its front matter lists {near}, which differs "
                    f"from {alert.alertname} only in case (alert names are case-sensitive)"
                )
        if score:
            matches.append(RunbookMatch(runbook, score, tuple(reasons)))

    def order(match: RunbookMatch) -> tuple[int, int, int, str]:
        same_severity = bool(severity) and match.runbook.meta.severity == severity
        meta = match.runbook.meta
        return (-match.score, len(meta.alerts), 0 if same_severity else 1, match.runbook.id)

    return sorted(matches, key=order)


@dataclass(frozen=True)
class AlertValue:
    """A variable's value as read from a firing alert's label (a ``label:`` in ``vars:``)."""

    value: str
    alertname: str
    label: str

    def __str__(self) -> str:
        return f"from alert {self.alertname}: {self.label}={self.value}"


def values_from_alerts(
    runbook: Runbook, alerts: Sequence[AlertLike], *, base: Path | None = None
) -> dict[str, AlertValue]:
    """Each variable that names a ``label:``, read from the first alert answered by ``runbook``
    that carries that label; alerts the runbook does not answer are never used."""
    answering = [a for a in alerts if rank_runbooks(a, [runbook], base=base)]
    out: dict[str, AlertValue] = {}
    for name, spec in runbook.meta.vars.items():
        if spec.label is None:
            continue
        for alert in answering:
            value = alert.labels.get(spec.label)
            if value:
                out[name] = AlertValue(value, alert.alertname, spec.label)
                break
    return out
