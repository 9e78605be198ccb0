"""``incident-console import``: turn a plain Markdown runbook into the console's format.

A runbook kept in a wiki (or in the prometheus-operator runbooks) is Markdown with
```` ```shell ```` blocks, ``$ `` prompts, sample output and ``<placeholders>``. The importer
keeps the prose as written and adds what the console needs:

- front matter: ``id`` and ``title`` from the file and its ``#`` title, ``alerts:`` guessed from
  the title (its words that look like alert names: ``KubePodCrashLooping``, ``etcdNoLeader``),
  ``nodes: local`` (the commands run from the console's machine, as they did from a laptop);
- a ``## Steps`` heading when there is none, and a line under an empty ``##`` heading;
- shell blocks (``sh``, ``bash``, ``shell``, ``console``) after the first ``##`` become ``sh
  check`` when every command only reads (``read_only``), else ``sh action``; ``promql`` blocks
  become ``promql check``. Prompts are stripped, a terminal session's output moves to a
  ``text`` block under the command, ``{{`` (a Go template) is escaped and ``<name>`` becomes a
  ``{{name}}`` variable declared under ``vars:``.

What it could not decide (a command it does not know, a block before the first step) is
returned as warnings at the source's lines; the result is parsed again and its own problems are
returned too, so nothing is claimed to work that does not parse.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it.token import Token

from console.errors import ProblemList, Severity
from console.runbook.languages import language_name
from console.runbook.model import BUILTIN_VARS
from console.runbook.parse import markdown_parser, parse_runbook, slugify
from console.runbook.template import HEREDOC_START, LITERAL_BRACES, heredoc_body_lines

_SHELLS = ("sh", "bash")
_PROMPT = re.compile(r"^[ \t]*\$ ")
_PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_.-]*)>")
_ALERT_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*[a-z0-9][A-Z][A-Za-z0-9_]*$")
_WRITE_REDIRECT = re.compile(r"(?<![0-9&<])>>?(?!&)\s*(?!/dev/null\b)\S|(?<![<])\d>>?\s*(?![&/])\S")
_SEPARATORS = re.compile(r"\|\||&&|[|;\n]|(?<![<>&])&(?![<>&])")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


READ_ONLY_TOOLS = _words(
    "cat ls grep egrep zgrep head tail less more df du free uptime ps pgrep journalctl dmesg ss "
    "netstat dig nslookup host ping date echo printf wc sort uniq jq yq awk stat uname id whoami "
    "hostname lsblk lscpu lsof nproc top vmstat iostat mpstat sar findmnt getent test [ true "
    "which file diff cut tr column sleep timedatectl openssl curl"
)
"""Commands that only read (``curl`` only without a method or data that writes)."""

VERB_TOOLS = _words(
    "kubectl oc etcdctl systemctl service docker podman crictl helm redis-cli rabbitmqctl "
    "rabbitmq-diagnostics rabbitmq-queues patronictl consul nomad vault git ip amtool promtool "
    "pg_lsclusters pg_ctlcluster"
)
"""Commands whose subcommand says whether they read (``kubectl get``) or write."""

READ_VERBS = _words(
    "get describe logs top status show list ls inspect version explain cluster-info health "
    "hashkv info ping is-active is-enabled is-failed cat history query check diff dbsize "
    "slowlog latency lastsave role memory stats ps images events whoami api-resources "
    "auth can-i endpoints check-config config-check"
)
WRITE_VERBS = _words(
    "delete del rm remove restart stop start reload kill set put add apply create patch scale "
    "drain cordon uncordon defrag disarm compact promote edit label annotate replace rollout "
    "reset purge forget_cluster_node stop_app start_app enable disable mask unmask failover "
    "switchover reinit flushall flushdb shutdown move-leader update upgrade install uninstall "
    "rollback taint expire snapshot push commit"
)
UNDECIDED_VERBS = _words("exec run debug port-forward proxy eval script cp attach")
"""Subcommands that run something else: whether it reads cannot be told from here."""

NOTHING_HERE = "_Nothing was written under this heading in the imported runbook._"


@dataclass
class Imported:
    """The converted runbook, and what the importer wants a person to look at."""

    text: str
    problems: ProblemList = field(default_factory=ProblemList)
    alerts: list[str] = field(default_factory=list)


def read_only(command: str) -> tuple[bool | None, str]:
    """Whether a shell command only reads: ``True``, ``False`` (it writes), ``None`` (cannot
    tell); and the part of it that decided."""
    command = "\n".join(_without_heredoc_bodies(command.replace("\\\n", " ").split("\n")))
    if _WRITE_REDIRECT.search(command):
        return False, "a '>' redirection writes a file"
    decided: bool | None = True
    why = ""
    for part in _SEPARATORS.split(command):
        verdict, reason = _segment_reads(part.strip())
        if verdict is False:
            return False, reason
        if verdict is None:
            decided, why = None, reason
    return decided, why


def _without_heredoc_bodies(lines: list[str]) -> list[str]:
    """The lines that are commands: here-document bodies (data, up to their delimiter) left out."""
    data = heredoc_body_lines(lines)
    return [line for index, line in enumerate(lines) if index not in data]


def _segment_reads(segment: str) -> tuple[bool | None, str]:
    if not segment or segment.startswith("#"):
        return True, ""
    try:
        words = shlex.split(segment, comments=True)
    except ValueError:
        return None, f"cannot read {segment!r} as shell words"
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in _PREFIXES):
        words = words[3:] if words[0] == "sudo" and words[1:2] == ["-u"] else words[1:]
    if not words:
        return True, ""
    tool = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if tool == "curl":
        return _curl_reads(args, segment)
    if tool == "sed" and any(a.startswith("-i") or a == "--in-place" for a in args):
        return False, f"{segment!r} edits a file in place"
    if tool == "find" and any(a in ("-delete", "-exec", "-execdir", "-fprint") for a in args):
        return None, f"{segment!r} runs or deletes on what it finds"
    if tool == "psql":
        return _psql_reads(args, segment)
    if tool in READ_ONLY_TOOLS:
        return True, ""
    if tool in VERB_TOOLS:
        verbs = [a.lower() for a in args if not a.startswith("-")][:3]
        if any(v in WRITE_VERBS for v in verbs):
            return False, f"{segment!r} changes something"
        if any(v in UNDECIDED_VERBS for v in verbs):
            return None, f"{segment!r} runs another command"
        if any(v in READ_VERBS or v.startswith(("list", "get")) for v in verbs):
            return True, ""
        return None, f"{segment!r}: a {tool} subcommand the importer does not know"
    return None, f"{tool!r} is a command the importer does not know"


_PREFIXES = frozenset({"sudo", "env", "time", "nice", "ionice", "command"})


def _curl_reads(args: list[str], segment: str) -> tuple[bool | None, str]:
    for i, arg in enumerate(args):
        method = ""
        if arg in ("-X", "--request") and i + 1 < len(args):
            method = args[i + 1]
        elif arg.startswith("-X") and len(arg) > 2:
            method = arg[2:]
        if method and method.upper() not in ("GET", "HEAD"):
            return False, f"{segment!r} sends {method.upper()}"
        if arg in ("-d", "-F", "-T", "--form", "--upload-file", "--json") or arg.startswith(
            ("--data", "-d")
        ):
            return False, f"{segment!r} sends data"
        if arg in ("-o", "--output", "-O", "--remote-name"):
            return None, f"{segment!r} writes what it downloads to a file"
    return True, ""


def _psql_reads(args: list[str], segment: str) -> tuple[bool | None, str]:
    for i, arg in enumerate(args):
        if arg in ("-c", "--command") and i + 1 < len(args):
            sql = args[i + 1].strip().lower()
            if re.match(r"^(select|show|\\d)\b", sql) and ";" not in sql.rstrip(";"):
                return True, ""
    return None, f"{segment!r}: SQL the importer cannot classify"


def guess_alerts(title: str) -> list[str]:
    """The words of a title that look like Prometheus alert names (``etcdNoLeader``,
    ``KubePodCrashLooping``): one identifier with a lower-to-upper case change inside."""
    out: list[str] = []
    for word in re.split(r"[\s,/()\[\]:;`'\"]+", title):
        if _ALERT_WORD.match(word) and word not in out:
            out.append(word)
    return out


def import_runbook(text: str, file: str | Path) -> Imported:
    """Convert plain Markdown ``text`` (read from ``file``) into a runbook; problems the
    result itself still has are reported at the source line they come from."""
    file = str(file)
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    result = Imported("")
    problems = result.problems
    tokens = markdown_parser().parse(text)
    if any(t.type == "front_matter" for t in tokens):
        problems.add(
            file,
            1,
            "this file already has front matter, so it is a runbook: run 'incident-console "
            "lint' on it instead",
            code="import",
        )
        return result
    lines = text.split("\n")
    title_token = next((i for i, t in enumerate(tokens) if _is_heading(t, "h1")), None)
    title = tokens[title_token + 1].content.strip() if title_token is not None else ""
    title = title or Path(file).stem
    result.alerts = guess_alerts(title)
    if not result.alerts:
        problems.add(
            file,
            1,
            f"no alert name in the title {title!r}: list the alerts this runbook answers under "
            "alerts: in the front matter",
            severity=Severity.WARNING,
            code="import",
        )
    h2_spans = [(t.map[0], t.map[1] - 1) for t in tokens if _is_heading(t, "h2") and t.map]
    h2_lines = [start for start, _ in h2_spans]
    h2_ends = {last: start for start, last in h2_spans}
    first_step = h2_lines[0] if h2_lines else None
    variables: dict[str, str] = {}
    replaced: dict[int, list[str]] = {}  # first line of a fence -> its new lines
    spans: dict[int, int] = {}  # first line of a fence -> the line after it
    for token in tokens:
        if token.type != "fence" or not token.map:
            continue
        start, end = token.map
        new = _fence(token, lines, first_step, file, problems, variables)
        if new is not None:
            replaced[start] = new
            spans[start] = end
    out: list[tuple[str, int]] = []  # each line of the result, with its source line
    if title_token is None:
        out += [(f"# {title}", 1), ("", 1)]
        if first_step is None:
            out += [("## Steps", 1), ("", 1)]
    i = 0
    while i < len(lines):
        if i in replaced:
            out += [(line, i + 1) for line in replaced[i]]
            i = spans[i]
            continue
        out.append((lines[i], i + 1))
        if first_step is None and title_token is not None and _h1_line(tokens) == i:
            out += [("", i + 1), ("## Steps", i + 1)]
            problems.add(
                file,
                i + 1,
                "no '## ' heading: the runbook is one step, 'Steps' (add headings to split it)",
                severity=Severity.WARNING,
                code="import",
            )
        if i in h2_ends and _empty_section(i, h2_lines, lines):
            out += [("", i + 1), (NOTHING_HERE, i + 1)]
        i += 1
    while out and not out[-1][0]:
        out.pop()
    front = _front_matter(file, title, result.alerts, variables)
    result.text = front + "\n".join(line for line, _ in out) + "\n"
    origin = [1] * front.count("\n") + [source for _, source in out]
    _check(result, file, origin)
    return result


def _is_heading(token: Token, tag: str) -> bool:
    return token.type == "heading_open" and token.tag == tag


def _h1_line(tokens: list[Token]) -> int | None:
    token = next((t for t in tokens if _is_heading(t, "h1") and t.map), None)
    return token.map[1] - 1 if token is not None and token.map else None


def _empty_section(line: int, h2_lines: list[int], lines: list[str]) -> bool:
    later = [h for h in h2_lines if h > line]
    end = later[0] if later else len(lines)
    return not any(text.strip() for text in lines[line + 1 : end])


def _front_matter(file: str, title: str, alerts: list[str], variables: dict[str, str]) -> str:
    out = [
        "---",
        f"id: {slugify(Path(file).stem)}",
        f"title: {json.dumps(title)}",
        f"alerts: [{', '.join(alerts)}]",
        "nodes: local",
    ]
    if variables:
        out.append("vars:")
        out += [f"  {name}: {json.dumps(prompt)}" for name, prompt in variables.items()]
    return "\n".join([*out, "---", ""])


def _fence(
    token: Token,
    lines: list[str],
    first_step: int | None,
    file: str,
    problems: ProblemList,
    variables: dict[str, str],
) -> list[str] | None:
    """The new lines of a fence that becomes executable (``None``: keep it as written)."""
    assert token.map is not None
    start = token.map[0]
    words = token.info.split()
    if not words:
        return None
    lang = language_name(words[0].lower())
    if lang not in (*_SHELLS, "promql"):
        return None
    if len(words) > 1:
        return None  # already has a kind (or is a documentation block the parser will judge)
    if first_step is None or start < first_step:
        problems.add(
            file,
            start + 1,
            "a block before the first '## ' heading is left as documentation (blocks that run "
            "belong to a step)",
            severity=Severity.WARNING,
            code="import",
        )
        return None
    head = lines[start][: max(lines[start].find(token.markup), 0)]
    first = head
    pad = head if not head.strip() or head.lstrip().startswith(">") else " " * len(head)
    commands, output = _split_session(token.content.rstrip("\n").split("\n"))
    if not any(c.strip() for c in commands):
        return None
    if lang == "promql":
        kind = "check"
    else:
        script = _PLACEHOLDER.sub(r"\1", "\n".join(commands))  # <pod> is a word, not a redirect
        kind = _kind(script, file, start + 1, problems)
        commands = [_variables(_escape(c), variables) for c in commands]
    out = [f"{first}{token.markup}{lang} {kind}", *(pad + c for c in commands), pad + token.markup]
    if output:
        out += ["", f"{pad}{token.markup}text", *(pad + o for o in output), pad + token.markup]
    return out


def _split_session(body: list[str]) -> tuple[list[str], list[str]]:
    """A pasted terminal session's commands (prompts stripped, continuation lines kept) and the
    output lines between them; a block without prompts is all command."""
    if not any(_PROMPT.match(line) for line in body):
        return body, []
    commands: list[str] = []
    output: list[str] = []
    continued = False
    heredocs: list[str] = []  # delimiters of here-documents still open
    for line in body:
        if heredocs:
            commands.append(_PROMPT.sub("", line, count=1))
            if line.strip() == heredocs[0]:
                heredocs.pop(0)
            continue
        if _PROMPT.match(line):
            line = _PROMPT.sub("", line, count=1)
        elif not continued:
            output.append(line)
            continue
        commands.append(line)
        continued = line.rstrip().endswith("\\")
        heredocs = [m.group(2) for m in HEREDOC_START.finditer(line)]
    return commands, output


def _kind(script: str, file: str, line: int, problems: ProblemList) -> str:
    reads, why = read_only(script)
    if reads:
        return "check"
    if reads is None:
        problems.add(
            file,
            line,
            f"could not tell whether this block only reads ({why}): marked action, so it asks "
            "before it runs; make it 'sh check' if it only reads",
            severity=Severity.WARNING,
            code="import",
        )
    return "action"


def _escape(command: str) -> str:
    """A literal ``{{`` (a Go template such as ``{{range .items}}``) kept literal."""
    return command.replace("{{", LITERAL_BRACES)


def _variables(command: str, variables: dict[str, str]) -> str:
    """``<pod-name>`` placeholders become ``{{pod_name}}`` variables (declared, with a prompt)."""

    def replace(match: re.Match[str]) -> str:
        name = re.sub(r"[^A-Za-z0-9_]", "_", match.group(1)).lower()
        name = f"{name}_name" if name in BUILTIN_VARS else name
        variables.setdefault(name, f"Value for <{match.group(1)}>")
        return "{{" + name + "}}"

    return _PLACEHOLDER.sub(replace, command)


def _check(result: Imported, file: str, origin: list[int]) -> None:
    """Parse the result: whatever the parser still finds is reported at the source line it
    came from (``origin`` maps each result line to one)."""
    _, problems = parse_runbook(result.text, file)
    for problem in problems.items:
        if problem.code == "prompt":
            continue  # prompts were moved out already; a '$ ' left is inside a here-document
        line = origin[min(problem.line, len(origin)) - 1] if origin else 1
        result.problems.add(
            file,
            line,
            f"after import, line {problem.line}: {problem.message}",
            key=problem.key,
            severity=problem.severity,
            code=problem.code,
        )
