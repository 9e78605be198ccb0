"""Helpers every command shares: loading the config, printing, exit codes.

Everything the CLI prints goes through ``echo`` or ``echo_json``: secrets are redacted with the
session's redactor and control characters from outside (node output, alert labels, log fields)
are shown as pictures, so nothing reaches the terminal raw. ``click.echo`` and ``print`` are
banned elsewhere in ``console/`` (ruff) so that it stays so.

Exit codes across the CLI: 0 all good, 1 findings (failed checks, lint errors, verify
findings), 2 could not do the job (usage, config, runbook or log unreadable).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import click

from console.config import LoadedConfig, enforce_policy, load_config
from console.errors import PolicyError, Problem, SourceError
from console.journal.redact import Redactor, redact_json, session_redactor
from console.sanitize import visible

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


_redactor: Redactor = session_redactor(None)


def use_redactor(redactor: Redactor) -> None:
    """Make ``redactor`` (the session's) the one ``echo`` and ``echo_json`` apply."""
    global _redactor
    _redactor = redactor


def printer_redactor() -> Redactor:
    """The redactor ``echo`` applies: the session's once the config is loaded."""
    return _redactor


def echo(text: str, *, err: bool = False, nl: bool = True, redact: bool = True) -> None:
    """Print ``text`` redacted and with control characters made visible.

    ``redact=False`` only for a document whose fields were redacted before it was rendered
    (an export): redacting the rendered text could undo its escaping.
    """
    click.echo(visible(_redactor.text(text) if redact else text), err=err, nl=nl)


def echo_json(obj: Any, *, indent: int | None = 2) -> None:
    """Print ``obj`` as JSON, every string in it redacted first so the JSON stays valid."""
    plain = json.loads(json.dumps(obj))  # tuples and the like become lists the walk can see
    click.echo(json.dumps(redact_json(plain, _redactor), indent=indent))


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
        echo(str(problem), err=err)


def die(message: str, code: int = EXIT_UNUSABLE) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    echo(f"incident-console: {message}", err=True)
    sys.exit(code)


def load_config_or_exit(path: str | None) -> LoadedConfig:
    """Load the config (and its redaction rules for printing); on errors print them, exit 2."""
    try:
        loaded = load_config(path)
    except SourceError as exc:
        print_problems(exc.problems)
        die(f"the config has {len(exc.problems)} problem(s); nothing was run")
    use_redactor(session_redactor(loaded.config))
    return loaded


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
