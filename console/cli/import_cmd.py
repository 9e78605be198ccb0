"""``incident-console import``: turn a plain Markdown runbook into the console's format."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli import cli
from console.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, echo, print_problems
from console.errors import ProblemList
from console.runbook.importer import import_runbook
from console.yamlsrc import read_source


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the runbook here (never over an existing file); default: standard output.",
)
def import_cmd(file: Path, output: Path | None) -> None:
    """Turn a plain Markdown runbook (a wiki page) into the console's format.

    Adds front matter (alerts guessed from the title), marks shell blocks check (every command
    only reads) or action, strips '$ ' prompts, moves pasted output out of the commands,
    escapes Go templates and turns <placeholders> into variables. What it could not decide is
    printed as file:line warnings. Exit 0 when the result parses, 1 when it still has errors,
    2 when FILE cannot be read or already is a runbook. See docs/runbook-format.md.
    """
    problems = ProblemList()
    text = read_source(file, "runbook", problems)
    if text is None:
        print_problems(problems.items)
        raise SystemExit(EXIT_UNUSABLE)
    result = import_runbook(text, file)
    if not result.text:
        print_problems(result.problems.items)
        raise SystemExit(EXIT_UNUSABLE)
    if output is None:
        echo(result.text, nl=False)
    else:
        try:
            with output.open("x", encoding="utf-8") as out:  # "x": never over an existing file
                out.write(result.text)
        except OSError as exc:
            echo(f"{output}:1: cannot write the runbook: {exc.strerror or exc}", err=True)
            raise SystemExit(EXIT_UNUSABLE) from None
    print_problems(result.problems.items)
    alerts = ", ".join(result.alerts) or "none (add them under alerts:)"
    echo(f"imported {file}: alerts: {alerts}", err=True)
    raise SystemExit(EXIT_FINDINGS if result.problems.errors else EXIT_OK)
