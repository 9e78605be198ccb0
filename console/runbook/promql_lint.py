"""Lint's PromQL checks: every query a runbook, the catalog, the config or a drill scenario holds.

A query that does not parse is an error at its file and line (the same grammar Prometheus
uses, ``console.promql``). A query that parses but that the drill simulator cannot evaluate is
a warning: it runs against Prometheus, but a drill of it would stop there. Config panels run
against Prometheus only, so they get the syntax check alone. Values of ``{{var}}`` are not known
at lint time: a query with variables is tried with a duration and a name in their place, and
only a query that parses with neither is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from console.config import LoadedConfig
from console.errors import ProblemList, Severity
from console.promql import PromQLError, parse_query, unsupported_constructs
from console.runbook.catalog import Catalog
from console.runbook.model import Runbook
from console.runbook.template import MissingVariable, UnsafeVariable, render_promql, variables_in
from console.yamlsrc import LineMap, dotted, load_yaml, read_source

_STAND_INS = ("5m", "x")
"""What a ``{{var}}`` outside a string is tried as: a duration (also a number), then a name."""

_QUERY_KEYS = ("query", "leader_query")


def promql_problems(
    runbooks: Iterable[Runbook],
    catalog: Catalog,
    loaded: LoadedConfig | None,
    folders: Iterable[Path],
) -> ProblemList:
    """PromQL problems in ``promql`` blocks, catalog checks, config panels and the scenarios
    found under ``folders``."""
    problems = ProblemList()
    for runbook in runbooks:
        for block in runbook.blocks():
            if block.lang == "promql" and not block.options.use:
                _check(block.body, runbook.file, block.body_line, None, True, problems)
    for check in catalog.checks.values():
        if check.lang == "promql":
            _check(check.body, check.file, check.line, "body", True, problems)
    if loaded is not None and loaded.path is not None:
        panels = [p.model_dump() for p in loaded.config.panels]
        _check_panels(panels, loaded.path, loaded.lines, False, problems)
    for path in _scenario_files(folders):
        _check_scenario(path, problems)
    return problems


def _check(
    query: str, file: str | Path, line: int, key: str | None, simulated: bool, out: ProblemList
) -> None:
    """Add a problem if ``query`` does not parse, or (``simulated``) the simulator cannot
    evaluate it."""
    try:
        expr = _parse_with_stand_ins(query)
    except PromQLError as exc:
        out.add(file, line, f"PromQL does not parse: {exc}", key=key, code="promql")
        return
    if expr is None or not simulated:
        return
    missing = unsupported_constructs(expr)
    if missing:
        out.add(
            file,
            line,
            f"the drill simulator cannot evaluate {', '.join(missing)} (Prometheus can)",
            key=key,
            code="promql-simulator",
            severity=Severity.WARNING,
        )


def _parse_with_stand_ins(query: str) -> Any:
    """The parsed query; with ``{{var}}``, the first stand-in that parses (``None`` when the
    variables themselves are unsafe: the runbook parser reports those)."""
    if not any(use.valid for use in variables_in(query)):
        return parse_query(query)
    names = {use.name for use in variables_in(query) if use.valid}
    first: PromQLError | None = None
    for stand_in in _STAND_INS:
        try:
            text = render_promql(query, dict.fromkeys(names, stand_in))
        except (UnsafeVariable, MissingVariable):
            return None
        try:
            return parse_query(text)
        except PromQLError as exc:
            first = first or exc
    assert first is not None
    raise first


def _check_panels(
    panels: list[Any], file: str | Path, lines: LineMap, simulated: bool, out: ProblemList
) -> None:
    for index, panel in enumerate(panels):
        if not isinstance(panel, dict):
            continue
        for key in _QUERY_KEYS:
            query = panel.get(key)
            if isinstance(query, str):
                where = ("panels", index, key)
                _check(query, file, lines.line_for(where), dotted(where), simulated, out)


def _scenario_files(folders: Iterable[Path]) -> Iterator[Path]:
    """YAML files under ``folders`` (or named) that look like drill scenarios."""
    for folder in folders:
        found = [folder] if folder.is_file() else sorted(folder.rglob("*"))
        for path in found:
            if path.suffix in (".yaml", ".yml") and path.is_file():
                yield path


def _check_scenario(path: Path, out: ProblemList) -> None:
    """``when:`` clauses and panels of a scenario (other YAML files are left alone)."""
    quiet = ProblemList()
    text = read_source(path, "scenario", quiet)
    doc = None if text is None else load_yaml(text, path, problems=quiet)
    if doc is None or not isinstance(doc.data, dict):
        return
    data = doc.data
    if not ({"title", "nodes"} <= data.keys() and data.keys() & {"series", "timeline"}):
        return
    responses = data.get("responses")
    located: list[tuple[tuple[str | int, ...], Any]] = []
    if isinstance(responses, list):
        located.extend((("responses", i), r) for i, r in enumerate(responses))
    located.append((("default_response",), data.get("default_response")))
    for where, response in located:
        if isinstance(response, dict) and isinstance(response.get("when"), str):
            loc = (*where, "when")
            _check(response["when"], path, doc.lines.line_for(loc), dotted(loc), True, out)
    panels = data.get("panels")
    if isinstance(panels, list):
        _check_panels(panels, path, doc.lines, True, out)
