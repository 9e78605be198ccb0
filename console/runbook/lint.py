"""Lint: every problem in runbooks, catalog checks and the config, not just the first.

Parsing (``parse.py``) finds what is wrong inside one runbook; lint adds what needs the rest of
the library: ``use:`` against the catalog, ``requires`` against the runbook's checks, variables
inside catalog bodies, node selectors against the inventory, and the profile's rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from console.config import LoadedConfig, policy_violations
from console.errors import Problem, ProblemList, Severity
from console.runbook.catalog import (
    Catalog,
    CatalogCache,
    catalog_folders,
    is_catalog_file,
    load_catalog,
    runbook_catalog,
)
from console.runbook.languages import block_format
from console.runbook.library import MARKDOWN_SUFFIXES, Library, load_library, runbook_files
from console.runbook.model import BUILTIN_VARS, Block, Runbook
from console.runbook.promql_lint import promql_problems
from console.runbook.template import shell_sites, variables_in
from console.selector import parse_selector
from console.yamlsrc import read_source


@dataclass
class LintReport:
    """Everything lint found, and what it read."""

    problems: ProblemList = field(default_factory=ProblemList)
    runbooks: list[Runbook] = field(default_factory=list)
    files: int = 0  # runbook files read, parsed or not
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # folder files not read, why

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.problems.errors


def lint(paths: list[Path], loaded: LoadedConfig | None) -> LintReport:
    """Lint the runbooks and catalog files under ``paths`` (the config's folders by default)."""
    report = LintReport()
    config = loaded.config if loaded else None
    if loaded is not None and loaded.path is not None:
        report.problems.extend(loaded.warnings)
        report.problems.extend(
            [
                Problem(p.file, p.line, p.message, p.key, Severity.WARNING, p.code)
                for p in policy_violations(loaded)
            ]
        )
    targets = paths or ([*config.runbooks, *config.checks] if config else [])
    catalog_files: list[Path] = []
    runbook_paths: list[Path] = []
    for path in targets:
        if not path.exists():
            report.problems.add(path, 1, "no such file or folder", code="io")
        elif path.is_file() and path.suffix in (".yaml", ".yml"):
            catalog_files.append(path)
        else:
            runbook_paths.append(path)
            if path.is_dir():
                catalog_files.append(path)
    config_dirs = [p for p in (config.checks if config else []) if p.is_dir()]
    catalog, catalog_problems = _catalog(config_dirs, catalog_files)
    report.problems.extend(catalog_problems)
    library = load_library(runbook_paths)
    report.problems.extend(library.problems)
    report.runbooks = library.runbooks
    runbook_list = runbook_files(runbook_paths)
    report.files = len(runbook_list)
    report.skipped = skipped_files(runbook_paths, set(runbook_list))
    # a runbook's own checks/ (and the one beside its folder) come first, as for run and open;
    # folders read above already are not read (nor reported) twice
    read = [p.resolve() for p in [*config_dirs, *catalog_files]]
    cache: CatalogCache = {}
    for runbook in library.runbooks:
        for folder in catalog_folders(runbook.file, []):
            key = folder.resolve()
            if any(key == r or r in key.parents for r in read):
                cache.setdefault(key, (Catalog(), ProblemList()))
        own, own_problems = runbook_catalog(runbook.file, [], base=catalog, cache=cache)
        report.problems.extend(own_problems)
        report.problems.extend(lint_runbook(runbook, own, loaded))
    _duplicate_runbook_ids(library, report.problems)
    report.problems.extend(promql_problems(library.runbooks, catalog, loaded, runbook_paths))
    return report


SKIP_NO_FRONT_MATTER = (
    "Markdown without front matter ('---' on the first line), so not read as a runbook; "
    "'incident-console import FILE' turns a plain runbook into one"
)
SKIP_NOT_CATALOG = "YAML without a top-level 'checks:' mapping, so not a catalog file"
SKIP_RULES = "a Prometheus rule file (top-level 'groups:'): give it to lint with --rules"
SKIP_OTHER = "neither a Markdown runbook (.md) nor a YAML catalog file"
_RULES_KEY = re.compile(r"^groups\s*:", re.MULTILINE)


def skipped_files(paths: list[Path], runbooks: set[Path]) -> list[tuple[Path, str]]:
    """Files under the folders in ``paths`` that are neither runbooks (``runbooks``) nor catalog
    files, each with why; files under hidden folders (``.git``) and hidden files are left out."""
    out: list[tuple[Path, str]] = []
    for folder in (p for p in paths if p.is_dir()):
        for file in sorted(folder.rglob("*")):
            hidden = any(part.startswith(".") for part in file.relative_to(folder).parts)
            if hidden or file in runbooks or not file.is_file() or is_catalog_file(file):
                continue
            if file.suffix.lower() in MARKDOWN_SUFFIXES:
                out.append((file, SKIP_NO_FRONT_MATTER))
            elif file.suffix.lower() in (".yaml", ".yml"):
                text = read_source(file, "YAML file", ProblemList())
                rules = text is not None and _RULES_KEY.search(text) is not None
                out.append((file, SKIP_RULES if rules else SKIP_NOT_CATALOG))
            else:
                out.append((file, SKIP_OTHER))
    return out


def _catalog(config_dirs: list[Path], named: list[Path]) -> tuple[Catalog, ProblemList]:
    """The catalog from the config's folders plus catalog files found among ``named`` paths.

    In a folder given on the command line only YAML files with a top-level ``checks:`` key count,
    so rule files and scenarios beside runbooks are not mistaken for catalogs.
    """
    files: list[Path] = []
    for path in named:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if is_catalog_file(p))
        else:
            files.append(path)
    return load_catalog([*config_dirs, *files])


def lint_runbook(runbook: Runbook, catalog: Catalog, loaded: LoadedConfig | None) -> ProblemList:
    """Problems in one parsed runbook that need the catalog or the config to see."""
    problems = ProblemList()
    file = runbook.file
    config = loaded.config if loaded else None
    blocks = runbook.blocks()
    by_id = {b.id: b for b in blocks}
    declared = set(runbook.meta.vars) | set(BUILTIN_VARS)
    for block in blocks:
        resolved = block
        if block.options.use:
            if block.options.use not in catalog.checks:
                problems.add(
                    file,
                    block.line_of("use"),
                    f"use: no catalog check named {block.options.use!r}" + _known(catalog),
                    key="use",
                    code="use",
                )
                continue
            try:
                resolved = catalog.resolve(block)
            except ValueError as exc:
                problems.add(file, block.line_of("use"), str(exc), key="use", code="use")
                continue
            for use in variables_in(resolved.body):
                if use.valid and use.name not in declared:
                    problems.add(
                        file,
                        block.line_of("use"),
                        f"catalog check {block.options.use} uses {{{{{use.name}}}}}, "
                        "which this runbook does not declare under vars:",
                        key=use.name,
                        code="undefined-var",
                    )
        _shell_variables(block, resolved, problems)
        for required in block.options.requires:
            target = by_id.get(required)
            if target is None:
                problems.add(
                    file,
                    block.line_of("requires"),
                    f"requires {required!r}, but no block has that id",
                    key="requires",
                    code="requires",
                )
            elif target.kind != "check":
                problems.add(
                    file,
                    block.line_of("requires"),
                    f"requires {required!r}, which is an action; requires names checks",
                    key="requires",
                    code="requires",
                )
            elif target.line > block.line:
                problems.add(
                    file,
                    block.line_of("requires"),
                    f"requires {required!r}, which comes later in the runbook (line {target.line})",
                    key="requires",
                    code="requires",
                    severity=Severity.WARNING,
                )
        if resolved.runs_on_nodes and not (resolved.options.on or runbook.meta.nodes):
            problems.add(
                file,
                block.line,
                f"block {block.id!r} runs on nodes but names none: add 'on:' or a "
                "front-matter 'nodes:' (on: local runs on the console's machine)",
                key="on",
                code="selector",
            )
        if block.kind == "action" and config is not None and config.profile == "prod":
            if block.options.confirm is None:
                problems.add(
                    file,
                    block.line,
                    f"action {block.id!r} has no confirm: a prod config requires "
                    "'confirm: typed' on every action",
                    key="confirm",
                    code="prod-confirm",
                )
            elif block.options.confirm is True:
                problems.add(
                    file,
                    block.line_of("confirm"),
                    f"action {block.id!r} has confirm: true; prod raises it to typed",
                    key="confirm",
                    code="prod-confirm",
                    severity=Severity.WARNING,
                )
        if loaded is not None and loaded.nodes and resolved.runs_on_nodes:
            selector_text = resolved.options.on or runbook.meta.nodes
            if selector_text and "{{" not in selector_text:
                selector = parse_selector(selector_text)
                if not selector.is_local and not selector.select(loaded.nodes):
                    problems.add(
                        file,
                        block.line_of("on"),
                        f"selector {selector_text!r} matches no node in the config",
                        key="on",
                        code="selector",
                        severity=Severity.WARNING,
                    )
    return problems


def _shell_variables(block: Block, resolved: Block, problems: ProblemList) -> None:
    """Refuse a catalog body's unquotable variables; warn where a command re-reads a value.

    The runbook's own body is refused at parse time already, so only ``use:`` bodies are
    checked for that here.
    """
    if not block_format(resolved.lang).shell_quoted:
        return
    from_catalog = resolved is not block
    for site in shell_sites(resolved.body):
        line = block.line_of("use") if from_catalog else block.body_line + site.line
        where = f"catalog check {block.options.use}" if from_catalog else f"block {block.id}"
        if site.refused is not None:
            if from_catalog:
                problems.add(
                    block.file, line, f"{where}: {site.message}", key=site.name, code="unsafe-var"
                )
        elif site.reparsed_by is not None:
            problems.add(
                block.file,
                line,
                f"{where}: {{{{{site.name}}}}} reaches {site.reparsed_by}, which reads its "
                "arguments as code again: quoting cannot keep the value literal there; "
                "constrain it with pattern: or choices: in vars:, or pass it another way",
                key=site.name,
                code="reparsed-var",
                severity=Severity.WARNING,
            )


def _known(catalog: Catalog) -> str:
    names = sorted(catalog.checks)
    if not names:
        return " (the catalog is empty: is 'checks:' set in the config?)"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f" (known: {shown})"


def _duplicate_runbook_ids(library: Library, problems: ProblemList) -> None:
    seen: dict[str, str] = {}
    for runbook in library.runbooks:
        if runbook.id in seen:
            problems.add(
                runbook.file,
                1,
                f"duplicate runbook id {runbook.id!r} (also {seen[runbook.id]})",
                key="id",
                code="duplicate-id",
            )
        seen.setdefault(runbook.id, runbook.file)
