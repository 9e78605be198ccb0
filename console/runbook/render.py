"""Runbook variables at run time: which a block needs, checking values, rendering (pure).

``{{name}}`` is substituted so that a value arrives as literal text. In ``sh``/``bash`` blocks
each value is quoted for the place it stands, and refused where no quoting helps (see
``template.shell_sites``); the shell's own ``$VAR`` and ``${VAR}`` are not touched. In the URL
line of an ``http`` block values are percent-encoded (so they cannot change the host or port or
add path segments or query parameters), and no value may hold a line break there or in a
header. ``promql`` values are escaped inside a string and must be one token elsewhere
(``template.render_promql``). In ``on:`` selectors a value must be one plain name
(``selector.is_plain_value``): no comma, glob, whitespace or operator can widen the blast
radius, and the result must still be a valid selector.

Built-ins: ``{{node}}`` and ``{{host}}`` (the node a shell block runs on) and ``{{incident}}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.errors import Problem
from console.runbook.languages import PlanProblem, RenderedBlock, block_format
from console.runbook.model import BUILTIN_VARS, Block, Runbook, VarSpec
from console.runbook.template import (
    MissingVariable,
    UnsafeVariable,
    render,
    variables_in,
)
from console.selector import SelectorError, is_plain_value, parse_selector

NODE_VARS = ("node", "host")


class VarError(ValueError):
    """A variable problem, carrying the file:line it concerns."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class VarUseSite:
    """Where a block uses a variable."""

    name: str
    block: str
    file: str
    line: int


def uses(block: Block) -> list[VarUseSite]:
    """Every ``{{name}}`` in the block's body and ``on:`` selector, with its line."""
    out = [
        VarUseSite(u.name, block.id, block.file, block.body_line + u.line)
        for u in variables_in(block.body)
    ]
    if block.options.on:
        line = block.line_of("on")
        out += [
            VarUseSite(u.name, block.id, block.file, line) for u in variables_in(block.options.on)
        ]
    return out


def needed(blocks: list[Block]) -> dict[str, VarUseSite]:
    """The declared (non-built-in) variables these blocks use, each with its first use."""
    out: dict[str, VarUseSite] = {}
    for block in blocks:
        for use in uses(block):
            if use.name not in BUILTIN_VARS:
                out.setdefault(use.name, use)
    return out


def check_value(name: str, spec: VarSpec | None, value: str) -> str | None:
    """Why ``value`` is not acceptable for variable ``name``, or ``None``."""
    if spec is None:
        return f"no variable {name!r} is declared in the runbook's front matter"
    if "\x00" in value:
        return f"{name}: a value cannot contain a NUL byte"
    return spec.problem_with(value)


def front_matter_line(runbook: Runbook, name: str, text: str | None) -> int:
    """The line of ``vars.<name>`` in the runbook's front matter (2 when it cannot be found)."""
    if text is None:
        return 2
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return 2
    in_vars = False
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            break
        if line.startswith("vars:"):
            in_vars = True
            continue
        if in_vars and line and not line[0].isspace():
            in_vars = False
        if in_vars and line.strip().startswith(f"{name}:"):
            return number
    return 2


def render_body(block: Block, values: dict[str, str]) -> RenderedBlock:
    """The block's typed plan: its body with ``values`` substituted as its language needs.

    Raises ``VarError`` naming the line of the first unresolved or unsafe variable, or of what
    the language cannot run (an ``http`` request line that is not ``METHOD URL``).
    """
    try:
        return block_format(block.lang).render(block, values)
    except PlanProblem as exc:
        raise VarError(_body_problem(block, exc.offset, exc.message, code=block.lang)) from None
    except MissingVariable as exc:
        raise VarError(_missing(block, str(exc.args[0]), body=True)) from None
    except UnsafeVariable as exc:
        problem = _body_problem(block, exc.line, str(exc), key=exc.name, code="unsafe-var")
        raise VarError(problem) from None


def _body_problem(
    block: Block, offset: int, message: str, *, code: str, key: str | None = None
) -> Problem:
    """A problem at line ``offset`` of ``block``'s body, naming the block."""
    return Problem(
        block.file, block.body_line + offset, f"block {block.id}: {message}", key=key, code=code
    )


def render_selector(block: Block, selector: str, values: dict[str, str]) -> str:
    """The ``on:`` selector with ``values`` substituted unquoted, checked to still parse."""
    line = block.line_of("on")
    for use in variables_in(selector):
        value = values.get(use.name)
        if value is not None and not is_plain_value(value):
            raise VarError(
                Problem(
                    block.file,
                    line,
                    f"block {block.id}: {{{{{use.name}}}}} = {value!r} cannot be used in on: "
                    "(a value there is one plain name: letters, digits and . _ : - / but no "
                    "comma, space, '*', '!' or '=', so it cannot widen or rewrite the selector)",
                    key="on",
                    code="var",
                )
            )
        if use.name in NODE_VARS:
            raise VarError(
                Problem(
                    block.file,
                    line,
                    f"block {block.id}: {{{{{use.name}}}}} cannot be used in on: (it is "
                    "the node the block runs on)",
                    key="on",
                    code="var",
                )
            )
    try:
        text = render(selector, values, shell=False)
    except MissingVariable as exc:
        raise VarError(_missing(block, str(exc.args[0]), body=False)) from None
    try:
        parse_selector(text)
    except SelectorError as exc:
        raise VarError(
            Problem(
                block.file,
                line,
                f"block {block.id}: on: {selector!r} became {text!r}: {exc}",
                key="on",
                code="selector",
            )
        ) from None
    return text


def _missing(block: Block, name: str, *, body: bool) -> Problem:
    line = block.line_of("on")
    if body:
        use = next((u for u in variables_in(block.body) if u.name == name), None)
        line = block.body_line + (use.line if use else 0)
    if name in NODE_VARS:
        message = (
            f"block {block.id}: {{{{{name}}}}} is only defined where a shell block runs on nodes"
        )
    else:
        message = f"block {block.id} needs {{{{{name}}}}}: give it with --var {name}=VALUE"
    return Problem(block.file, line, message, code="var")
