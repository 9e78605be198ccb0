"""incident-console: a terminal console for on-call engineers.

The package is split so the core (formats, models, the journal fold, verify, export) never
imports Textual; only ``console.tui`` does.
"""

__version__ = "0.1.0"
