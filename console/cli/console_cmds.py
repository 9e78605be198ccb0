"""The interactive console: ``open``, ``resume``, ``drill`` and ``demo``.

Textual is imported only when one of these commands runs, so the rest of the CLI (and the
core) stays usable without it.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from console.cli import cli
from console.cli.common import (
    accept_risk_option,
    check_policy_or_exit,
    config_option,
    die,
    echo,
    load_config_or_exit,
    print_problems,
    speed_option,
    use_redactor,
)
from console.config import LoadedConfig, bare_config
from console.errors import SourceError

if TYPE_CHECKING:
    from console.runbook.model import Runbook
    from console.workspace import Workspace

journal_option = click.option(
    "--journal",
    type=click.Path(path_type=Path),
    help="Folder (or .jsonl file) for the incident log (default: journal.dir from the config).",
)


def _serve(
    what: str,
    loaded: LoadedConfig,
    build: Callable[[], Coroutine[Any, Any, Workspace]],
    prepare: Callable[[Workspace], None] | None = None,
) -> None:
    """Run the console on ONE event loop, building its workspace after the first frame, then
    say goodbye.

    The journal's group-commit timer and the engines' connections belong to the loop they were
    made on; a workspace built on a loop that is then closed would never fsync again.
    ``what`` is said on the first frame; ``loaded`` is the config in force (its theme is the
    first frame's). ``prepare`` adjusts the built workspace (which runbook to show).
    """
    from console.tui.app import Opening, run_app

    async def opened() -> Workspace:
        workspace = await build()
        if prepare is not None:
            prepare(workspace)
        use_redactor(workspace.incident.redactor)  # one redactor for the screen, log and farewell
        return workspace

    with asyncio.Runner() as runner:
        ended = runner.run(run_app(Opening(what, loaded, opened)))
    error = ended.opening_error
    if isinstance(error, SourceError):
        print_problems(error.problems)
        die(f"{len(error.problems)} problem(s); nothing was started")
    if error is not None:
        die(str(error))
    workspace = ended.workspace
    if workspace is None:
        return
    if ended.farewell:
        echo(ended.farewell)
    if workspace.scenario is not None:
        from console.drill.debrief import debrief

        echo("debrief:")
        for line in debrief(workspace.scenario, workspace.incident.state).lines():
            echo(f"  {line}")
    path = workspace.incident.path
    for warning in workspace.incident.warnings:  # the log's exposure: said again after the screen
        echo(f"incident-console: warning: {warning}", err=True)
    if path is not None:
        echo(f"incident log: {path}")
        echo(f"head hash: {workspace.incident.state.head}")


@cli.command("open")
@click.argument("runbook", required=False, type=click.Path(path_type=Path))
@click.option("--title", help="The incident's title (default: the runbook's title).")
@journal_option
@config_option
@accept_risk_option
def open_cmd(
    runbook: Path | None,
    title: str | None,
    journal: Path | None,
    config_path: str | None,
    accept_risk: str | None,
) -> None:
    """Open a live incident in the console, optionally on RUNBOOK.

    Without RUNBOOK the console offers the runbooks that answer the firing alerts first.
    """
    from console.runbook.parse import load_runbook

    loaded = load_config_or_exit(config_path)
    accepted = check_policy_or_exit(loaded, accept_risk)
    book = None
    if runbook is not None:
        try:
            book = load_runbook(runbook)
        except SourceError as exc:
            print_problems(exc.problems)
            die(f"{runbook} has {len(exc.problems)} problem(s); run lint on it")

    async def build() -> Workspace:
        from console.workspace import live_workspace

        return await live_workspace(
            loaded,
            title=title or (book.title if book else "incident"),
            runbook=book,
            journal=journal,
            accepted=accepted,
            accept_reason=accept_risk,
        )

    def show(workspace: Workspace) -> None:
        workspace.runbook = book

    _serve(f"the incident on {book.id}" if book else "the incident", loaded, build, show)


@cli.command("resume")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@accept_risk_option
def resume_cmd(log: Path, config_path: str | None, accept_risk: str | None) -> None:
    """Reopen an incident's LOG in the console and carry on where it stopped.

    A torn last line from a crash is moved aside to LOG.broken and recorded; damage anywhere
    else refuses the log (run verify on it).
    """
    loaded = load_config_or_exit(config_path)
    accepted = check_policy_or_exit(loaded, accept_risk)

    async def build() -> Workspace:
        from console.workspace import live_workspace

        return await live_workspace(
            loaded, title="", resume=log, accepted=accepted, accept_reason=accept_risk
        )

    def show_last_runbook(workspace: Workspace) -> None:
        runbooks = workspace.incident.state.runbooks
        if runbooks:
            workspace.runbook = workspace.library.by_id(runbooks[-1].data.id) or _try_load(
                Path(runbooks[-1].data.path)
            )

    _serve(f"the incident in {log.name}", loaded, build, show_last_runbook)


def _try_load(path: Path) -> Runbook | None:
    from console.runbook.parse import load_runbook

    try:
        return load_runbook(path)
    except SourceError:
        return None


@cli.command("drill")
@click.argument("scenario", required=False, type=click.Path(exists=True, path_type=Path))
@speed_option(1.0)
@journal_option
@config_option
@click.option(
    "--facilitator",
    is_flag=True,
    help="Attach a facilitator's console to the running drill of SCENARIO (any, if omitted).",
)
@click.option(
    "--drill",
    "drill_id",
    metavar="ID",
    help="With --facilitator: the drill to attach to (its id, process id or log file).",
)
@click.option("--serve", is_flag=True, help="Serve the trainee's console to a web browser.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="With --serve."
)
def drill_cmd(
    scenario: Path | None,
    speed: float,
    journal: Path | None,
    config_path: str | None,
    facilitator: bool,
    drill_id: str | None,
    serve: bool,
    host: str,
    port: int,
) -> None:
    """Run a tabletop drill on SCENARIO's simulated cluster (default: the bundled one).

    Nothing leaves this machine: nodes and Prometheus are simulated. The drill is journalled
    like an incident, marked as a drill. A facilitator attaches from another terminal with
    --facilitator; --serve shows the console in a browser (one drill per browser tab).
    """
    if drill_id is not None and not facilitator:
        raise click.UsageError("--drill picks the drill a --facilitator attaches to")
    if facilitator and serve:
        raise click.UsageError("--facilitator attaches in this terminal; --serve is the trainee's")
    if facilitator:
        _facilitate(scenario, drill_id)
        return
    if serve:
        _serve_in_browser(scenario, speed, journal, config_path, host, port)
        return
    loaded = load_config_or_exit(config_path)

    async def build() -> Workspace:
        from console.workspace import drill_workspace

        return await drill_workspace(loaded, scenario, speed=speed, journal=journal)

    _serve(f"the drill {scenario.name}" if scenario else "the drill", loaded, build)


def _facilitate(scenario: Path | None, drill_id: str | None) -> None:
    """Find the running drill asked for and run the facilitator's console on it."""
    from console.drill.control import ControlClient, ControlError, find_drills
    from console.tui.facilitator import run_facilitator

    with asyncio.Runner() as runner:
        try:
            found = runner.run(find_drills(None if drill_id else scenario, drill_id))
            if len(found) != 1:
                asked = drill_id or (str(scenario) if scenario else "any scenario")
                ids = ", ".join(f"{d.drill} (pid {d.hello.get('pid')})" for d in found)
                die(
                    f"{len(found)} running drills match {asked}: {ids}; pick one with --drill ID"
                    if found
                    else f"no running drill of {asked} (start one with: incident-console drill)"
                )
            client = runner.run(ControlClient.connect(found[0].path))
        except ControlError as exc:
            die(str(exc))
        farewell = runner.run(run_facilitator(client))
    if farewell:
        echo(farewell)


def _serve_in_browser(
    scenario: Path | None,
    speed: float,
    journal: Path | None,
    config_path: str | None,
    host: str,
    port: int,
) -> None:
    """Serve ``drill`` (the same options, without --serve) to browsers on ``host:port``."""
    from console.tui.room import is_loopback, serve_in_browser

    command = [sys.executable, "-m", "console", "drill", "--speed", f"{speed:g}"]
    for option, value in (("--journal", journal), ("--config", config_path)):
        if value is not None:
            command += [option, str(Path(value).resolve())]
    if scenario is not None:
        command.append(str(scenario.resolve()))
    if not is_loopback(host):
        echo(
            f"incident-console: warning: serving on {host}: anyone who reaches it drives the "
            "drill (there is no login)",
            err=True,
        )
    echo(f"the drill's console: http://{host}:{port}/ (each browser tab starts its own drill)")
    try:
        serve_in_browser(shlex.join(command), host=host, port=port, title="incident-console drill")
    except OSError as exc:
        die(f"cannot serve on {host}:{port}: {exc.strerror or exc}")


@cli.command("demo")
@speed_option(1.0)
def demo_cmd(speed: float) -> None:
    """Try the console: a drill on the bundled simulated etcd cluster (no servers needed)."""
    loaded = bare_config()

    async def build() -> Workspace:
        from console.workspace import drill_workspace

        return await drill_workspace(loaded, None, speed=speed)

    _serve("the drill", loaded, build)
