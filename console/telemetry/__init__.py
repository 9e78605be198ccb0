"""Live telemetry: Prometheus and Alertmanager sources, panel models, the poller, silences
and the plain-text status view. (Alert → runbook ranking is ``console.runbook.match``; the
sources' errors are ``console.source_errors``.)

The engine is ``TelemetryPoller`` (poller.py); the TUI and the headless commands consume its
``TelemetryState``. Nothing here imports Textual.
"""
