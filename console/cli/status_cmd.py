"""``incident-console status``: the panels and firing alerts, headless, for scripts and bots."""

from __future__ import annotations

import asyncio
import sys

import click

from console.cli import cli
from console.cli.common import (
    EXIT_UNUSABLE,
    config_option,
    die,
    echo,
    echo_json,
    load_config_or_exit,
)
from console.config import Config, LoadedConfig
from console.source_errors import SourceConfigError
from console.telemetry.poller import TelemetryPoller
from console.telemetry.render import render_json, render_text
from console.telemetry.state import TelemetryState


def _no_sources(loaded: LoadedConfig) -> str:
    if loaded.path is None:
        return (
            "no console.yaml found (looked at --config, $INCIDENT_CONSOLE_CONFIG, ./console.yaml "
            "and the user config dir), so there is nothing to poll: create one with "
            "prometheus: {url: ...} and/or alertmanager: {url: ...}"
        )
    return (
        f"{loaded.path} configures no telemetry source: add prometheus: {{url: ...}} and/or "
        "alertmanager: {url: ...}"
    )


def _show(state: TelemetryState, as_json: bool, watch: bool) -> None:
    if as_json:
        echo_json(render_json(state), indent=None if watch else 2)
    else:
        echo(render_text(state) + ("\n" if watch else ""))


async def _status(
    config: Config, as_json: bool, watch: bool, count: int | None, exit_code: list[int]
) -> None:
    """Poll and print; ``exit_code[0]`` follows the last state shown (kept on Ctrl-C)."""
    async with TelemetryPoller(config) as poller:
        if not watch:
            state = await poller.poll_once()
            _show(state, as_json, watch=False)
            exit_code[0] = state.exit_code()
            return
        shown = 0
        while count is None or shown < count:
            if shown:
                await asyncio.sleep(poller.refresh)
            state = await poller.poll_once()
            _show(state, as_json, watch=True)
            exit_code[0] = state.exit_code()
            shown += 1


@cli.command("status")
@config_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (a line per update with --watch)."
)
@click.option("--watch", is_flag=True, help="Keep polling every refresh; Ctrl-C stops.")
@click.option(
    "--count", type=click.IntRange(min=1), help="With --watch: stop after N updates.", default=None
)
def status_cmd(config_path: str | None, as_json: bool, watch: bool, count: int | None) -> None:
    """Show the panels and firing alerts once (or every refresh with --watch).

    Exit 0 healthy, 1 degraded or alerts firing (a panel not healthy/ok, or an alert neither
    silenced nor inhibited), 2 a source unreachable, or nothing to poll, or the config
    unusable (each problem printed as file:line: message).
    """
    loaded = load_config_or_exit(config_path)
    config = loaded.config
    if config.prometheus is None and config.alertmanager is None:
        die(_no_sources(loaded))
    exit_code = [EXIT_UNUSABLE]
    try:
        asyncio.run(_status(config, as_json, watch, count, exit_code))
    except SourceConfigError as exc:
        die(str(exc))
    except KeyboardInterrupt:
        pass
    sys.exit(exit_code[0])
