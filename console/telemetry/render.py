"""The plain-text and JSON views of a ``TelemetryState`` (``incident-console status``).

Written for a terminal, a script or a chat bot: no colour, no cursor movement. What each
panel shows (stale or not, its detail and trend) is decided by ``present_panel``, shared with
the TUI; this module only lays it out. Every field that comes from a source (alert labels
and annotations, panel titles and details, errors) is shown on one line with its control
characters as pictures, so an alert cannot move the cursor or forge a line of the view.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from console.journal.events import PanelValue
from console.telemetry import format as fmt
from console.telemetry.alerts import Alert
from console.telemetry.present import field, present_panel
from console.telemetry.state import SourceHealth, TelemetryState

TITLE_WIDTH = 28


def labels_line(alert: Alert) -> str:
    """The alert's labels other than alertname and severity, as ``k=v`` on one line."""
    return " ".join(
        f"{field(k)}={field(v)}"
        for k, v in sorted(alert.labels.items())
        if k not in ("alertname", "severity")
    )


def _source_line(source: SourceHealth, now: float) -> str:
    if source.up is None:
        return f"{source.name} {field(source.url)} not polled yet"
    if source.up:
        return f"{source.name} {field(source.url)} up"
    down_for = None if source.since is None else now - source.since
    since = f" for {fmt.eta(down_for)}" if down_for is not None and down_for >= 1 else ""
    return f"{source.name} {field(source.url)} DOWN{since}: {field(source.error)}"


def _panel_lines(panel: PanelValue, width: int) -> list[str]:
    view = present_panel(panel)
    title = view.title if len(view.title) <= width else view.title[: width - 1] + "…"
    line = f"{title:<{width}}  {view.label:<10}  {view.detail}"
    if view.trend:
        line += f"  {view.trend}"
    lines = [line.rstrip()]
    if view.error:
        lines.append(f"{'':<{width}}  ! {view.error}")
    return lines


def _alert_lines(alert: Alert) -> list[str]:
    labels = labels_line(alert)
    started = alert.starts_at.astimezone(UTC) if alert.starts_at else None
    since = f" since {started:%Y-%m-%d %H:%M:%SZ}" if started else ""
    muted = " [silenced]" if alert.silenced_by else " [inhibited]" if alert.inhibited_by else ""
    severity, name = field(alert.severity) or "-", field(alert.alertname) or "?"
    head = f"  {severity:<9} {name}  {labels}{since}{muted}"
    lines = [head.rstrip()]
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    if summary:
        lines.append(f"            {field(' '.join(summary.split()))[:160]}")
    if alert.runbook_url:
        lines.append(f"            runbook: {field(alert.runbook_url)}")
    return lines


def render_text(state: TelemetryState) -> str:
    """The status view as plain text lines."""
    verdict = state.verdict()
    wall = state.wall.astimezone(UTC)
    lines = [f"incident-console status  {wall:%Y-%m-%d %H:%M:%SZ}  {verdict}"]
    if state.sources:
        lines.append("sources:")
        lines.extend(f"  {_source_line(s, state.at)}" for s in state.sources)
    lines.append("")
    if state.panels:
        width = min(TITLE_WIDTH, max(len(field(p.title)) for p in state.panels))
        for panel in state.panels:
            lines.extend(_panel_lines(panel, width))
    else:
        lines.append("no panels configured (add panels: to console.yaml)")
    lines.append("")
    if state.alerts_error:
        lines.append(f"alerts unavailable: {field(state.alerts_error)}")
    else:
        quiet = len(state.alerts) - len(state.firing)
        extra = f", {quiet} silenced or inhibited" if quiet else ""
        if state.alerts:
            lines.append(f"alerts ({len(state.firing)} firing{extra}, from {state.alert_source}):")
            for alert in state.alerts:
                lines.extend(_alert_lines(alert))
        else:
            lines.append(f"no alerts firing (from {state.alert_source})")
    return "\n".join(lines)


def alert_json(alert: Alert) -> dict[str, Any]:
    """One alert as plain JSON data."""
    return {
        "fingerprint": alert.fingerprint,
        "alertname": alert.alertname,
        "severity": alert.severity,
        "state": alert.state,
        "silenced": alert.suppressed,
        "silenced_by": list(alert.silenced_by),
        "inhibited_by": list(alert.inhibited_by),
        "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "runbook_url": alert.runbook_url,
        "source": alert.source,
    }


def render_json(state: TelemetryState) -> dict[str, Any]:
    """The status view as JSON data (``--json``)."""
    return {
        "verdict": state.verdict(),
        "exit": state.exit_code(),
        "time": state.wall.isoformat(),
        "sources": [
            {
                "name": s.name,
                "url": s.url,
                "up": s.up,
                "error": s.error,
                "for_s": None if s.since is None else round(state.at - s.since, 3),
            }
            for s in state.sources
        ],
        "panels": [p.model_dump(mode="json") for p in state.panels],
        "alerts": [alert_json(a) for a in state.alerts],
        "alerts_error": state.alerts_error,
        "alert_source": state.alert_source,
    }
