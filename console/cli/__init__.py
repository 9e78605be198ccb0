"""The ``incident-console`` command line (click).

Each group of commands lives in its own module; this module builds the top-level group and
registers them.
"""

from __future__ import annotations

import click

from console import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="incident-console")
def cli() -> None:
    """A terminal console for on-call engineers.

    Shows the live state of the cluster, opens the runbook that answers the firing alert, runs
    its checks and actions on the right nodes, and records everything in a hash-chained incident
    log that can be verified and exported as a postmortem.
    """


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="incident-console")


# Command modules register themselves on ``cli`` when imported.
from console.cli import (  # noqa: E402,F401
    config_cmds,
    console_cmds,
    import_cmd,
    journal_cmds,
    lint_cmds,
    run_cmd,
    status_cmd,
)
