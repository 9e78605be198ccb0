"""Runbooks: the Markdown format (docs/runbook-format.md), its parser, expectations, lint,
the ``checks/`` catalog (catalog.py) and alert → runbook ranking (match.py)."""
