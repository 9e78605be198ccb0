"""The ``checks/`` catalog: named, reusable checks that runbook blocks run with ``use:``.

A catalog file is YAML with a ``checks:`` mapping; a check is named ``<file stem>/<name>``, so
``checks/etcd.yaml`` defining ``endpoint-health`` is used as ``use: etcd/endpoint-health``::

    checks:
      endpoint-health:
        description: every member answers its health endpoint
        lang: sh
        on: role=etcd
        timeout: 10s
        expect: {exit: 0}
        body: |
          etcdctl endpoint health

A check takes the same options as a block (but only those a check may have). Options written on
the block override the catalog's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from console.errors import ProblemList, SourceError
from console.runbook.languages import alias_names, format_names, language_name
from console.runbook.model import Block, BlockOptions
from console.yamlsrc import (
    YamlFileKind,
    read_source,
    read_yaml_file,
    unknown_keys,
    validation_problems,
)

CATALOG_FILE = YamlFileKind(
    "catalog", "checks", dict, "a catalog file has a 'checks:' mapping of named checks", "catalog"
)

CATALOG_OPTION_KEYS = ("on", "timeout", "expect", "within", "every")


class CatalogCheck(BaseModel):
    """One named check of the catalog."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    name: str
    lang: str
    body: str
    description: str = ""
    options: BlockOptions = Field(default_factory=BlockOptions)
    file: str
    line: int

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("body is empty: write the command the check runs")
        return value.strip("\n")


class Catalog(BaseModel):
    """Every catalog check, by its ``file/name``."""

    model_config = ConfigDict(defer_build=True, frozen=True)
    checks: dict[str, CatalogCheck] = Field(default_factory=dict)

    def resolve(self, block: Block) -> Block:
        """The block with the catalog check's body and options filled in (block options win).

        Raises ``KeyError`` when ``block.options.use`` names no check, ``ValueError`` when the
        languages differ or the block has a body of its own.
        """
        name = block.options.use
        if not name:
            return block
        check = self.checks[name]
        if check.lang != block.lang and {check.lang, block.lang} != {"sh", "bash"}:
            raise ValueError(f"use: {name} is a {check.lang} check but this block is {block.lang}")
        if block.body.strip():
            raise ValueError("a block with use: has no body of its own (the catalog's runs)")
        written = block.options.model_dump(exclude_unset=True)
        merged = {**check.options.model_dump(exclude_unset=True), **written}
        options = BlockOptions.model_validate(merged)
        return block.model_copy(
            update={"body": check.body, "options": options, "source": f"{check.file}:{check.line}"}
        )


def load_catalog(paths: list[Path]) -> tuple[Catalog, ProblemList]:
    """Read every ``*.yaml``/``*.yml`` catalog file under ``paths`` (files or folders)."""
    problems = ProblemList()
    checks: dict[str, CatalogCheck] = {}
    for file in _catalog_files(paths):
        for check in read_catalog_file(file, problems):
            if check.name in checks:
                first = checks[check.name]
                problems.add(
                    file,
                    check.line,
                    f"duplicate check {check.name!r} (also {first.file}:{first.line})",
                    code="duplicate-id",
                )
                continue
            checks[check.name] = check
    return Catalog(checks=checks), problems


def _catalog_files(paths: list[Path]) -> list[Path]:
    """Catalog files named or under the folders in ``paths``, each once."""
    out: dict[Path, Path] = {}
    for path in paths:
        found = (
            sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if (path.is_dir())
            else [path]
        )
        for file in found:
            out.setdefault(file.resolve(), file)
    return list(out.values())


_CATALOG_KEY = re.compile(r"(?m)^checks\s*:")


def is_catalog_file(path: Path) -> bool:
    """Whether a YAML file looks like a catalog file (has a top-level ``checks:`` key)."""
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return False
    text = read_source(path, "catalog", ProblemList())
    return text is not None and bool(_CATALOG_KEY.search(text))


def read_catalog_file(file: Path, problems: ProblemList) -> list[CatalogCheck]:
    """The checks defined in one catalog file; problems are recorded, not raised."""
    doc = read_yaml_file(file, CATALOG_FILE, problems)
    if doc is None:
        return []
    data: dict[Any, Any] = doc.data
    unknown_keys(doc, ("checks",), file, problems)
    out: list[CatalogCheck] = []
    for name, spec in data["checks"].items():
        line = doc.lines.line_for(("checks", name))
        if not isinstance(spec, dict):
            problems.add(
                file,
                line,
                f"check {name!r} must be a mapping",
                key=f"checks.{name}",
                code="catalog",
            )
            continue
        option_data = {k: v for k, v in spec.items() if k in CATALOG_OPTION_KEYS}
        unknown = set(spec) - set(CATALOG_OPTION_KEYS) - {"lang", "body", "description"}
        for key in sorted(unknown, key=str):
            problems.add(
                file,
                doc.lines.line_for(("checks", name, key)),
                f"unknown key {key!r} in check {name!r} (a check takes lang, body, "
                f"description, {', '.join(CATALOG_OPTION_KEYS)})",
                key=f"checks.{name}.{key}",
                code="unknown-option",
            )
        if unknown:
            continue
        lang = spec.get("lang")
        lang = language_name(lang.lower()) if isinstance(lang, str) else lang
        if lang not in format_names():
            problems.add(
                file,
                doc.lines.line_for(("checks", name, "lang")),
                f"check {name!r}: lang must be one of "
                f"{', '.join((*format_names(), *alias_names()))}, got {spec.get('lang')!r}",
                key=f"checks.{name}.lang",
                code="unknown-kind",
            )
            continue
        try:
            options = BlockOptions.model_validate(option_data)
            out.append(
                CatalogCheck(
                    name=f"{file.stem}/{name}",
                    lang=lang,
                    body=str(spec.get("body") or ""),
                    description=str(spec.get("description") or ""),
                    options=options,
                    file=str(file),
                    line=line,
                )
            )
        except ValidationError as exc:
            problems.extend(
                validation_problems(exc, file, doc.lines, data=spec, prefix=("checks", name))
            )
    return out


def require_catalog(paths: list[Path], runbook_file: str | Path | None = None) -> Catalog:
    """Load the catalog (for ``runbook_file``, see ``runbook_catalog``) or raise
    ``SourceError`` naming every problem."""
    catalog, problems = runbook_catalog(runbook_file, paths)
    if problems.errors:
        raise SourceError(problems.errors)
    return catalog


CatalogCache = dict[Path, tuple[Catalog, ProblemList]]
"""Catalogs already read, by resolved folder, so each folder's problems are reported once."""


def catalog_folders(runbook_file: str | Path | None, config_dirs: Sequence[Path]) -> list[Path]:
    """Where a runbook's ``use:`` names are looked up, nearest first.

    ``checks/`` in the runbook's own folder, then ``checks/`` beside that folder (a runbook in
    ``ops/runbooks/`` finds ``ops/checks/``), then the config's catalog folders; each folder
    once; folders that do not exist are left out. This is what lets a runbook run by path
    from another folder find its checks.
    """
    near: list[Path] = []
    if runbook_file is not None:
        folder = Path(runbook_file).parent
        parent = folder.parent if folder.parent != folder else folder.absolute().parent
        near = [folder / "checks", parent / "checks"]
    out: dict[Path, Path] = {}
    for path in [*near, *config_dirs]:
        if path.exists():  # a missing folder holds no checks (lint says so for the config's)
            out.setdefault(path.resolve(), path)
    return list(out.values())


def runbook_catalog(
    runbook_file: str | Path | None,
    config_dirs: Sequence[Path],
    *,
    base: Catalog | None = None,
    cache: CatalogCache | None = None,
) -> tuple[Catalog, ProblemList]:
    """The catalog for one runbook (``run``, ``lint`` and ``open`` all use this).

    The folders of ``catalog_folders`` are read one by one; a check in a nearer folder hides
    one of the same name further on, and ``base`` fills in what none of them has. Problems
    are those of folders read now (not those already in ``cache``).
    """
    seen = {} if cache is None else cache
    problems = ProblemList()
    checks: dict[str, CatalogCheck] = {}
    for folder in catalog_folders(runbook_file, config_dirs):
        key = folder.resolve()
        if key not in seen:
            seen[key] = load_catalog([folder])
            problems.extend(seen[key][1])
        for name, check in seen[key][0].checks.items():
            checks.setdefault(name, check)
    for name, check in (base.checks if base else {}).items():
        checks.setdefault(name, check)
    return Catalog(checks=checks), problems
