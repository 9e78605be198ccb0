"""Read nodes from an Ansible inventory, INI or YAML (groups become roles, host vars labels).

Only what the console needs is read: the host, port, user and identity file from the usual
``ansible_*`` variables; every other scalar variable (host or group) becomes a label.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import ProblemList
from console.yamlsrc import load_yaml, read_source_bytes

_CONNECTION_VARS = {
    "ansible_host": "host",
    "ansible_ssh_host": "host",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "identity_file",
}


@dataclass
class InventoryHost:
    """A host as read from an inventory, before it becomes a config ``Node``."""

    name: str
    line: int
    groups: list[str] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)

    def to_node_dict(self, group_vars: dict[str, dict[str, str]]) -> dict[str, Any]:
        """Merge group vars (lower precedence) and host vars into a ``Node`` mapping."""
        merged: dict[str, str] = {}
        for group in ["all", *self.groups]:
            merged.update(group_vars.get(group, {}))
        merged.update(self.vars)
        node: dict[str, Any] = {"name": self.name, "roles": [g for g in self.groups if g != "all"]}
        labels: dict[str, str] = {}
        for key, value in merged.items():
            if key in _CONNECTION_VARS:
                node[_CONNECTION_VARS[key]] = value
            elif key.startswith("ansible_"):
                continue
            else:
                labels[key] = value
        node.setdefault("host", self.name)
        node["labels"] = labels
        return node


@dataclass
class _Inventory:
    """What an inventory declares, INI or YAML alike: hosts, group variables, child groups."""

    hosts: dict[str, InventoryHost] = field(default_factory=dict)
    group_vars: dict[str, dict[str, str]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    def host(self, name: str, line: int, group: str | None) -> InventoryHost:
        """The host ``name`` (first seen at ``line``), made a member of ``group`` if given."""
        host = self.hosts.setdefault(name, InventoryHost(name, line))
        if group is not None and group not in host.groups:
            host.groups.append(group)
        return host

    def nodes(self) -> list[tuple[dict[str, Any], int]]:
        """``(node mapping, line)`` per host, after a child group's hosts join its ancestors."""
        _expand_children(self.hosts, self.children)
        return [(h.to_node_dict(self.group_vars), h.line) for h in self.hosts.values()]


def read_inventory(path: Path, problems: ProblemList) -> list[tuple[dict[str, Any], int]]:
    """Return ``(node mapping, line)`` for every host in the inventory at ``path``."""
    raw = read_source_bytes(path, "inventory", problems)
    if raw is None:
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.add(
            path,
            line,
            f"the inventory is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            code="inventory",
        )
        return []
    if path.suffix in (".yml", ".yaml") or text.lstrip().startswith(("all:", "---")):
        return _read_yaml(text, path, problems).nodes()
    return _read_ini(text, path, problems).nodes()


def _expand_children(hosts: dict[str, InventoryHost], children: dict[str, list[str]]) -> None:
    """A host in a child group is in every ancestor group too."""
    for host in hosts.values():
        changed = True
        while changed:
            changed = False
            for parent, kids in children.items():
                if parent not in host.groups and any(k in host.groups for k in kids):
                    host.groups.append(parent)
                    changed = True


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _kind(value: Any) -> str:
    """How a YAML value reads in a message: ``a list``, ``a number``, ``text``."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "text" if isinstance(value, str) else type(value).__name__


def _read_ini(text: str, path: Path, problems: ProblemList) -> _Inventory:
    found = _Inventory()
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                problems.add(path, number, f"bad section header {line!r}", code="inventory")
                continue
            name = line[1:-1].strip()
            section, _, suffix = name.partition(":")
            if not section.strip():
                problems.add(path, number, f"empty group name in {line!r}", code="inventory")
            kind = {"": "hosts", "vars": "vars", "children": "children"}.get(suffix, "")
            if not kind:
                problems.add(path, number, f"unknown section kind ':{suffix}'", code="inventory")
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            problems.add(path, number, f"cannot split line: {exc}", code="inventory")
            continue
        if not words:
            continue
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                problems.add(path, number, f"expected key=value, got {line!r}", code="inventory")
                continue
            found.group_vars.setdefault(section, {})[key.strip()] = value.strip().strip("'\"")
        elif kind == "children":
            found.children.setdefault(section, []).append(words[0])
        elif kind == "hosts":
            name, host_vars = words[0], {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    problems.add(
                        path,
                        number,
                        f"expected key=value after the host, got {word!r}",
                        key=name,
                        code="inventory",
                    )
                    continue
                host_vars[key] = value
            found.host(name, number, None if section == "ungrouped" else section).vars.update(
                host_vars
            )
    return found


def _read_yaml(text: str, path: Path, problems: ProblemList) -> _Inventory:
    found = _Inventory()
    doc = load_yaml(text, path, problems=problems)
    if doc is None or doc.data is None:
        return found
    if not isinstance(doc.data, dict):
        problems.add(path, 1, "a YAML inventory must be a mapping of groups", code="inventory")
        return found

    def mapping(value: Any, loc: tuple[str, ...], what: str) -> dict[Any, Any]:
        """``value`` if it is a mapping (``None`` is an empty one); else a problem and ``{}``."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        problems.add(
            path,
            doc.lines.line_for(loc),
            f"{what} must be a mapping, not {_kind(value)}",
            key=".".join(loc),
            code="inventory",
        )
        return {}

    def visit(group: str, body: Any, loc: tuple[str, ...]) -> None:
        body = mapping(body, loc, f"group {group!r}")
        for name, hvars in mapping(body.get("hosts"), (*loc, "hosts"), "hosts").items():
            host_loc = (*loc, "hosts", str(name))
            host = found.host(
                str(name), doc.lines.line_for(host_loc), None if group == "all" else group
            )
            for key, value in mapping(hvars, host_loc, f"host {str(name)!r}").items():
                text_value = _scalar(value)
                if text_value is not None:
                    host.vars[str(key)] = text_value
        for key, value in mapping(body.get("vars"), (*loc, "vars"), "vars").items():
            text_value = _scalar(value)
            if text_value is not None:
                found.group_vars.setdefault(group, {})[str(key)] = text_value
        kids = mapping(body.get("children"), (*loc, "children"), "children")
        for child, child_body in kids.items():
            found.children.setdefault(group, []).append(str(child))
            visit(str(child), child_body, (*loc, "children", str(child)))

    for group, body in doc.data.items():
        visit(str(group), body, (str(group),))
    return found
