"""Redaction: secrets are replaced before an event is written or shown.

Built-in rules cover private keys, AWS keys, bearer and basic credentials, passwords and tokens in
``key=value`` / ``key: value`` / JSON form and on command lines, credentials in URLs, JWTs and
well-known token formats; the config's ``redact`` regexes come on top. A rule with a group named
``secret`` replaces only that group (``password=[REDACTED]``), any other rule its whole match.

The console's own secret values (the log key, source tokens: ``console.secret_values``) are
exact-match rules named ``literal:<where>``, so the log records which secret was hidden, never
its value. Quoted values are hidden whole; a ``file:line:`` location is not a ``key: value``.

Every string in a payload is redacted, except ``block.output`` text keeps per-stream state: a
private key that starts in one chunk is redacted in the following chunks until its END line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from console.secret_values import secret_literals

if TYPE_CHECKING:
    from console.config import Config
    from console.journal.events import BlockOutput, Payload

REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Rule:
    """One redaction rule: a name for the log, the regex it applies, and the lowercase words
    one of which every match contains (a fast pre-check; empty means always run the regex)."""

    name: str
    pattern: re.Pattern[str]
    triggers: frozenset[str] = frozenset()

    def apply(self, text: str) -> str:
        """``text`` with every match of this rule redacted."""
        return self.pattern.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        if "secret" not in self.pattern.groupindex or match.start("secret") < 0:
            return REDACTED
        whole, start = match.group(0), match.start()
        return (
            whole[: match.start("secret") - start] + REDACTED + whole[match.end("secret") - start :]
        )


def _rule(name: str, pattern: str, *triggers: str, flags: int = 0) -> Rule:
    return Rule(name, re.compile(pattern, flags), frozenset(triggers))


_KEY_WORDS = (
    r"passw(?:or)?d|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|client[_-]?secret|credentials?|mysql_pwd|pgpassword|session[_-]?id|cookie"
)
_KEY_TRIGGERS = (
    *("pass", "secret", "token", "api", "access", "private", "credential", "mysql_pwd"),
    *("session", "cookie", "_pwd", "_auth"),
)
# A value: quoted (either quote, backslash escapes kept inside) up to its closing quote or the
# end of the line, so ``"hun ter2"`` is hidden whole; else up to a space, quote or separator.
_VALUE = (
    r"(?P<q>[\"'])?(?P<secret>(?!\[REDACTED\])"
    r"(?(q)(?!(?P=q))(?:\\.|[^\n\\])+?(?=(?P=q)|\n|\Z)|[^\s\"',;&]+))"
)
# Shell-style variables that hold passwords (``DB_PASS=``, ``PGPASS=``, ``REDISCLI_AUTH=``);
# upper case only, so ``tests_pass=3`` and ``passed=3`` stay.
_ENV_NAMES = r"[A-Z][A-Z0-9_]*_(?:PASS|PASSWD|PASSWORD|PWD|AUTH)|PGPASS(?:WORD)?|MYSQL_PWD"
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")

DEFAULT_RULES: tuple[Rule, ...] = (
    _rule(
        "private-key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
        "private key",
        flags=re.DOTALL,
    ),
    _rule(
        "aws-access-key-id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
        *("akia", "asia", "abia", "acca", "agpa", "aida", "aroa"),
    ),
    _rule(
        "aws-secret-access-key",
        r"(?i)aws[\w.\-]{0,24}?(?:secret|key)[\w.\-]{0,24}?[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
        "aws",
    ),
    _rule(
        "authorization-header",
        r"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?(?P<secret>[^\s\"',;]+)",
        "authorization",
    ),
    _rule("bearer-token", r"(?i)\bbearer[ \t]+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)", "bearer"),
    # The userinfo ends at the LAST "@" before the host, so a password holding "@" goes whole.
    _rule("url-credentials", r"://[^\s:/@]+:(?P<secret>[^\s/]+)@", "://"),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "eyj"),
    _rule(
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        *("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _rule("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", "xox"),
    _rule("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}", "aiza"),
    _rule("stripe-key", r"\b[rs]k_live_[0-9A-Za-z]{16,}", "k_live_"),
    _rule(
        "secret-flag",
        r"(?i)(?<![\w-])--?(?:password|passwd|pass|token|secret|api-key|apikey)(?:=|[ \t]+)"
        + _VALUE,
        *("pass", "token", "secret", "api-key", "apikey"),
    ),
    _rule(
        "user-password-flag",
        r"(?i)(?<![\w-])(?:--user|-u)(?:=|[ \t]+)[\"']?[^\s:\"']+:(?P<secret>[^\s\"']+)",
        "-u",
    ),
    _rule(
        "secret-assignment",
        rf"(?i)(?:(?:{_KEY_WORDS})[\w.\-]*|(?<![A-Za-z0-9_])(?-i:{_ENV_NAMES}))"
        r"[\"']?[ \t]*(?:=|:(?!\d+:))[ \t]*" + _VALUE,
        *_KEY_TRIGGERS,
    ),
)


def literal_rules(literals: Mapping[str, str]) -> tuple[Rule, ...]:
    """Exact-match rules for known secret values (``{"literal:<where>": value}``), longest first
    so a value that contains another is hidden whole."""
    ordered = sorted(literals.items(), key=lambda item: -len(item[1]))
    return tuple(
        Rule(name, re.compile(re.escape(value)), frozenset({value.lower()}))
        for name, value in ordered
        if value
    )


class Redactor:
    """Applies the console's own secret values, the built-in rules (unless turned off) and the
    configured regexes."""

    def __init__(
        self,
        patterns: Sequence[str] = (),
        *,
        defaults: bool = True,
        literals: Mapping[str, str] = MappingProxyType({}),
    ) -> None:
        """``patterns`` are the config's ``redact`` regexes; raises ``ValueError`` on a bad one.

        ``literals`` are exact secret values by rule name (``console.secret_values``); they run
        first, so no other rule can cut one in half and leave the rest showing.
        """
        configured = []
        for pattern in patterns:
            try:
                configured.append(Rule(f"config:{pattern}", re.compile(pattern)))
            except re.error as exc:
                raise ValueError(f"bad redaction regex {pattern!r}: {exc}") from None
        self.rules: tuple[Rule, ...] = (
            *literal_rules(literals),
            *(DEFAULT_RULES if defaults else ()),
            *configured,
        )
        self._triggers = tuple(sorted({t for rule in self.rules for t in rule.triggers}))
        self._open_keys: set[tuple[str, str, str]] = set()

    @property
    def names(self) -> list[str]:
        """The rules in force, as recorded in ``incident.opened``."""
        return [rule.name for rule in self.rules]

    def text(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED]``."""
        lowered = text.lower()
        present = {t for t in self._triggers if t in lowered}
        for rule in self.rules:
            if not rule.triggers or rule.triggers & present:
                text = rule.apply(text)
        return text

    def payload(self, payload: Payload) -> Payload:
        """The payload with every string redacted (the same object if nothing matched)."""
        # Imported here: the CLI's printer needs a redactor long before any event exists.
        from console.journal.events import BlockFinished, BlockOutput, NodeResult

        if isinstance(payload, BlockOutput):
            return self._output(payload)
        if isinstance(payload, NodeResult | BlockFinished):
            ended = [k for k in self._open_keys if k[0] == payload.run]
            self._open_keys.difference_update(ended)
        data = payload.model_dump(mode="json")
        redacted = _walk(data, self.text)
        if redacted == data:
            return payload
        return type(payload).model_validate(redacted)

    def _output(self, chunk: BlockOutput) -> BlockOutput:
        key = (chunk.run, chunk.node, chunk.stream)
        text = chunk.text
        prefix = ""
        if key in self._open_keys:
            end = _PEM_END.search(text)
            if end is None:
                return chunk.model_copy(update={"text": REDACTED}) if text else chunk
            self._open_keys.discard(key)
            prefix, text = REDACTED, text[end.end() :]
        begins = list(_PEM_BEGIN.finditer(text))
        if begins and not _PEM_END.search(text, begins[-1].end()):
            self._open_keys.add(key)
        redacted = prefix + self.text(text)
        if redacted == chunk.text:
            return chunk
        return chunk.model_copy(update={"text": redacted})


def _walk(value: Any, redact: Callable[[str], str]) -> Any:
    """Redact every string inside a JSON-like value (dict values, list items)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _walk(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, redact) for v in value]
    return value


def session_redactor(config: Config | None, environ: Mapping[str, str] | None = None) -> Redactor:
    """The one redactor a session uses for its journal and everything it shows.

    Built from the config's ``redact`` regexes and ``redact_defaults`` (the built-in rules alone
    without a config), plus the console's own secret values (from ``environ``, default the
    process's environment, and the config's secret files) as literal rules.
    """
    if config is None:
        return Redactor()
    literals = secret_literals(config, environ)
    return Redactor(config.redact, defaults=config.redact_defaults, literals=literals)


def redact_json(value: Any, redactor: Redactor) -> Any:
    """A JSON-like value with every string in it redacted (for printing JSON that stays valid)."""
    return _walk(value, redactor.text)
