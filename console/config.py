"""``console.yaml``: models, discovery, loading with line numbers, and profile guardrails.

Discovery order: ``--config``, ``$INCIDENT_CONSOLE_CONFIG``, ``./console.yaml``,
then the user config dir. With none found the console runs on built-in defaults (profile
``dev``, no telemetry sources, no nodes) so drills and lint work out of the box.

Secrets are never written in the config: credentials are named by environment variable
(``*_env``) or file (``*_file``).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from console.durations import Duration, PositiveDuration
from console.errors import PolicyError, Problem, ProblemList, Severity, SourceError
from console.inventory import read_inventory
from console.patterns import Regex
from console.yamlsrc import LineMap, load_yaml, read_source_bytes, validation_problems

ENV_CONFIG = "INCIDENT_CONSOLE_CONFIG"
APP_NAME = "incident-console"

Profile = Literal["dev", "staging", "prod"]

MAX_SECRET_BYTES = 64 * 1024
"""The largest secret file (``bearer_token_file``, ``password_file``) the console reads."""

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def display_url(url: str) -> str:
    """``url`` without ``user:password@``, for every message, table and journal field."""
    return _USERINFO.sub(r"\1", url)


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable ``http://`` or ``https://`` URL, or ``None`` if it is.

    One check for the config's sources, ``http`` blocks and the telemetry client, so a bad
    port or bracket is a clear message instead of an exception deep in a client library.
    """
    shown = display_url(url)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return f"{shown!r} has a space or control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{shown!r} is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected an http:// or https:// URL with a host, got {shown!r}"
    if port == 0:
        return f"{shown!r} has port 0 (ports are 1-65535)"
    return None


def url_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Split ``user:password@`` off ``url``: the bare URL and the (decoded) basic-auth pair."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return parts._replace(netloc=hostport).geturl(), (unquote(user), unquote(password))


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(defer_build=True, extra="forbid")


class TLSSettings(Strict):
    """TLS options for an HTTP source."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify: bool = True


class BasicAuth(Strict):
    """Basic auth; the password comes from an environment variable or a file."""

    username: str
    password_env: str | None = None
    password_file: Path | None = None


class HttpSource(Strict):
    """An HTTP endpoint the console polls (Prometheus, Alertmanager)."""

    url: str
    timeout: PositiveDuration = 2.0
    bearer_token_env: str | None = None
    bearer_token_file: Path | None = None
    basic_auth: BasicAuth | None = None
    tls: TLSSettings = Field(default_factory=TLSSettings)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_basic_auth(self) -> HttpSource:
        if self.basic_auth is not None and url_credentials(self.url)[1] is not None:
            raise ValueError("give basic_auth or user:password@ in the url, not both")
        return self


class PanelBase(Strict):
    """Fields every panel has."""

    title: str = ""


class QuorumPanel(PanelBase):
    """Healthy / degraded / lost from how many members of ``of`` are up."""

    kind: Literal["quorum"]
    query: str
    need: int = Field(ge=1)
    of: int = Field(ge=1)
    leader_query: str | None = None
    leader_label: str = "instance"  # the label of the leader_query series that names the leader

    @model_validator(mode="after")
    def _need_of(self) -> QuorumPanel:
        if self.need > self.of:
            raise ValueError(f"need ({self.need}) cannot be more than of ({self.of})")
        return self


class ThresholdPanel(PanelBase):
    """Fields of the panels that judge a query's value against warn/crit thresholds."""

    query: str
    warn: float | None = None
    crit: float | None = None
    unit: str = ""


class LagPanel(ThresholdPanel):
    """Per-label values with warn/crit thresholds."""

    kind: Literal["lag"]
    by: str = "instance"


class BacklogPanel(ThresholdPanel):
    """A queue depth with rate, trend and ETA."""

    kind: Literal["backlog"]
    window: PositiveDuration = 60.0  # how far back the rate and trend look


class StatPanel(ThresholdPanel):
    """A single value."""

    kind: Literal["stat"]


class AlertsPanel(PanelBase):
    """The firing alerts."""

    kind: Literal["alerts"]


Panel = Annotated[
    QuorumPanel | LagPanel | BacklogPanel | StatPanel | AlertsPanel, Field(discriminator="kind")
]


class Node(Strict):
    """A machine runbook blocks can run on."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    roles: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    identity_file: Path | None = None
    jump: str | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                str(k): str(v) if not isinstance(v, bool) else str(v).lower()
                for k, v in value.items()
            }
        return value


class SSHSettings(Strict):
    """How the console reaches nodes over SSH."""

    config: Path | None = Path("~/.ssh/config")
    known_hosts: Path | None = Path("~/.ssh/known_hosts")
    host_keys: Literal["strict", "accept-new", "off"] = "strict"
    connect_timeout: PositiveDuration = 5.0
    keepalive: Duration = 15.0
    concurrency: int = Field(default=64, ge=1)
    handshakes: int = Field(default=8, ge=1, description="SSH handshakes in flight at once")
    sessions_per_connection: int = Field(default=8, ge=1)
    user: str | None = None
    identity_files: list[Path] = Field(default_factory=list)
    agent: bool = True


class ExecutionSettings(Strict):
    """Limits for running blocks."""

    timeout: PositiveDuration = 30.0
    output_cap: int = Field(default=1_048_576, ge=1024, description="bytes kept per node")


class JournalSettings(Strict):
    """Where and how the incident log is written."""

    dir: Path = Path("./incidents")
    fsync: Literal["always", "group", "never"] = "always"
    key_env: str | None = "INCIDENT_LOG_KEY"


class Config(Strict):
    """The whole ``console.yaml``."""

    profile: Profile = "dev"
    prometheus: HttpSource | None = None
    alertmanager: HttpSource | None = None
    refresh: PositiveDuration = 5.0
    panels: list[Panel] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)
    inventory: Path | None = None
    ssh: SSHSettings = Field(default_factory=SSHSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    runbooks: list[Path] = Field(default_factory=lambda: [Path("./runbooks")])
    checks: list[Path] = Field(default_factory=lambda: [Path("./checks")])
    journal: JournalSettings = Field(default_factory=JournalSettings)
    confirm: Literal["yes", "typed"] | None = None
    redact: list[Regex] = Field(default_factory=list)
    redact_defaults: bool = True
    theme: str = "console-dark"
    actor: str | None = None

    @property
    def confirm_floor(self) -> Literal["yes", "typed"]:
        """The weakest confirmation an action may have under this profile."""
        if self.confirm:
            return self.confirm
        return "typed" if self.profile == "prod" else "yes"


class LoadedConfig(BaseModel):
    """A validated config and where it came from."""

    model_config = ConfigDict(defer_build=True, arbitrary_types_allowed=True)
    config: Config
    path: Path | None
    sha256: str | None
    lines: LineMap = Field(default_factory=LineMap)
    warnings: list[Problem] = Field(default_factory=list)

    @property
    def nodes(self) -> list[Node]:
        """Every node, inline and from the inventory."""
        return self.config.nodes


def bare_config() -> LoadedConfig:
    """No config file and no folders of one's own (``demo``): the defaults, nothing to check.

    Constructed without validation: building the config's schema (50 ms) would hold up the
    demo's first frame, and defaults need no checking (a test holds this equal to the
    validated one)."""
    config = Config.model_construct(runbooks=[], checks=[])
    return LoadedConfig.model_construct(config=config, path=None, sha256=None)


def user_config_dir() -> Path:
    """The user's config folder for the console (``~/.config/incident-console`` on Linux)."""
    return Path(platformdirs.user_config_dir(APP_NAME))


def discover(explicit: str | Path | None = None) -> Path | None:
    """Find the config file by the documented order; ``None`` means built-in defaults."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    local = Path("console.yaml")
    if local.is_file():
        return local
    user = user_config_dir() / "console.yaml"
    if user.is_file():
        return user
    return None


def load_config(explicit: str | Path | None = None) -> LoadedConfig:
    """Discover, read and validate the config; raise ``SourceError`` listing every problem."""
    path = discover(explicit)
    if path is None:
        defaults = Config()
        folders = {
            "runbooks": [p for p in defaults.runbooks if p.is_dir()],
            "checks": [p for p in defaults.checks if p.is_dir()],
        }
        return LoadedConfig(config=defaults.model_copy(update=folders), path=None, sha256=None)
    problems = ProblemList()
    raw = read_source_bytes(path, "config", problems)
    if raw is None:
        raise SourceError(problems)
    return parse_config(raw.decode("utf-8", errors="replace"), path, sha256=_sha(raw))


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_config(text: str, path: Path, *, sha256: str | None = None) -> LoadedConfig:
    """Validate config ``text`` read from ``path``; relative paths resolve against its folder."""
    problems = ProblemList()
    doc = load_yaml(text, path, problems=problems)
    if doc is None:
        raise SourceError(problems)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        problems.add(path, 1, "the config must be a YAML mapping of keys", code="config")
        raise SourceError(problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, path, doc.lines, data=data))
        raise SourceError(problems) from None
    base = path.parent
    config = _resolve_paths(config, base)
    _merge_inventory(config, path, doc.lines, problems)
    _check_secret_files(config, path, doc.lines, problems)
    _check_nodes(config, path, doc.lines, problems)
    if problems.errors:
        raise SourceError(problems)
    return LoadedConfig(
        config=config,
        path=path,
        sha256=sha256 or _sha(text.encode()),
        lines=doc.lines,
        warnings=[p for p in problems if p.severity is Severity.WARNING],
    )


def _expand(path: Path, base: Path) -> Path:
    expanded = Path(os.path.expanduser(str(path)))
    return expanded if expanded.is_absolute() else base / expanded


def _resolve_paths(config: Config, base: Path) -> Config:
    update: dict[str, Any] = {
        "runbooks": [_expand(p, base) for p in config.runbooks],
        "checks": [_expand(p, base) for p in config.checks],
        "journal": config.journal.model_copy(update={"dir": _expand(config.journal.dir, base)}),
    }
    if config.inventory:
        update["inventory"] = _expand(config.inventory, base)
    ssh_update: dict[str, Any] = {
        "identity_files": [_expand(p, base) for p in config.ssh.identity_files]
    }
    if config.ssh.config:
        ssh_update["config"] = _expand(config.ssh.config, base)
    if config.ssh.known_hosts:
        ssh_update["known_hosts"] = _expand(config.ssh.known_hosts, base)
    update["ssh"] = config.ssh.model_copy(update=ssh_update)
    for name in ("prometheus", "alertmanager"):
        source: HttpSource | None = getattr(config, name)
        if source is not None:
            update[name] = _resolve_source_paths(source, base)
    return config.model_copy(update=update)


def _resolve_source_paths(source: HttpSource, base: Path) -> HttpSource:
    """TLS files and secret files are relative to the config's folder, like every path."""
    tls = source.tls.model_copy(
        update={
            key: _expand(value, base)
            for key in ("ca_file", "cert_file", "key_file")
            if (value := getattr(source.tls, key)) is not None
        }
    )
    update: dict[str, Any] = {"tls": tls}
    if source.bearer_token_file is not None:
        update["bearer_token_file"] = _expand(source.bearer_token_file, base)
    if source.basic_auth is not None and source.basic_auth.password_file is not None:
        update["basic_auth"] = source.basic_auth.model_copy(
            update={"password_file": _expand(source.basic_auth.password_file, base)}
        )
    return source.model_copy(update=update)


def _merge_inventory(config: Config, path: Path, lines: LineMap, problems: ProblemList) -> None:
    if not config.inventory:
        return
    inv = config.inventory
    if not inv.is_file():
        problems.add(
            path,
            lines.line_for(("inventory",)),
            f"inventory file not found: {inv}",
            key="inventory",
            code="config",
        )
        return
    for mapping, line in read_inventory(inv, problems):
        try:
            config.nodes.append(Node.model_validate(mapping))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                problems.add(
                    inv,
                    line,
                    f"host {mapping.get('name')!r}: {err['msg']}",
                    key=".".join(str(x) for x in err["loc"]),
                    code="inventory",
                )


def secret_file_problem(path: Path) -> str | None:
    """Why the secret file at ``path`` must not be read (not a regular file, over 64 KiB)."""
    try:
        info = path.stat()
    except OSError:
        return None  # a missing file is reported when the secret is read
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if info.st_size > MAX_SECRET_BYTES:
        return f"{path} is larger than the limit of {MAX_SECRET_BYTES // 1024} KiB for a secret"
    return None


def _check_secret_files(config: Config, path: Path, lines: LineMap, problems: ProblemList) -> None:
    """Secret files are small regular files: ``/dev/zero`` or a FIFO is refused at load."""
    for name in ("prometheus", "alertmanager"):
        source: HttpSource | None = getattr(config, name)
        if source is None:
            continue
        files: list[tuple[tuple[str, ...], Path | None]] = [
            (("bearer_token_file",), source.bearer_token_file)
        ]
        if source.basic_auth is not None:
            files.append((("basic_auth", "password_file"), source.basic_auth.password_file))
        for key, file in files:
            problem = secret_file_problem(file) if file is not None else None
            if problem:
                loc = (name, *key)
                problems.add(path, lines.line_for(loc), problem, key=".".join(loc), code="config")


def _check_nodes(config: Config, path: Path, lines: LineMap, problems: ProblemList) -> None:
    seen: dict[str, int] = {}
    for index, node in enumerate(config.nodes):
        wrong = []
        if node.name in seen:
            wrong.append(f"duplicate node name {node.name!r} (also node #{seen[node.name] + 1})")
        seen.setdefault(node.name, index)
        if node.name in ("all", "local"):
            wrong.append(f"{node.name!r} is reserved for selectors; rename the node")
        for message in wrong:
            line = lines.line_for(("nodes", index))
            problems.add(path, line, message, key=f"nodes[{index}].name", code="config")


def policy_violations(loaded: LoadedConfig) -> list[Problem]:
    """Every way the config breaks its profile's guardrails (empty outside ``prod``)."""
    config = loaded.config
    if config.profile != "prod":
        return []
    file = str(loaded.path or "<defaults>")
    lines = loaded.lines
    out: list[Problem] = []

    def add(key: tuple[str, ...], message: str) -> None:
        out.append(Problem(file, lines.line_for(key), message, key=".".join(key), code="policy"))

    if config.ssh.host_keys != "strict":
        add(
            ("ssh", "host_keys"),
            f"prod refuses unknown host keys: host_keys must be strict, not {config.ssh.host_keys}",
        )
    if config.journal.fsync != "always":
        add(
            ("journal", "fsync"),
            f"prod journals must fsync: fsync must be always, not {config.journal.fsync}",
        )
    if config.confirm == "yes":
        add(("confirm",), "prod actions need typed confirmation: confirm must be typed")
    if not config.redact_defaults:
        add(("redact_defaults",), "prod keeps redaction on: redact_defaults must be true")
    for source in ("prometheus", "alertmanager"):
        settings: HttpSource | None = getattr(config, source)
        if settings is not None and not settings.tls.verify:
            add((source, "tls", "verify"), f"prod verifies TLS: {source}.tls.verify must be true")
    return out


def enforce_policy(loaded: LoadedConfig, accept_risk: str | None) -> list[Problem]:
    """Raise ``PolicyError`` on violations unless ``accept_risk`` gives a reason.

    Returns the violations that were accepted, so the caller can journal ``risk.accepted``.
    """
    violations = policy_violations(loaded)
    if violations and not (accept_risk and accept_risk.strip()):
        raise PolicyError(violations)
    return violations
