"""Helpers every command shares: loading the config, printing problems, exit codes.

Exit codes across the CLI: 0 all good, 1 findings (failed checks, lint errors, verify
findings), 2 could not do the job (usage, config, runbook or log unreadable).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import click

from console.config import LoadedConfig, enforce_policy, load_config
from console.errors import PolicyError, Problem, SourceError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNUSABLE = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="console.yaml to use (default: $INCIDENT_CONSOLE_CONFIG, ./console.yaml, user dir).",
)
accept_risk_option = click.option(
    "--accept-risk",
    metavar="WHY",
    help="Start although the config breaks its profile's guardrails; WHY is logged.",
)


def speed_option(default: float, help_prefix: str = "") -> Callable[[F], F]:
    """``--speed``: drill seconds per real second."""
    return click.option(
        "--speed",
        type=click.FloatRange(0.1, 1000),
        default=default,
        show_default=True,
        help=f"{help_prefix}Drill seconds per real second.",
    )


def print_problems(problems: Iterable[Problem], *, err: bool = True) -> None:
    """Print problems as ``file:line: message``, one a line."""
    for problem in problems:
        click.echo(str(problem), err=err)


def die(message: str, code: int = EXIT_UNUSABLE) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(f"incident-console: {message}", err=True)
    sys.exit(code)


def load_config_or_exit(path: str | None) -> LoadedConfig:
    """Load the config; on errors print every problem and exit 2."""
    try:
        return load_config(path)
    except SourceError as exc:
        print_problems(exc.problems)
        die(f"the config has {len(exc.problems)} problem(s); nothing was run")


def check_policy_or_exit(loaded: LoadedConfig, accept_risk: str | None) -> list[Problem]:
    """Enforce the profile's guardrails; exit 2 listing every violation unless accepted."""
    try:
        return enforce_policy(loaded, accept_risk)
    except PolicyError as exc:
        print_problems(exc.violations)
        die(
            f"the {loaded.config.profile} profile's guardrails are broken "
            f"({len(exc.violations)} violation(s)); fix the config or pass "
            '--accept-risk "why" (the acceptance is logged)'
        )
