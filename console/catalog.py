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
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from console.errors import ProblemList, SourceError
from console.runbook.model import LANGS, Block, BlockOptions, Lang
from console.yamlsrc import load_yaml, read_source, validation_problems

CATALOG_OPTION_KEYS = ("on", "timeout", "expect", "within", "every")


class CatalogCheck(BaseModel):
    """One named check of the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    lang: Lang
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

    model_config = ConfigDict(frozen=True)
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
    text = read_source(file, "catalog", problems)
    if text is None:
        return []
    doc = load_yaml(text, file, problems=problems)
    if doc is None:
        return []
    data: Any = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("checks"), dict):
        problems.add(
            file, 1, "a catalog file has a 'checks:' mapping of named checks", code="catalog"
        )
        return []
    for key in data:
        if key != "checks":
            problems.add(
                file,
                doc.lines.line_for((key,)),
                f"unknown key {key!r}",
                key=str(key),
                code="unknown-option",
            )
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
        if lang not in LANGS:
            problems.add(
                file,
                doc.lines.line_for(("checks", name, "lang")),
                f"check {name!r}: lang must be one of {', '.join(LANGS)}, got {lang!r}",
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


def require_catalog(paths: list[Path]) -> Catalog:
    """Load the catalog or raise ``SourceError`` naming every problem."""
    catalog, problems = load_catalog(paths)
    if problems.errors:
        raise SourceError(problems.errors)
    return catalog
