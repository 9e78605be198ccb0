"""Typed models of a runbook: front matter, steps, blocks and their ``#|`` options.

Every model object carries its source file and line, so any later error (at lint, at run time,
in the journal) can point at the line the engineer wrote.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from console.durations import Duration
from console.patterns import Regex, check_regex
from console.runbook.jsonpath import JsonPathError, parse_path
from console.runbook.languages import block_format, known_expect_keys
from console.selector import SelectorText

KINDS = ("check", "action")
BUILTIN_VARS = ("node", "host", "incident")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
LABEL_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
"""A Prometheus label name."""

Kind = Literal["check", "action"]


class Strict(BaseModel):
    """Base: unknown keys are errors; models are immutable once parsed."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


# -- expectations ----------------------------------------------------------------------------

_COMPARISON = re.compile(
    r"^\s*(?:(<=|>=|==|!=|<|>)\s*(-?[0-9.eE+\-]+)|between\s+(-?[0-9.eE+\-]+)\s+(-?[0-9.eE+\-]+))\s*$"
)


class ShortForm(Strict):
    """A model usually written in a short form (``"< 100"``, ``/regex/``), or in full as a
    mapping that has its ``LONG_KEY``."""

    LONG_KEY: ClassVar[str]

    @classmethod
    def parse(cls, value: Any) -> Self:
        """The model ``value`` stands for, written in full or short (``ValueError`` if neither)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, dict) and cls.LONG_KEY in value:
            return cls.model_validate(value)
        return cls.from_short(value)

    @classmethod
    def from_short(cls, value: Any) -> Self:
        """The model from its short form."""
        raise NotImplementedError


class Comparison(ShortForm):
    """A numeric test like ``< 100``, ``>= 2`` or ``between 0 10`` (inclusive)."""

    LONG_KEY = "op"

    op: Literal["<", "<=", ">", ">=", "==", "!=", "between"]
    a: float
    b: float | None = None
    text: str

    @classmethod
    def from_short(cls, value: Any) -> Self:
        """Parse a comparison; a bare number means ``==``."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls(op="==", a=float(value), text=f"== {value}")
        if not isinstance(value, str):
            raise ValueError(f"expected a comparison like '< 100' or 'between 0 10', got {value!r}")
        match = _COMPARISON.match(value)
        if not match:
            raise ValueError(
                f"bad comparison {value!r}: write '< 100', '>= 2', '== 3', '!= 0' or 'between 0 10'"
            )
        op, a, low, high = match.groups()
        try:
            if op:
                return cls(op=op, a=float(a), text=value.strip())
            lo, hi = float(low), float(high)
        except ValueError:
            raise ValueError(f"bad number in comparison {value!r}") from None
        if lo > hi:
            raise ValueError(f"bad comparison {value!r}: the low bound is above the high bound")
        return cls(op="between", a=lo, b=hi, text=value.strip())

    def holds(self, x: float) -> bool:
        """Whether ``x`` satisfies the comparison."""
        if self.op == "between":
            assert self.b is not None
            return self.a <= x <= self.b
        return {
            "<": x < self.a,
            "<=": x <= self.a,
            ">": x > self.a,
            ">=": x >= self.a,
            "==": x == self.a,
            "!=": x != self.a,
        }[self.op]


class TextMatch(ShortForm):
    """A substring, or a regex when written ``/like this/``."""

    LONG_KEY = "text"

    text: str
    regex: bool = False

    @classmethod
    def from_short(cls, value: Any) -> Self:
        """Parse a ``stdout``/``stderr``/``body`` expectation."""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"expected text or /regex/, got {value!r}")
        text = str(value)
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            return cls(text=check_regex(text[1:-1]), regex=True)
        return cls(text=text)

    def found_in(self, haystack: str) -> bool:
        """Whether the substring or regex occurs in ``haystack``."""
        if self.regex:
            return re.search(self.text, haystack, re.MULTILINE) is not None
        return self.text in haystack


def _short_form(parse: Callable[[Any], Any]) -> BeforeValidator:
    """Read a value written in its short form with ``parse`` (``None`` stays ``None``)."""
    return BeforeValidator(lambda value: None if value is None else parse(value))


ComparisonField = Annotated[Comparison | None, _short_form(Comparison.parse)]
"""``"< 100"``, ``">= 2"``, ``"between 0 10"``: a comparison, parsed where it is written."""
TextMatchField = Annotated[TextMatch | None, _short_form(TextMatch.parse)]
"""Text or ``/regex/``, parsed where it is written."""


class JsonExpect(Strict):
    """A test on one value of JSON output: ``{path: .leader, equals: ...}``."""

    path: str
    equals: Any = None
    value: ComparisonField = None
    matches: TextMatchField = None
    exists: bool | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        try:
            parse_path(value)
        except JsonPathError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_test(cls, data: Any) -> Any:
        if isinstance(data, dict):
            tests = [k for k in ("equals", "value", "matches", "exists") if k in data]
            if len(tests) > 1:
                raise ValueError(f"json takes one test, got {', '.join(tests)}")
        return data


class SameExpect(Strict):
    """All nodes agree: on the whole output, a JSON path, or a regex's first group."""

    json_path: str | None = Field(default=None, alias="json")
    regex: str | None = None

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> SameExpect:
        if self.json_path is not None and self.regex is not None:
            raise ValueError("same takes json or regex, not both")
        if self.json_path is not None:
            try:
                parse_path(self.json_path)
            except JsonPathError as exc:
                raise ValueError(str(exc)) from None
        if self.regex is not None:
            pattern = check_regex(self.regex[1:-1] if _slashed(self.regex) else self.regex)
            if re.compile(pattern).groups < 1:
                raise ValueError("same.regex needs a capture group: the part that must agree")
        return self

    @property
    def pattern(self) -> str | None:
        """The regex without ``/`` delimiters."""
        if self.regex is None:
            return None
        return self.regex[1:-1] if _slashed(self.regex) else self.regex


def _slashed(text: str) -> bool:
    return len(text) >= 2 and text.startswith("/") and text.endswith("/")


class Expect(Strict):
    """What a block's result must satisfy, judged per node (``same`` across nodes).

    Keys beyond the fields below belong to a registered language (``languages.BlockFormat``)
    and are kept as written, for that language's ``judge`` to read with ``extra``.
    """

    exit: list[int] | None = None
    stdout: list[TextMatch] | None = None
    stderr: list[TextMatch] | None = None
    value: ComparisonField = None
    status: list[int] | None = None
    body: list[TextMatch] | None = None
    json_: list[JsonExpect] | None = Field(default=None, alias="json")
    same: SameExpect | None = None

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _known_keys(self) -> Expect:
        unknown = sorted(set(self.model_extra or {}) - known_expect_keys())
        if unknown:
            known = ", ".join(sorted(known_expect_keys()))
            raise ValueError(f"unknown expect key {unknown[0]!r} (known: {known})")
        return self

    def extra(self, key: str) -> Any:
        """The value of a language's own expect ``key`` as written (``None`` if absent)."""
        return (self.model_extra or {}).get(key)

    @field_validator("exit", "status", mode="before")
    @classmethod
    def _ints(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if not items or any(isinstance(i, bool) or not isinstance(i, int) for i in items):
            raise ValueError(f"expected a whole number or a list of them, got {value!r}")
        return items

    @field_validator("stdout", "stderr", "body", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        return [TextMatch.parse(i) for i in items]

    @field_validator("json_", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if value is None:
            return None
        return value if isinstance(value, list) else [value]

    @field_validator("same", mode="before")
    @classmethod
    def _same(cls, value: Any) -> Any:
        if value is None or value is False:
            return None
        if value is True:
            return {}
        if isinstance(value, dict):
            return value
        raise ValueError(f"same takes true, {{json: .path}} or {{regex: '(group)'}}, got {value!r}")

    def keys_set(self) -> list[str]:
        """The expectation keys the author wrote, as spelled in the runbook."""
        written = [("json" if k == "json_" else k) for k in self.model_fields_set]
        return written + [k for k in self.model_extra or {} if k not in written]


# -- options and blocks ----------------------------------------------------------------------

OPTION_KEYS = (
    "id", "on", "timeout", "batch", "canary", "expect", "within", "every",
    "confirm", "requires", "use",
)  # fmt: skip


class BlockOptions(Strict):
    """The ``#|`` options of an executable block (after YAML parsing)."""

    id: str | None = Field(default=None, pattern=ID_PATTERN)
    on: SelectorText | None = None
    timeout: Duration | None = None
    batch: int | None = Field(default=None, ge=1)
    canary: int | None = Field(default=None, ge=1)
    expect: Expect | None = None
    within: Duration | None = None
    every: Duration | None = None
    confirm: Literal[True, "typed"] | None = None
    requires: list[str] = Field(default_factory=list)
    use: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")

    @field_validator("confirm", mode="before")
    @classmethod
    def _confirm(cls, value: Any) -> Any:
        if value is False:
            raise ValueError("actions are always confirmed: use confirm: true or confirm: typed")
        if value not in (None, True, "typed"):
            raise ValueError(f"confirm takes true or typed, got {value!r}")
        return value

    @field_validator("requires", mode="before")
    @classmethod
    def _requires(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _timing(self) -> BlockOptions:
        if self.every is not None and self.within is None:
            raise ValueError("every needs within: how long to keep re-running (e.g. within: 2m)")
        if self.within is not None and self.every is not None and self.every > self.within:
            raise ValueError("every is longer than within: the block would run only once")
        if self.every is not None and self.every <= 0:
            raise ValueError("every must be more than 0s")
        return self


class Block(Strict):
    """An executable fenced block of a runbook."""

    id: str
    kind: Kind
    lang: str  # a registered language (``languages.format_names``)
    body: str
    options: BlockOptions
    file: str
    line: int  # the fence line
    body_line: int  # first line of the body after the options
    step: int  # 1-based step number; 0 before the first step
    option_lines: dict[str, int] = Field(default_factory=dict)  # option key -> file line
    source: str | None = None  # catalog check name when the body came from ``use:``

    def line_of(self, option: str) -> int:
        """The file line of ``option``, or the fence line if it was not written."""
        return self.option_lines.get(option, self.line)

    @property
    def is_action(self) -> bool:
        """True for blocks that change something (confirmed, recorded write-ahead)."""
        return self.kind == "action"

    @property
    def runs_on_nodes(self) -> bool:
        """Whether the block runs on nodes (shell) or once from the console (promql, http)."""
        return block_format(self.lang).runs_on_nodes


class Step(Strict):
    """A ``##`` section: a heading, its prose and its blocks."""

    number: int
    title: str
    slug: str
    markdown: str
    blocks: list[Block] = Field(default_factory=list)
    file: str
    line: int


class VarSpec(Strict):
    """A runbook variable: prompted for when missing, validated by ``pattern``.

    ``pattern`` must match the whole value (``re.fullmatch``), so ``^[a-z]+$`` refuses
    ``"abc\\n"``, which ``$`` alone would let through.
    """

    prompt: str | None = None
    pattern: Regex | None = None
    default: str | None = None
    choices: list[str] | None = None
    label: str | None = None
    """The firing alert's label whose value pre-fills the prompt (still validated)."""

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(LABEL_NAME, value):
            raise ValueError(
                f"{value!r} is not an alert label name (letters, digits and _, "
                "not starting with a digit)"
            )
        return value

    @model_validator(mode="after")
    def _label_or_default(self) -> VarSpec:
        if self.label is not None and self.default is not None:
            raise ValueError(
                "label: pre-fills the prompt, but a variable with a default is never asked: "
                "drop default: or label:"
            )
        return self

    def problem_with(self, value: str) -> str | None:
        """Why ``value`` is not acceptable, or ``None`` if it is."""
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {', '.join(self.choices)}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"{value!r} does not match {self.pattern}"
        return None


def _var_spec(value: Any) -> Any:
    """``member:`` alone or ``member: "Which member?"`` are shorthands for a prompt."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"prompt": value}
    return value


class FrontMatter(BaseModel):
    """A runbook's YAML front matter. Custom metadata goes under keys starting ``x-``."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)

    id: str | None = Field(default=None, pattern=ID_PATTERN)
    title: str | None = None
    alerts: list[str] = Field(default_factory=list)
    severity: str | None = None
    nodes: SelectorText | None = None
    vars: dict[str, VarSpec] = Field(default_factory=dict)
    owner: str | None = None
    service: str | None = None
    tags: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("alerts", "tags", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("vars", mode="before")
    @classmethod
    def _vars(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: _var_spec(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _extras(self) -> FrontMatter:
        unknown = [k for k in (self.model_extra or {}) if not k.startswith("x-")]
        if unknown:
            known = ", ".join(k for k in type(self).model_fields)
            raise ValueError(
                f"unknown front-matter key {unknown[0]!r} (known: {known}; "
                "put custom metadata under keys starting with x-)"
            )
        return self


class Runbook(Strict):
    """A parsed runbook."""

    id: str
    title: str
    meta: FrontMatter
    intro: str
    steps: list[Step]
    file: str
    sha256: str

    def blocks(self) -> list[Block]:
        """Every executable block, in document order."""
        return [b for s in self.steps for b in s.blocks]

    def block(self, block_id: str) -> Block | None:
        """The block with ``block_id``, if any."""
        return next((b for b in self.blocks() if b.id == block_id), None)

    def step(self, ref: str) -> Step | None:
        """A step by number (``2``) or slug (``restart-the-member``)."""
        for step in self.steps:
            if ref == str(step.number) or ref == step.slug:
                return step
        return None
