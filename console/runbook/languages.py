"""The block-language registry, format half: what the runbook layer needs of a language.

A block's language (``sh``, ``promql``, ``http``...) is looked up here by name instead of being
branched on; an alias (``shell`` and ``console`` for ``sh``, as pasted runbooks write them) is
replaced by the name it stands for when a runbook or catalog is read. Each language is one
``BlockFormat``: its syntax checks, the ``expect`` keys it allows, how ``{{name}}`` values are
rendered into its typed plan (``ShellPlan``, ``PromQLPlan``, ``HttpRequest``: checked when the
run is planned, never re-parsed when it runs), and how what it produced is judged. How it
*runs* is its execute half (``console.execute.languages``), registered under the same name. The
built-in languages live in ``console.runbook.blocklangs`` and are loaded on first look-up, so
this module can be imported from the models without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from console.runbook.expect import Observation
    from console.runbook.model import Block, Expect

COMMON_EXPECT_KEYS = frozenset({"same"})
"""``same`` (the nodes agree) applies to every language."""


@dataclass(frozen=True)
class BodyProblem:
    """A language's complaint about a block body: ``offset`` lines below the body's first line."""

    offset: int
    message: str
    code: str


class RenderedBlock(Protocol):
    """A block's typed plan, as its language's ``render`` builds it."""

    @property
    def command_text(self) -> str:
        """The text shown before it runs and recorded as ``block.started``'s command."""
        ...


class PlanProblem(ValueError):
    """A rendered block that cannot run: ``offset`` lines below the body's first line."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


class BlockFormat(Protocol):
    """The format half of a block language."""

    @property
    def name(self) -> str:
        """The word after the fence's backticks: ``sh`` in ``sh check``."""
        ...

    @property
    def runs_on_nodes(self) -> bool:
        """True: it runs on each node ``on:`` selects; False: once, from the console."""
        ...

    @property
    def series_as_nodes(self) -> bool:
        """True: each series a result holds is judged as a node of its own (``promql``), so
        results name nodes the block did not start on."""
        ...

    @property
    def action_refusal(self) -> str | None:
        """Why this language cannot be an action (``None`` when it can)."""
        ...

    @property
    def shell_quoted(self) -> bool:
        """True when values are shell-quoted (so unquotable sites are refused)."""
        ...

    @property
    def expect_keys(self) -> frozenset[str]:
        """The ``expect`` keys it judges (``same`` is added for every language)."""
        ...

    def body_problems(self, kind: str, body: str) -> list[BodyProblem]:
        """Syntax problems of a non-empty body written by the author."""
        ...

    def render(self, block: Block, values: dict[str, str]) -> RenderedBlock:
        """The plan: the body with ``values`` substituted as the language needs, parsed (raise
        the template's ``MissingVariable``/``UnsafeVariable``, ``render.VarError`` or
        ``PlanProblem``). A language that runs on nodes is started as its ``command_text``."""
        ...

    def judge(self, expect: Expect, obs: Observation) -> tuple[list[str], float | None]:
        """Why ``obs`` fails ``expect`` (empty when it passes), and the value it judged."""
        ...

    def same_text(self, obs: Observation) -> str:
        """The text ``same`` compares across nodes."""
        ...


_FORMATS: dict[str, BlockFormat] = {}
_ALIASES: dict[str, str] = {}
_builtins_loaded = False


def register_format(language: BlockFormat) -> None:
    """Make ``language`` usable in runbooks under its ``name`` (replacing one of that name)."""
    _load_builtins()
    _FORMATS[language.name] = language


def unregister_format(name: str) -> None:
    """Forget a registered language (for tests that register a throw-away one)."""
    _FORMATS.pop(name, None)


def register_alias(alias: str, name: str) -> None:
    """Let ``alias`` be written for the language ``name`` (``shell`` for ``sh``)."""
    _load_builtins()
    _ALIASES[alias] = name


def language_name(word: str) -> str:
    """The registered name ``word`` stands for: itself, or the language it is an alias of."""
    _load_builtins()
    return _ALIASES.get(word, word)


def alias_names() -> tuple[str, ...]:
    """Every alias, in registration order (for messages listing what may be written)."""
    _load_builtins()
    return tuple(_ALIASES)


def block_format(name: str) -> BlockFormat:
    """The language called ``name``; ``KeyError`` when there is none."""
    _load_builtins()
    return _FORMATS[name]


def format_names() -> tuple[str, ...]:
    """Every registered language name, in registration order."""
    _load_builtins()
    return tuple(_FORMATS)


def allowed_expect_keys(name: str) -> frozenset[str]:
    """The ``expect`` keys a block in language ``name`` may use."""
    return block_format(name).expect_keys | COMMON_EXPECT_KEYS


def known_expect_keys() -> frozenset[str]:
    """The ``expect`` keys some registered language allows."""
    _load_builtins()
    return COMMON_EXPECT_KEYS.union(*(f.expect_keys for f in _FORMATS.values()))


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from console.runbook.blocklangs import http, promql, shell

    for language in (shell.SHELL, shell.BASH, promql.PROMQL, http.HTTP):
        _FORMATS.setdefault(language.name, language)
    for alias, name in shell.ALIASES.items():
        _ALIASES.setdefault(alias, name)
