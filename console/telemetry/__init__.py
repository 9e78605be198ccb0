"""Live telemetry: Prometheus and Alertmanager sources, panel models, the poller, silences,
alert → runbook ranking, and the plain-text status view.

The engine is ``TelemetryPoller`` (poller.py); the TUI and the headless commands consume its
``TelemetryState``. Nothing here imports Textual.
"""
