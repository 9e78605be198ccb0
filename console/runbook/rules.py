"""Alert coverage: which Prometheus alerting rules have a runbook (``lint --rules``).

An alert is covered when a runbook lists it under ``alerts:`` or when its ``runbook_url``
annotation resolves to a runbook in the library.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import ProblemList, Severity
from console.runbook.match import case_near_miss, rank_runbooks
from console.runbook.model import Runbook
from console.yamlsrc import YamlFileKind, read_yaml_file

RULE_FILE = YamlFileKind(
    "rule file", "groups", list, "a Prometheus rule file has a 'groups:' list", "rules"
)


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule as read from a rule file (it can be matched like a firing alert)."""

    alert: str
    file: str
    line: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def alertname(self) -> str:
        """The alert's name, as a firing alert would carry it."""
        return self.alert


@dataclass
class Coverage:
    """Which alerting rules are answered by a runbook."""

    rules: list[AlertRule] = field(default_factory=list)
    uncovered: list[AlertRule] = field(default_factory=list)
    near_misses: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    """By an uncovered rule's (file, line): ``runbook file (lists Name)`` of each runbook whose
    ``alerts:`` differs from its name only in case."""

    @property
    def summary(self) -> str:
        """``coverage: N/M alerts have a runbook``, counting distinct alert names."""
        names = {r.alert for r in self.rules}
        missing = {r.alert for r in self.uncovered}
        return f"coverage: {len(names) - len(missing)}/{len(names)} alerts have a runbook"


def read_rules(path: Path, problems: ProblemList) -> list[AlertRule]:
    """Every alerting rule (not recording rule) in a Prometheus rule file."""
    doc = read_yaml_file(path, RULE_FILE, problems)
    if doc is None:
        return []
    out: list[AlertRule] = []
    for g, group in enumerate(doc.data["groups"]):
        rules = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(rules, list):
            problems.add(
                path,
                doc.lines.line_for(("groups", g)),
                "a rule group has a 'rules:' list",
                code="rules",
            )
            continue
        for r, rule in enumerate(rules):
            if not isinstance(rule, dict) or "alert" not in rule:
                continue
            out.append(
                AlertRule(
                    str(rule["alert"]),
                    str(path),
                    doc.lines.line_for(("groups", g, "rules", r, "alert")),
                    _texts(rule.get("labels")),
                    _texts(rule.get("annotations")),
                )
            )
    return out


def _texts(mapping: Any) -> dict[str, str]:
    if not isinstance(mapping, dict):
        return {}
    return {str(k): str(v) for k, v in mapping.items()}


def coverage(rule_files: list[Path], runbooks: list[Runbook], problems: ProblemList) -> Coverage:
    """Check every alerting rule in ``rule_files`` against the runbooks, matching each rule the
    way the console matches a firing alert (``alerts:`` or a resolving ``runbook_url``)."""
    result = Coverage()
    for path in rule_files:
        for rule in read_rules(path, problems):
            result.rules.append(rule)
            matches = rank_runbooks(rule, runbooks, base=path.parent)
            if not any(m.answers for m in matches):
                result.uncovered.append(rule)
                result.near_misses[(rule.file, rule.line)] = [
                    f"{m.runbook.file} (lists {case_near_miss(rule.alert, m.runbook.meta.alerts)})"
                    for m in matches
                ]
    return result


def misnamed_alerts(cover: Coverage, runbooks: list[Runbook], problems: ProblemList) -> None:
    """Warn where a runbook lists an alert name no rule has but one rule's name is close to
    (``EtcdMemberDown`` for ``etcdMembersDown``): the runbook would never match that alert.

    A close name the same runbook also lists is not a slip (a runbook may list the names of
    two rule sets, ``EtcdNoLeader`` and ``etcdNoLeader``), so it is not reported.
    """
    names = sorted({r.alert for r in cover.rules})
    for runbook in runbooks:
        listed = set(runbook.meta.alerts)
        for name in runbook.meta.alerts:
            if name in names:
                continue
            near = case_near_miss(name, names) or next(
                iter(difflib.get_close_matches(name, names, n=1, cutoff=0.85)), None
            )
            if near is None or near in listed:
                continue
            problems.add(
                runbook.file,
                _front_matter_line(runbook, name),
                f"alerts: lists {name!r}, which no rule in the rule files has: did you mean "
                f"{near!r}? (alert names are case-sensitive)",
                key="alerts",
                severity=Severity.WARNING,
                code="no-rule",
            )


def _front_matter_line(runbook: Runbook, name: str) -> int:
    """The line of ``name`` in the runbook's front matter (2 when it cannot be found)."""
    try:
        lines = Path(runbook.file).read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return 2
    word = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            break
        if word.search(line):
            return number
    return 2
