"""``incident-console config ...``: check a config and show the effective settings."""

from __future__ import annotations

import click
import yaml

from console.cli import cli
from console.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    accept_risk_option,
    config_option,
    echo,
    echo_json,
    load_config_or_exit,
    print_problems,
)
from console.config import discover, display_url, policy_violations


@cli.group()
def config() -> None:
    """Inspect the console's configuration (console.yaml)."""


@config.command("check")
@config_option
@accept_risk_option
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
def config_check(config_path: str | None, accept_risk: str | None, as_json: bool) -> None:
    """Validate the config and print the effective settings.

    Exit 0 when valid, 1 when it breaks its profile's guardrails (unless --accept-risk), 2 when
    it cannot be read or is invalid. Every problem is printed as file:line: message [key].
    """
    loaded = load_config_or_exit(config_path)
    violations = policy_violations(loaded)
    source = str(loaded.path) if loaded.path else "built-in defaults (no console.yaml found)"
    effective = loaded.config.model_dump(mode="json")
    for name in ("prometheus", "alertmanager"):
        if effective.get(name):
            effective[name]["url"] = display_url(effective[name]["url"])
    if as_json:
        out = {
            "source": source,
            "sha256": loaded.sha256,
            "violations": [v.to_json() for v in violations],
            "config": effective,
        }
        echo_json(out)
    else:
        echo(f"# config: {source}")
        if loaded.sha256:
            echo(f"# sha256: {loaded.sha256}")
        echo(f"# nodes: {len(loaded.nodes)}")
        echo(yaml.safe_dump(effective, sort_keys=False).rstrip())
    print_problems(loaded.warnings)
    if violations:
        print_problems(violations)
        if accept_risk:
            echo(f"risk accepted: {accept_risk}", err=True)
            raise SystemExit(EXIT_OK)
        echo(
            f"{len(violations)} guardrail violation(s) for profile {loaded.config.profile}",
            err=True,
        )
        raise SystemExit(EXIT_FINDINGS)
    echo("config ok" if loaded.path else "no config file; built-in defaults", err=True)


@config.command("path")
@config_option
def config_path_cmd(config_path: str | None) -> None:
    """Print which config file would be used (discovery order as documented)."""
    path = discover(config_path)
    echo(str(path) if path else "(none: built-in defaults)")
