"""Parse a Markdown runbook into the typed model.

The parser never raises on bad input: every problem is collected with its file and line, and a
runbook is returned only when there are no errors. ``load_runbook`` wraps that into a
``SourceError`` for callers that want an exception.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin
from pydantic import ValidationError

from console.errors import ProblemList, Severity, SourceError
from console.runbook.languages import (
    alias_names,
    allowed_expect_keys,
    block_format,
    format_names,
    language_name,
)
from console.runbook.model import (
    BUILTIN_VARS,
    KINDS,
    OPTION_KEYS,
    Block,
    BlockOptions,
    FrontMatter,
    Runbook,
    Step,
)
from console.runbook.template import (
    LITERAL_BRACES,
    heredoc_body_lines,
    shell_sites,
    variables_in,
)
from console.yamlsrc import load_yaml, read_source, unknown_keys, validation_problems

_OPTION_LINE = re.compile(r"^[ \t]*#\|[ ]?(.*)$")
_NUMBER_PREFIX = re.compile(r"^\s*(?:step\s+)?\d+[.)]\s*", re.IGNORECASE)
_PROMPT = re.compile(r"^([ \t]*)\$ ")


def markdown_parser() -> MarkdownIt:
    """The Markdown reader runbooks are parsed with (CommonMark and front matter)."""
    return MarkdownIt("commonmark").use(front_matter_plugin)


def slugify(text: str) -> str:
    """A URL-style slug of a heading: ``Restart the member`` -> ``restart-the-member``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "step"


def parse_runbook(text: str, file: str | Path) -> tuple[Runbook | None, ProblemList]:
    """Parse runbook ``text``; return the runbook (``None`` on errors) and every problem."""
    file = str(file)
    problems = ProblemList()
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    try:
        tokens = markdown_parser().parse(text)
    except Exception as exc:  # markdown-it is total in practice; be safe with odd input
        problems.add(file, 1, f"cannot parse Markdown: {exc}", code="markdown")
        return None, problems
    meta = _front_matter(tokens, file, problems)
    title = meta.title if meta and meta.title else _first_h1(tokens) or Path(file).stem
    runbook_id = meta.id if meta and meta.id else slugify(Path(file).stem)

    headings = [t for t in tokens if t.type == "heading_open" and t.tag == "h2" and t.map]
    inline_after = {id(tokens[i]): tokens[i + 1] for i in range(len(tokens) - 1)}
    step_starts = [h.map[0] for h in headings if h.map]
    first_step = step_starts[0] if step_starts else len(lines)

    steps: list[Step] = []
    used_ids: dict[str, int] = {}
    fences = [t for t in tokens if t.type == "fence" and t.map]
    for number, heading in enumerate(headings, start=1):
        assert heading.map is not None
        start = heading.map[0]
        end = step_starts[number] if number < len(step_starts) else len(lines)
        heading_text = inline_after[id(heading)].content.strip()
        step_title = _NUMBER_PREFIX.sub("", heading_text) or heading_text
        body_lines = lines[heading.map[1] : end]
        markdown = "\n".join(body_lines).strip("\n")
        blocks: list[Block] = []
        for fence in fences:
            assert fence.map is not None
            if start <= fence.map[0] < end:
                block = _block(fence, file, number, len(blocks) + 1, problems, used_ids)
                if block is not None:
                    blocks.append(block)
        if not markdown.strip():
            problems.add(
                file,
                start + 1,
                f"step {number} ({step_title!r}) is empty: add what to do, or remove the heading",
                code="empty-step",
            )
        steps.append(
            Step(
                number=number,
                title=step_title,
                slug=slugify(step_title),
                markdown=markdown,
                blocks=blocks,
                file=file,
                line=start + 1,
            )
        )

    for fence in fences:
        assert fence.map is not None
        if fence.map[0] < first_step:
            _block(fence, file, 0, 0, problems, used_ids, outside_step=True)

    intro_start = _intro_start(tokens)
    intro = "\n".join(lines[intro_start:first_step]).strip("\n")
    if not headings:
        problems.add(
            file, 1, "no steps: a runbook needs at least one '## ' heading", code="empty-step"
        )
    _check_slugs(steps, file, problems)
    if meta is None and not problems.errors:
        meta = FrontMatter()
    if meta is not None:
        _check_vars(meta, steps, file, problems)
    if problems.errors or meta is None:
        return None, problems
    runbook = Runbook(
        id=runbook_id,
        title=title,
        meta=meta,
        intro=intro,
        steps=steps,
        file=file,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    return runbook, problems


def load_runbook(path: str | Path) -> Runbook:
    """Read and parse a runbook file; raise ``SourceError`` naming every problem."""
    path = Path(path)
    problems = ProblemList()
    text = read_source(path, "runbook", problems)
    if text is None:
        raise SourceError(problems)
    runbook, problems = parse_runbook(text, path)
    if runbook is None:
        raise SourceError(problems)
    return runbook


def load_runbook_text(path: Path, problems: ProblemList | None = None) -> str | None:
    """A runbook file's text (undecodable bytes replaced), or ``None`` if it cannot be read
    (the reason is added to ``problems`` when given)."""
    return read_source(path, "runbook", problems if problems is not None else ProblemList())


def _front_matter(tokens: list[Token], file: str, problems: ProblemList) -> FrontMatter | None:
    token = next((t for t in tokens if t.type == "front_matter"), None)
    if token is None:
        return FrontMatter()
    doc = load_yaml(token.content, file, line_offset=1, problems=problems)
    if doc is None:
        return None
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        problems.add(
            file, 2, "front matter must be a YAML mapping (key: value lines)", code="front-matter"
        )
        return None
    try:
        return FrontMatter.model_validate(data)
    except ValidationError as exc:
        for problem in validation_problems(exc, file, doc.lines, data=data):
            problems.items.append(problem)
        return None


def _first_h1(tokens: list[Token]) -> str | None:
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1":
            return tokens[index + 1].content.strip()
    return None


def _intro_start(tokens: list[Token]) -> int:
    """The line after the front matter and the ``#`` title."""
    start = 0
    for token in tokens:
        if token.type == "front_matter" and token.map:
            start = token.map[1]
        if token.type == "heading_open" and token.tag == "h1" and token.map:
            start = max(start, token.map[1])
            break
        if token.type == "heading_open" and token.tag == "h2":
            break
    return start


def _block(
    fence: Token,
    file: str,
    step: int,
    index: int,
    problems: ProblemList,
    used_ids: dict[str, int],
    *,
    outside_step: bool = False,
) -> Block | None:
    """Parse one fenced block; ``None`` when it is documentation or has errors."""
    assert fence.map is not None
    fence_line = fence.map[0] + 1
    words = fence.info.split()
    lang = language_name(words[0].lower()) if words else ""
    kind = words[1].lower() if len(words) > 1 else ""
    option_lines, body_lines = _split_options(fence.content)
    if kind not in KINDS:
        if lang in format_names() and kind and len(words) == 2:
            close = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.add(
                file,
                fence_line,
                f"unknown block kind {kind!r}{hint}: write check or action after the language",
                code="unknown-kind",
            )
        elif option_lines:
            problems.add(
                file,
                fence_line,
                "this block has #| options but is not executable: "
                "write check or action after the language",
                severity=Severity.WARNING,
                code="unknown-kind",
            )
        return None
    if lang not in format_names():
        problems.add(
            file,
            fence_line,
            f"unknown block language {lang!r}: use one of "
            f"{', '.join((*format_names(), *alias_names()))}",
            code="unknown-kind",
        )
        return None
    if outside_step:
        problems.add(
            file,
            fence_line,
            "executable block before the first '## ' step: put it under a step heading",
            code="outside-step",
        )
        return None
    options = _options(option_lines, file, fence_line, problems)
    if options is None:
        return None
    if block_format(lang).shell_quoted:
        body_lines = _strip_prompts(body_lines, file, fence_line + 1 + len(option_lines), problems)
    body = "\n".join(body_lines).strip("\n")
    block_id = options.id or f"step{step}-{kind}{index}"
    if block_id in used_ids:
        problems.add(
            file,
            fence_line + _option_line(option_lines, "id"),
            f"duplicate block id {block_id!r} (first at line {used_ids[block_id]})",
            key="id",
            code="duplicate-id",
        )
    used_ids.setdefault(block_id, fence_line + _option_line(option_lines, "id"))
    _check_kind_options(lang, kind, options, body, option_lines, file, fence_line, problems)
    return Block(
        id=block_id,
        kind=kind,
        lang=lang,
        body=body,
        options=options,
        file=file,
        line=fence_line,
        body_line=fence_line + 1 + len(option_lines),
        step=step,
        option_lines={
            k: fence_line + _option_line(option_lines, k) for k in options.model_fields_set
        },
    )


def _split_options(content: str) -> tuple[list[str], list[str]]:
    lines = content.split("\n")
    options: list[str] = []
    for line in lines:
        match = _OPTION_LINE.match(line)
        if not match:
            break
        options.append(match.group(1))
    return options, lines[len(options) :]


def _strip_prompts(
    lines: list[str], file: str, first_line: int, problems: ProblemList
) -> list[str]:
    """``lines`` with a pasted prompt (``$ `` at the start of a line) removed, and a warning
    naming the first such line: the prompt is not part of the command (``$`` alone would run
    as a command called ``$``). Here-document bodies are data and are left alone."""
    data = heredoc_body_lines(lines)
    out = [line if n in data else _PROMPT.sub(r"\1", line, count=1) for n, line in enumerate(lines)]
    stripped = [n for n, (old, new) in enumerate(zip(lines, out, strict=True)) if old != new]
    if stripped:
        more = f" (and {len(stripped) - 1} more line(s))" if len(stripped) > 1 else ""
        problems.add(
            file,
            first_line + stripped[0],
            f"a '$ ' prompt was stripped from this line{more}: it is not part of the command; "
            "remove it from the runbook to silence this",
            severity=Severity.WARNING,
            code="prompt",
        )
    return out


def _option_line(option_lines: list[str], key: str) -> int:
    """1-based offset from the fence of the option ``key`` (the first option line if absent)."""
    for offset, line in enumerate(option_lines, start=1):
        if re.match(rf"^\s*{re.escape(key)}\s*:", line):
            return offset
    return 1


def _options(
    option_lines: list[str], file: str, fence_line: int, problems: ProblemList
) -> BlockOptions | None:
    if not option_lines:
        return BlockOptions()
    doc = load_yaml("\n".join(option_lines), file, line_offset=fence_line, problems=problems)
    if doc is None:
        return None
    data: Any = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        problems.add(file, fence_line + 1, "#| options must be 'key: value' lines", code="yaml")
        return None
    if not unknown_keys(doc, OPTION_KEYS, file, problems, what="option", suggest=True):
        return None
    try:
        return BlockOptions.model_validate(data)
    except ValidationError as exc:
        for problem in validation_problems(exc, file, doc.lines, data=data):
            problems.items.append(problem)
        return None


def _check_kind_options(
    lang: str,
    kind: str,
    options: BlockOptions,
    body: str,
    option_lines: list[str],
    file: str,
    fence_line: int,
    problems: ProblemList,
) -> None:
    def at(key: str) -> int:
        return fence_line + _option_line(option_lines, key)

    language = block_format(lang)
    if kind == "action" and language.action_refusal is not None:
        problems.add(
            file,
            fence_line,
            f"a {lang} block cannot be an action: {language.action_refusal}",
            code="unknown-kind",
        )
    if kind == "check" and options.confirm is not None:
        problems.add(
            file,
            at("confirm"),
            "confirm is for actions; checks run without asking",
            key="confirm",
            code="invalid",
        )
    if kind == "action" and options.use:
        problems.add(
            file,
            at("use"),
            "use runs a catalog check; an action cannot use one",
            key="use",
            code="invalid",
        )
    if kind == "action" and (options.within is not None or options.every is not None):
        key = "within" if options.within is not None else "every"
        problems.add(
            file,
            at(key),
            f"{key} re-runs a check until it passes; an action runs once (put a check with "
            f"{key} after it)",
            key=key,
            code="invalid",
        )
    if kind == "check" and (options.batch or options.canary):
        key = "batch" if options.batch else "canary"
        problems.add(
            file,
            at(key),
            f"{key} is for actions; checks run on all nodes at once",
            key=key,
            code="invalid",
        )
    if not language.runs_on_nodes and options.on:
        problems.add(
            file,
            at("on"),
            f"on does not apply to {lang} blocks: they run from the console",
            key="on",
            code="invalid",
            severity=Severity.WARNING,
        )
    if options.expect is not None:
        allowed = allowed_expect_keys(lang)
        for key in sorted(set(options.expect.keys_set()) - allowed):
            problems.add(
                file,
                at("expect"),
                f"expect.{key} does not apply to {lang} blocks (use {', '.join(sorted(allowed))})",
                key=f"expect.{key}",
                code="expect",
            )
    if not body.strip() and not options.use:
        problems.add(
            file,
            fence_line,
            "empty block: write the command (or use: a catalog check)",
            code="empty-block",
        )
    if body.strip():
        for problem in language.body_problems(kind, body):
            line = fence_line + 1 + len(option_lines) + problem.offset
            problems.add(file, line, problem.message, code=problem.code)


def _check_slugs(steps: list[Step], file: str, problems: ProblemList) -> None:
    seen: dict[str, int] = {}
    for step in steps:
        if step.slug in seen:
            problems.add(
                file,
                step.line,
                f"two steps have the same title slug {step.slug!r} "
                f"(also line {seen[step.slug]}); --step by name would be ambiguous",
                severity=Severity.WARNING,
                code="duplicate-id",
            )
        seen.setdefault(step.slug, step.line)


def _check_vars(meta: FrontMatter, steps: list[Step], file: str, problems: ProblemList) -> None:
    declared = set(meta.vars) | set(BUILTIN_VARS)
    for step in steps:
        for block in step.blocks:
            if block_format(block.lang).shell_quoted:
                for site in shell_sites(block.body):
                    if site.refused is not None:
                        problems.add(
                            file,
                            block.body_line + site.line,
                            f"block {block.id}: {site.message}",
                            key=site.name,
                            code="unsafe-var",
                        )
            texts = [(block.body, block.body_line)]
            if block.options.on:
                texts.append((block.options.on, block.line + 1))
            for text, first_line in texts:
                for use in variables_in(text):
                    line = first_line + use.line
                    if not use.valid:
                        problems.add(
                            file,
                            line,
                            f"bad variable {{{{{use.name}}}}}: a name is "
                            "letters, digits and _ (filters are not supported); for a "
                            f"literal '{{{{' (a Go template) write {LITERAL_BRACES}",
                            code="undefined-var",
                        )
                    elif use.name not in declared:
                        problems.add(
                            file,
                            line,
                            f"undefined variable {{{{{use.name}}}}}: declare"
                            f" it under vars: in the front matter (built-ins: "
                            f"{', '.join(BUILTIN_VARS)})",
                            key=use.name,
                            code="undefined-var",
                        )
    for name in meta.vars:
        if name in BUILTIN_VARS:
            problems.add(
                file,
                2,
                f"vars.{name} shadows the built-in {{{{{name}}}}}",
                key=f"vars.{name}",
                code="undefined-var",
            )
