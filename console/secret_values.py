"""The console's own secrets: which environment variables and files hold them, and their values.

Two uses, kept in this one place so they never drift apart:

- ``secret_env_names`` lists the variables that ``on: local`` commands must not inherit (the
  journal's HMAC key, source tokens and passwords): a check running ``env`` would otherwise copy
  the log key into the log it signs.
- ``secret_literals`` gives the values themselves, as exact-match redaction rules named
  ``literal:<where>``, so the names recorded in the log say which secret was hidden, never what.

Values shorter than ``MIN_LITERAL_LEN`` are not made rules: redacting every ``abc`` or ``1``
in all output would garble it and, by where the marks fall, hint at the value, while protecting
a secret too short to be one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from console.config import MAX_SECRET_BYTES, Config, HttpSource
from console.errors import ProblemList
from console.yamlsrc import read_source_bytes

LOG_KEY_ENV = "INCIDENT_LOG_KEY"
"""The default variable holding the journal's HMAC key (``journal.key_env`` may name another)."""

MIN_LITERAL_LEN = 6

_SOURCES = ("prometheus", "alertmanager")


def _source_env_names(source: HttpSource) -> Iterator[str]:
    """The variable of each ``*_env`` setting of one HTTP source."""
    if source.bearer_token_env:
        yield source.bearer_token_env
    if source.basic_auth is not None and source.basic_auth.password_env:
        yield source.basic_auth.password_env


def _source_files(name: str, source: HttpSource) -> Iterator[tuple[str, Path]]:
    """``(where, path)`` for each ``*_file`` setting of one HTTP source that holds a secret."""
    if source.bearer_token_file is not None:
        yield f"{name}.bearer_token_file", source.bearer_token_file
    if source.basic_auth is not None and source.basic_auth.password_file is not None:
        yield f"{name}.basic_auth.password_file", source.basic_auth.password_file


def _sources(config: Config) -> Iterator[tuple[str, HttpSource]]:
    for name in _SOURCES:
        source: HttpSource | None = getattr(config, name)
        if source is not None:
            yield name, source


def secret_env_names(config: Config) -> set[str]:
    """Every environment variable that holds one of the console's own secrets."""
    names = {LOG_KEY_ENV}
    if config.journal.key_env:
        names.add(config.journal.key_env)
    for _, source in _sources(config):
        names.update(_source_env_names(source))
    return names


def read_secret_file(path: Path) -> str | None:
    """The stripped text of a secret file, or ``None`` if it cannot be read or is too big.

    Read with the one bounded reader (regular files of at most ``MAX_SECRET_BYTES``). Errors are
    not raised here: the telemetry client reports an unreadable secret file when it uses it;
    redaction only needs the value when there is one.
    """
    raw = read_source_bytes(
        os.path.expanduser(str(path)), "secret file", ProblemList(), limit=MAX_SECRET_BYTES
    )
    return None if raw is None else raw.decode("utf-8", errors="replace").strip()


def secret_literals(config: Config, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Rule name (``literal:INCIDENT_LOG_KEY``, ``literal:prometheus.bearer_token_file``) → value.

    ``environ`` defaults to the process environment. Unset, empty and short values are left out.
    """
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for variable in sorted(secret_env_names(config)):
        found[f"literal:{variable}"] = env.get(variable, "").strip()
    for name, source in _sources(config):
        for where, path in _source_files(name, source):
            found[f"literal:{where}"] = read_secret_file(path) or ""
    return {rule: value for rule, value in found.items() if len(value) >= MIN_LITERAL_LEN}
