"""incident-console: a terminal console for on-call engineers.

The package is split so the core (formats, models, the journal fold, verify, export) never
imports Textual; only ``console.tui`` does.
"""

from pathlib import Path

__version__ = "0.1.0"

DATA = Path(__file__).resolve().parent / "data"
"""The bundled runbooks, checks, scenarios and themes shipped inside the package."""
