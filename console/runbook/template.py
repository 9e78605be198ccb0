"""``{{name}}`` variables in runbook text: finding them and substituting them.

The Ansible/Jinja spelling keeps the shell's own ``$VAR`` and ``${VAR}`` untouched. A literal
``{{`` is written as Jinja writes it, ``{{ '{{' }}`` (or ``{{ "{{" }}``): a Go template
``{{range .items}}`` in a ``kubectl -o go-template`` is ``{{ '{{' }}range .items}}``. In shell
blocks the text is read the way ``sh`` reads it (``shell_sites``) and each value is quoted for
the place it stands: bare, inside ``"..."`` or inside ``'...'``. Where no quoting can keep a
value literal (a comment, a here-document, backticks, ``${...}``, arithmetic, right after ``$``
or ``\\``, the word after ``>&``) the variable is refused, so a value can never become code.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import lru_cache

_VAR = re.compile(r"\{\{\s*(?:'\{\{'|\"\{\{\")\s*\}\}|\{\{\s*([^{}]*?)\s*\}\}")
"""A ``{{name}}`` (group 1 is the name) or the escape of a literal ``{{`` (group 1 is None)."""
LITERAL_BRACES = "{{ '{{' }}"
"""How a literal ``{{`` is written in runbook text."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class VarUse:
    """One ``{{...}}`` occurrence: the name, its 0-based line within the text, and validity."""

    name: str
    line: int
    valid: bool


def variables_in(text: str) -> list[VarUse]:
    """Every ``{{...}}`` in ``text``, in order (names that are not identifiers are invalid)."""
    out: list[VarUse] = []
    for match in _VAR.finditer(text):
        name = match.group(1)
        if name is None:
            continue
        line = text.count("\n", 0, match.start())
        out.append(VarUse(name, line, bool(_NAME.match(name))))
    return out


class MissingVariable(KeyError):
    """A ``{{name}}`` with no value."""


# -- shell blocks ----------------------------------------------------------------------------

# Why a value cannot be made literal in each refused place, and what to write instead.
REFUSED = {
    "comment": "is in a comment, where a line break in the value would end the comment and "
    "run the rest: move it out of the comment",
    "heredoc": "is in a here-document, where a value line equal to the delimiter would end it "
    "and run the rest: pass the value as an argument instead (printf '%s\\n' {{NAME}} | cmd)",
    "heredoc-word": "is a here-document delimiter: write the delimiter literally",
    "backticks": "is inside `...`, where quotes nest differently: write $(...) instead",
    "brace": "is inside ${...}, where a value is read as shell syntax: assign it first "
    '(v={{NAME}}) and write "${v...}"',
    "arith": "is inside arithmetic ($((...)), $[...] or ((...))), where a value is evaluated as "
    "code: assign it first (n={{NAME}}) and write $((n ...))",
    "test-arith": "is an operand of -eq/-ne/-lt/-le/-gt/-ge inside [[ ... ]], which bash "
    "evaluates as arithmetic code even when quoted: use [ ... ] (test) instead",
    "ansi": "is inside $'...', where backslashes in a value are escapes: use '...' instead",
    "dollar": "directly follows '$', so the value would name a parameter: remove the '$' "
    "(the value is inserted as text)",
    "backslash": "directly follows '\\', which would escape the quoting: remove the backslash",
    "fd": "is the word after '>&' or '<&', where a value could name a file descriptor or "
    "close one: write the descriptor literally",
}

# Commands that read their arguments as code again: quoting cannot protect a value there.
_REPARSE = re.compile(
    r"(?<![\w.\-])(?:(eval|ssh|xargs|watch|let|trap|parallel|unset)(?![\w.\-])"
    r"|(sh|bash|dash|zsh|ksh|su)\s+(?:[^\s;&|]+\s+)*?-[A-Za-z]*c(?![\w.\-])"
    r"|(declare|typeset|local)\s+(?:[^\s;&|]+\s+)*?-[A-Za-z]*i(?![\w.\-]))"
)
_TEST_ARITH = re.compile(r"\s-(?:eq|ne|lt|le|gt|ge)\s")
_WORD_END = " \t\n;&|()<>"


@dataclass(frozen=True)
class ShellSite:
    """One ``{{name}}`` in a shell block and how it can be quoted there.

    ``context`` is ``bare``, ``double`` or ``single`` when a quoted value stays literal, else a
    key of ``REFUSED``; ``reparsed_by`` names a command on the same line that re-reads the value
    as code (``eval``, ``sh -c``, ``ssh`` ...), if any.
    """

    name: str
    start: int
    end: int
    line: int  # 0-based, within the text
    context: str
    reparsed_by: str | None = None

    @property
    def refused(self) -> str | None:
        """Why no quoting keeps a value literal here (``None`` when it can be quoted)."""
        reason = REFUSED.get(self.context)
        return None if reason is None else reason.replace("NAME", self.name)

    @property
    def message(self) -> str:
        """``{{name}} <why it is refused>``, for errors."""
        return f"{{{{{self.name}}}}} {self.refused}"


class UnsafeVariable(ValueError):
    """A ``{{name}}`` whose value cannot be inserted as data where it stands."""

    def __init__(self, name: str, line: int, message: str, context: str = "") -> None:
        super().__init__(message)
        self.name = name
        self.line = line  # 0-based, within the text
        self.context = context


@dataclass
class _Frame:
    kind: str  # cmd | dq | sq | ansi | bt | brace | arith | comment | heredoc
    depth: int = 0  # cmd: open '('; brace: open '{'; arith: open '('
    cmd_start: int = 0  # cmd: where the current simple command began
    closes: bool = False  # cmd: opened by $( and closed by ')'
    cases: int = 0  # cmd: open case...esac, whose pattern ')' does not close $(
    quote: str = ""  # brace: the quote being skipped; arith: "[" for $[...]
    word: str = ""  # heredoc: the delimiter
    strip_tabs: bool = False  # heredoc: <<- form


HEREDOC_START = re.compile(r"(?<!<)<<(?!<)-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
"""``<<WORD``, ``<<-WORD``, ``<<'WORD'``: a here-document opens (group 2 is its delimiter)."""


def heredoc_body_lines(lines: list[str]) -> set[int]:
    """Indexes of ``lines`` that are here-document bodies or their closing delimiter: data
    for a command, not commands (a line-based reading, enough for pasted scripts)."""
    out: set[int] = set()
    pending: list[str] = []
    for index, line in enumerate(lines):
        if pending:
            out.add(index)
            if line.strip() == pending[0]:
                pending.pop(0)
            continue
        pending = [m.group(2) for m in HEREDOC_START.finditer(line)]
    return out


@lru_cache(maxsize=512)
def shell_sites(text: str) -> tuple[ShellSite, ...]:
    """Every ``{{name}}`` in shell ``text`` with its quoting context; never raises."""
    return tuple(_ShellLexer(text).run())


class _ShellLexer:
    """A small reader of POSIX ``sh`` quoting: just enough to place each ``{{name}}``."""

    def __init__(self, text: str) -> None:
        self.text = text
        tokens = list(_VAR.finditer(text))
        self.vars = {m.start(): m for m in tokens if m.group(1) is not None}
        self.escapes = {m.start(): m.end() for m in tokens if m.group(1) is None}
        self.stack = [_Frame("cmd")]
        self.pending: list[tuple[str, bool]] = []  # here-documents waiting for their body
        self.sites: list[ShellSite] = []
        self.i = 0

    def run(self) -> list[ShellSite]:
        text, n = self.text, len(self.text)
        while self.i < n:
            top = self.stack[-1]
            at_line_start = self.i == 0 or text[self.i - 1] == "\n"
            if top.kind == "heredoc" and at_line_start and self._heredoc_ends(top):
                continue
            match = self.vars.get(self.i)
            if match is not None:
                self._site(match, self._context())
                continue
            if self.i in self.escapes:  # a literal "{{": two plain characters to sh
                self.i = self.escapes[self.i]
                continue
            getattr(self, "_" + top.kind)(text[self.i])
        return self.sites

    # -- helpers -----------------------------------------------------------------------

    def _context(self) -> str:
        kind = self.stack[-1].kind
        return {"cmd": "bare", "dq": "double", "sq": "single", "bt": "backticks"}.get(kind, kind)

    def _site(self, match: re.Match[str], context: str) -> None:
        reparsed = None
        if context in ("bare", "double", "single"):
            for frame in self.stack:
                if frame.kind == "cmd":
                    found = _REPARSE.search(self.text, frame.cmd_start, match.start())
                    if found:
                        reparsed = found.group(1) or (
                            f"{found.group(2)} -c" if found.group(2) else f"{found.group(3)} -i"
                        )
            if self._in_test_arithmetic(match):
                context = "test-arith"
        line = self.text.count("\n", 0, match.start())
        self.sites.append(
            ShellSite(match.group(1), match.start(), match.end(), line, context, reparsed)
        )
        self.i = match.end()

    def _in_test_arithmetic(self, match: re.Match[str]) -> bool:
        """Whether the variable is in a ``[[ ... ]]`` (on its line) that compares numbers."""
        text = self.text
        line_start = text.rfind("\n", 0, match.start()) + 1
        opened = text.rfind("[[", line_start, match.start())
        if opened < 0 or text.find("]]", opened, match.start()) >= 0:
            return False
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end < 0 else line_end
        closed = text.find("]]", match.end(), line_end)
        return _TEST_ARITH.search(text, opened, line_end if closed < 0 else closed) is not None

    def _peek(self, offset: int = 1) -> str:
        j = self.i + offset
        return self.text[j] if j < len(self.text) else ""

    def _refuse_next(self, offset: int, context: str) -> bool:
        """Record the variable at ``i + offset`` (if any) as refused for ``context``."""
        match = self.vars.get(self.i + offset)
        if match is None:
            return False
        self._site(match, context)
        return True

    def _backslash(self) -> None:
        if not self._refuse_next(1, "backslash"):
            self.i += 2

    def _dollar(self, in_quotes: bool) -> None:
        text = self.text
        if self._refuse_next(1, "dollar"):
            return
        nxt = self._peek()
        if text.startswith("$((", self.i):
            self.stack.append(_Frame("arith", depth=2))
            self.i += 3
        elif nxt == "(":
            self.stack.append(_Frame("cmd", cmd_start=self.i + 2, closes=True))
            self.i += 2
        elif nxt == "{":
            self.stack.append(_Frame("brace", depth=1))
            self.i += 2
        elif nxt == "[":
            self.stack.append(_Frame("arith", depth=1, quote="["))
            self.i += 2
        elif nxt == "'" and not in_quotes:
            self.stack.append(_Frame("ansi"))
            self.i += 2
        elif nxt == '"' and not in_quotes:
            self.stack.append(_Frame("dq"))
            self.i += 2
        elif nxt and nxt in "#?$!@*-0123456789":
            self.i += 2
        else:
            self.i += 1

    def _keyword(self, word: str) -> bool:
        """Step over ``word`` if it is the first word of a command here."""
        text, i, end = self.text, self.i, self.i + len(word)
        if not text.startswith(word, i) or text[self.stack[-1].cmd_start : i].strip():
            return False
        if end < len(text) and text[end] not in _WORD_END:
            return False
        self.i = end
        return True

    def _heredoc_ends(self, frame: _Frame) -> bool:
        """At a line start in a here-document: pop it if this line is its delimiter."""
        end = self.text.find("\n", self.i)
        end = len(self.text) if end < 0 else end
        line = self.text[self.i : end]
        if frame.strip_tabs:
            line = line.lstrip("\t")
        if line != frame.word:
            return False
        self.stack.pop()
        self.i = end + 1
        self._next_heredoc()
        return True

    def _next_heredoc(self) -> None:
        if self.pending:
            word, strip = self.pending.pop(0)
            self.stack.append(_Frame("heredoc", word=word, strip_tabs=strip))

    def _heredoc_word(self) -> None:
        """After ``<<`` or ``<<-``: read the delimiter word and queue the body."""
        text, n = self.text, len(self.text)
        strip = self._peek(2) == "-"
        j = self.i + (3 if strip else 2)
        while j < n and text[j] in " \t":
            j += 1
        start = j
        quote = ""
        while j < n:
            c = text[j]
            if quote:
                quote = "" if c == quote else quote
            elif c in "'\"":
                quote = c
            elif c == "\\":
                j += 1
            elif c in _WORD_END:
                break
            j += 1
        for position in range(start, min(j, n)):
            match = self.vars.get(position)
            if match is not None:
                line = self.text.count("\n", 0, position)
                self.sites.append(
                    ShellSite(match.group(1), match.start(), match.end(), line, "heredoc-word")
                )
        word = re.sub(r"[\"'\\]", "", text[start:j])
        self.pending.append((word, strip))
        self.i = max(j, self.i + 2)

    # -- one method per frame kind: consume text at ``i`` ------------------------------------

    def _cmd(self, c: str) -> None:
        frame = self.stack[-1]
        text = self.text
        if c == "\\":
            self._backslash()
        elif c == "'":
            self.stack.append(_Frame("sq"))
            self.i += 1
        elif c == '"':
            self.stack.append(_Frame("dq"))
            self.i += 1
        elif c == "`":
            self.stack.append(_Frame("bt"))
            self.i += 1
        elif c == "$":
            self._dollar(in_quotes=False)
        elif c == "#" and (self.i == 0 or text[self.i - 1] in _WORD_END):
            self.stack.append(_Frame("comment"))
            self.i += 1
        elif c == "\n":
            frame.cmd_start = self.i + 1
            self.i += 1
            self._next_heredoc()
        elif c in "<>" and self._peek() == "&":
            self.i += 2
            while self._peek(0) in (" ", "\t"):
                self.i += 1
            self._refuse_next(0, "fd")
        elif text.startswith("<<<", self.i):
            self.i += 3
        elif text.startswith("<<", self.i):
            self._heredoc_word()
        elif c == "(" and self._peek() == "(" and (self.i == 0 or text[self.i - 1] in _WORD_END):
            self.stack.append(_Frame("arith", depth=2))
            self.i += 2
        elif c == "(":
            frame.depth += 1
            frame.cmd_start = self.i + 1
            self.i += 1
        elif c == ")":
            if frame.depth > 0:
                frame.depth -= 1
            elif frame.closes and frame.cases <= 0:
                self.stack.pop()
            self.i += 1
        elif self._keyword("case"):
            frame.cases += 1
        elif self._keyword("esac"):
            frame.cases -= 1
        else:
            if c in ";&|{":
                frame.cmd_start = self.i + 1
            self.i += 1

    def _dq(self, c: str) -> None:
        if c == "\\":
            self._backslash()
        elif c == '"':
            self.stack.pop()
            self.i += 1
        elif c == "`":
            self.stack.append(_Frame("bt"))
            self.i += 1
        elif c == "$":
            self._dollar(in_quotes=True)
        else:
            self.i += 1

    def _sq(self, c: str) -> None:
        if c == "'":
            self.stack.pop()
        self.i += 1

    def _escaped(self) -> None:
        """Step over a backslash and the character it escapes, unless a variable starts there:
        that variable is still placed (and, in these contexts, refused), never skipped."""
        self.i += 1 if self.i + 1 in self.vars else 2

    def _ansi(self, c: str) -> None:
        if c == "\\":
            self._escaped()
            return
        if c == "'":
            self.stack.pop()
        self.i += 1

    def _bt(self, c: str) -> None:
        if c == "\\":
            self._escaped()
            return
        if c == "`":
            self.stack.pop()
        self.i += 1

    def _brace(self, c: str) -> None:
        frame = self.stack[-1]
        if frame.quote:
            if c == frame.quote:
                frame.quote = ""
        elif c == "\\":
            self._escaped()
            return
        elif c in "'\"":
            frame.quote = c
        elif c == "{":
            frame.depth += 1
        elif c == "}":
            frame.depth -= 1
            if frame.depth == 0:
                self.stack.pop()
        self.i += 1

    def _arith(self, c: str) -> None:
        frame = self.stack[-1]
        opener, closer = ("[", "]") if frame.quote == "[" else ("(", ")")
        if c == opener:
            frame.depth += 1
        elif c == closer:
            frame.depth -= 1
            if frame.depth <= 0:
                self.stack.pop()
        self.i += 1

    def _comment(self, c: str) -> None:
        if c == "\n":
            self.stack.pop()  # the newline itself is read by the command around the comment
        else:
            self.i += 1

    def _heredoc(self, c: str) -> None:
        self.i += 1


def quote_for(context: str, value: str) -> str:
    """``value`` quoted so it stays literal text at a ``bare``/``double``/``single`` site."""
    if context == "double":
        return re.sub(r'([\\"$`])', r"\\\1", value)
    if context == "single":
        return value.replace("'", "'\\''")
    return shlex.quote(value)


def render(text: str, values: dict[str, str], *, shell: bool) -> str:
    """Substitute ``{{name}}`` with ``values[name]``; quote for the shell when ``shell``.

    In shell text a variable where no quoting helps raises ``UnsafeVariable``.
    """
    if not shell:

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "{{"
            if name not in values:
                raise MissingVariable(name)
            return str(values[name])

        return _VAR.sub(replace, text)
    out: list[str] = []
    done = 0
    for site in shell_sites(text):
        if site.refused is not None:
            raise UnsafeVariable(site.name, site.line, site.message, site.context)
        if site.name not in values:
            raise MissingVariable(site.name)
        out.append(unescape(text[done : site.start]))
        out.append(quote_for(site.context, str(values[site.name])))
        done = site.end
    out.append(unescape(text[done:]))
    return "".join(out)


def unescape(text: str) -> str:
    """``text`` (holding no ``{{name}}``) with each escaped ``{{`` written as ``{{``."""
    return _VAR.sub(lambda m: "{{" if m.group(1) is None else m.group(0), text)


# -- promql blocks -----------------------------------------------------------------------------

_PROMQL_BARE = re.compile(r"-?[A-Za-z0-9_:.]+")


def render_promql(text: str, values: dict[str, str]) -> str:
    """Substitute ``{{name}}`` in a PromQL query so a value stays one token or string.

    Inside ``"..."`` or ``'...'`` a value is escaped as a PromQL string; inside a raw backtick
    string it may not hold a backtick; elsewhere it must be one number, name or duration.
    Raises ``UnsafeVariable`` or ``MissingVariable``.
    """
    out: list[str] = []
    matches = {m.start(): m for m in _VAR.finditer(text)}
    quote = ""
    i = 0
    while i < len(text):
        match = matches.get(i)
        if match is not None:
            name = match.group(1)
            if name is None:
                out.append("{{")
                i = match.end()
                continue
            if name not in values:
                raise MissingVariable(name)
            out.append(_promql_value(name, str(values[name]), quote, text.count("\n", 0, i)))
            i = match.end()
            continue
        c = text[i]
        if quote and c == "\\" and quote != "`":
            out.append(text[i : i + 2])
            i += 2
            continue
        if quote and c == quote:
            quote = ""
        elif not quote and c in "\"'`":
            quote = c
        elif not quote and c == "#":  # a comment runs to the end of the line
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            for position in range(i, end):
                if position in matches and matches[position].group(1) is not None:
                    name = matches[position].group(1)
                    line = text.count("\n", 0, position)
                    raise UnsafeVariable(
                        name, line, f"{{{{{name}}}}} is in a PromQL comment: move it out"
                    )
            out.append(unescape(text[i:end]))
            i = end
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _promql_value(name: str, value: str, quote: str, line: int) -> str:
    if quote in ('"', "'"):
        escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
        return escaped.replace("\n", "\\n").replace("\r", "\\r")
    if quote == "`":
        if "`" in value:
            raise UnsafeVariable(
                name,
                line,
                f"{{{{{name}}}}} = {value!r} holds a backtick, which would end "
                'the raw string it stands in: use a "..." string instead',
            )
        return value
    if not _PROMQL_BARE.fullmatch(value):
        raise UnsafeVariable(
            name,
            line,
            f"{{{{{name}}}}} = {value!r} is not one number, name or duration, "
            "so it would change the query: put {{" + name + '}} inside "..." or constrain '
            "it with pattern:",
        )
    return value
