"""``incident-console verify``, ``export`` and ``timeline``: reading an incident log afterwards."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

import click

from console.cli import cli
from console.cli.common import EXIT_OK, die, echo, echo_json, printer_redactor
from console.errors import Problem
from console.journal.events import IncidentClosed
from console.journal.reader import LogUnreadable, follow_log, read_batches, read_log
from console.journal.verify import Verifier, VerifyReport
from console.report.export import RENDERERS, redacted_postmortem
from console.report.timeline import Timeline

DEFAULT_KEY_ENV = "INCIDENT_LOG_KEY"
SHOWN_FINDINGS = 100
_HEAD = re.compile(r"[0-9a-f]{7,64}")

log_argument = click.argument("log", type=click.Path(dir_okay=False, path_type=Path))
key_env_option = click.option(
    "--key-env",
    metavar="VAR",
    help=f"Environment variable holding the HMAC key of the log (default: {DEFAULT_KEY_ENV}).",
)


def _key(key_env: str | None) -> bytes | None:
    """The HMAC key from the named variable; an explicitly named but unset variable is an error."""
    value = os.environ.get(key_env or DEFAULT_KEY_ENV)
    if key_env and not value:
        die(f"--key-env {key_env}: the environment variable {key_env} is not set")
    return value.encode() if value else None


def _head(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    head = value.strip().lower()
    if not _HEAD.fullmatch(head):
        raise click.BadParameter(f"{value!r} is not a hash: give 7 to 64 hex digits")
    return head


def _runbook_hashes(log: Path, paths: list[str]) -> dict[str, str | None]:
    """Today's SHA-256 of each runbook path (as given, else beside the log); None if gone."""
    out: dict[str, str | None] = {}
    for path in paths:
        candidates = [Path(path)] if Path(path).is_absolute() else [Path(path), log.parent / path]
        out[path] = None
        for candidate in candidates:
            try:
                out[path] = hashlib.sha256(candidate.read_bytes()).hexdigest()
                break
            except (OSError, ValueError):  # ValueError: a NUL byte in the logged path
                continue
    return out


def _verify(log: Path, key: bytes | None, head: str | None = None) -> VerifyReport:
    """Verify the log, streaming it; exit 2 if it cannot be read or is not a log at all."""
    verifier = Verifier(str(log), key=key, head=head)
    try:
        for batch in read_batches(log):
            verifier.feed_batch(batch)
    except LogUnreadable as exc:
        die(str(exc))
    report = verifier.finish(_runbook_hashes(log, [r.path for r in verifier.runbooks]))
    if not report.readable:
        die(f"{log}:1: not an incident log (no line holds an event)")
    return report


def _summary(report: VerifyReport) -> str:
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("error", "warning")}
    state = "closed" if report.closed else "open (no incident.closed)"
    facts = (
        f"{report.events} events, seq 0-{report.last_seq}, head {(report.head or '?')[:12]}, "
        f"chain {report.chain}, {state}"
    )
    if not report.failed:
        return f"{report.file}: OK: {facts}"
    return f"{report.file}: {counts['error']} error(s), {counts['warning']} warning(s): {facts}"


@cli.command("verify")
@log_argument
@click.option(
    "--head",
    metavar="HASH",
    callback=_head,
    help="Head hash pasted when the incident was closed (7+ hex digits): prove the log reaches it.",
)
@key_env_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_cmd(log: Path, head: str | None, key_env: str | None, as_json: bool) -> None:
    """Check an incident log's integrity, completeness and policy.

    Integrity: the hash chain (or HMAC chain with a key), contiguous seqs, no edited, moved or
    deleted line, the head reached (--head). Completeness: every block that started ended and
    every action was confirmed first. Policy: required checks passed before each action, a check
    ran after it, runbooks unchanged since. Each finding names the line and seq. Exit 0 clean,
    1 findings, 2 the log cannot be read.
    """
    report = _verify(log, _key(key_env), head)
    if as_json:
        echo_json(report.to_json())
    else:
        for finding in report.findings[:SHOWN_FINDINGS]:
            echo(finding.describe(str(log)))
        hidden = len(report.findings) - SHOWN_FINDINGS
        if hidden > 0:
            echo(f"... and {hidden} more finding(s); --json lists them all")
        echo(_summary(report))
    raise SystemExit(report.exit_code)


@cli.command("export")
@log_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(RENDERERS)),
    required=True,
    help="md (Markdown), html (one self-contained page) or json.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of standard output.",
)
@key_env_option
def export_cmd(log: Path, fmt: str, output: Path | None, key_env: str | None) -> None:
    """Write a postmortem of an incident log: Markdown, HTML or JSON.

    The Google SRE layout: summary, impact, detection, resolution, figures (TTD, TTA, TTM, TTR
    from the impact start), a timeline with T+ offsets and UTC times, every action and check
    with its per-node results and output, notes, and blank sections for root causes and action
    items. The log is verified first; findings are printed and noted in the postmortem.
    """
    report = _verify(log, _key(key_env))
    try:
        result = read_log(log)
    except LogUnreadable as exc:
        die(str(exc))
    failing = [f for f in report.findings if f.severity != "info"]
    if failing:
        echo(
            f"incident-console: warning: {log} has {len(failing)} verify finding(s); "
            f"run `incident-console verify {log}`",
            err=True,
        )
        integrity = f"{len(failing)} finding(s): run `incident-console verify {log.name}`"
    else:
        integrity = f"verified, no findings (chain {report.chain})"
    postmortem = redacted_postmortem(
        result.events, log_name=log.name, integrity=integrity, redactor=printer_redactor()
    )
    text = RENDERERS[fmt](postmortem)
    if output is None:
        if fmt == "json":
            echo_json(postmortem.model_dump(mode="json"))
        else:
            echo(text, nl=False, redact=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        die(f"{output}: cannot write the postmortem: {exc.strerror or exc}")
    echo(f"wrote {output}", err=True)


def _print_problem(problem: Problem) -> None:
    echo(f"incident-console: warning: {problem}", err=True)


@cli.command("timeline")
@log_argument
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they are appended.")
@click.option("--no-output", is_flag=True, help="Leave out the output of checks and actions.")
def timeline_cmd(log: Path, follow: bool, no_output: bool) -> None:
    """Print an incident log as a plain-text timeline (T+ from the opening, UTC times).

    With --follow it keeps reading as the console appends, like tail -f, and stops when the
    incident is closed or on Ctrl-C.
    """
    timeline = Timeline(output=not no_output)
    if not follow:
        try:
            result = read_log(log)
        except LogUnreadable as exc:
            die(str(exc))
        for event in result.events:
            for line in timeline.lines(event):
                echo(line)
        for problem in result.problems:
            _print_problem(problem)
        if result.torn_tail:
            torn = result.torn_tail
            echo(
                f"incident-console: note: {log}:{torn.line}: torn tail of {torn.length} byte(s) "
                f"at offset {torn.offset} (a write cut short by a crash)",
                err=True,
            )
        return
    try:
        with contextlib.closing(follow_log(log)) as items:
            for item in items:
                if isinstance(item, Problem):
                    _print_problem(item)
                    continue
                for line in timeline.lines(item):
                    echo(line)
                if isinstance(item.data, IncidentClosed):
                    break
    except LogUnreadable as exc:
        die(str(exc))
    except KeyboardInterrupt:
        raise SystemExit(EXIT_OK) from None


@cli.command("review")
@log_argument
@click.option("--follow", "-f", is_flag=True, help="Tail a log another console is still writing.")
@click.option(
    "--head",
    metavar="HASH",
    callback=_head,
    help="Head hash pasted when the incident was closed: the banner says whether it is reached.",
)
@key_env_option
def review_cmd(log: Path, follow: bool, head: str | None, key_env: str | None) -> None:
    """Walk an incident LOG in the console, read-only: event by event, milestone by milestone.

    Beside each event: the panels as of the latest snapshot, the steps and block results as
    they stood then. Milestones and TTD/TTA/TTM/TTR as the export gives them, and a banner
    saying whether the chain and head verify. Remarks (key n) go to LOG.review.jsonl beside
    the log, never into it. With --follow it tails a log that is still being written.
    """
    from console.tui.review import run_review  # Textual only for this command

    try:
        farewell = run_review(
            log, redactor=printer_redactor(), follow=follow, key=_key(key_env), head=head
        )
    except LogUnreadable as exc:
        die(str(exc))
    if farewell:
        echo(farewell)
