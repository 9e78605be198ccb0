"""The ``incident-console`` command line (click).

Each group of commands lives in its own module; this module builds the top-level group and
registers them. A command's module is imported when the command runs (or the help lists it),
so starting the console does not load every other command's code first.
"""

from __future__ import annotations

import importlib

import click

from console import __version__

# The module of ``console.cli`` that defines each command (it registers on ``cli`` when imported).
COMMAND_MODULES = {
    "config": "config_cmds",
    "open": "console_cmds",
    "resume": "console_cmds",
    "drill": "console_cmds",
    "demo": "console_cmds",
    "import": "import_cmd",
    "verify": "journal_cmds",
    "export": "journal_cmds",
    "timeline": "journal_cmds",
    "review": "journal_cmds",
    "lint": "lint_cmds",
    "run": "run_cmd",
    "status": "status_cmd",
}


class LazyGroup(click.Group):
    """A group whose commands' modules are imported when a command is first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"console.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in COMMAND_MODULES:  # a typo: "did you mean" needs them all
            for module in sorted(set(COMMAND_MODULES.values())):
                importlib.import_module(f"console.cli.{module}")
        return super().resolve_command(ctx, args)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
