"""Every parser and reader run over a corpus of hostile files (issue 8, "hostile input").

``tests/security/corpus/<kind>/`` holds small hostile runbooks, configs, inventories, ssh
configs, drill scenarios, incident-log descriptions and node outputs; a few big inputs are made
here at run time so nothing big is committed. Each file goes through every command that reads
its kind, and each command must:

- finish within ``TIMEOUT_S`` under a ``MEMORY_LIMIT`` address-space limit;
- exit 0, 1 or 2, never with a traceback;
- print no raw control characters (C0 but newline and tab, C1, bidi controls) and only UTF-8,
  on stdout, stderr or in a Markdown/HTML export;
- when it refuses the file (exit 2, or problems reported by lint, config check, verify), name
  the file with a line number (``name:LINE``).

The assertions are generic on purpose: they hold whatever the wording of the messages.

Starting Python costs a second of CPU, and there are about 200 file x command pairs, so one
driver process imports the console once and forks a fresh child per command (``os.fork`` gives
the same process a ``python -m console ...`` run would be, minus the import). Each child leads
its own process group, gets the memory limit, has stdin on /dev/null and stdout/stderr in files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.journal.chain import GENESIS, canonical_json, event_hash

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "corpus"
SCENARIO = REPO / "console" / "data" / "scenarios" / "etcd-member-down.yaml"
MEMORY_LIMIT = 3 << 29  # 1.5 GiB of address space per command
TIMEOUT_S = 60.0
WORKERS = 2

# The run is quick (under a minute) once the console refuses alias bombs early; on a console
# that expands them, each takes up to TIMEOUT_S to hit the memory limit. Room for that, bounded.
pytestmark = pytest.mark.timeout(900)

# Passwords planted in the corpus (URLs, runbooks): no command may ever print them.
PLANTED_SECRETS = ("hunter2", "s3cret")

# C0 but newline and tab (ESC included), C1, and the bidi controls.
RAW_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)

# ---------------------------------------------------------------------------------------------
# Inputs the commands need besides the hostile file
# ---------------------------------------------------------------------------------------------

BASE_CONFIG = "profile: dev\njournal: {fsync: never}\n"

GOOD_RUNBOOK = """---
id: good
title: good
---
# good

## 1. look

```sh check
#| id: look
#| on: role=etcd
etcdctl endpoint health
```
"""

ALL_NODES_RUNBOOK = GOOD_RUNBOOK.replace("role=etcd", "all").replace(
    "etcdctl endpoint health", "true"
)


def output_runbook(name: str) -> str:
    """A runbook whose one local check prints the hostile node output ``name``."""
    return GOOD_RUNBOOK.replace("role=etcd", "local").replace(
        "etcdctl endpoint health", f"cat ./{name}"
    )


# ---------------------------------------------------------------------------------------------
# Big inputs, made at run time (never committed)
# ---------------------------------------------------------------------------------------------


def _ten_thousand_steps() -> bytes:
    steps = []
    for n in range(1, 10_001):
        block = (
            f"\n```sh check\n#| id: c{n}\n#| on: name=m1\netcdctl endpoint health\n```\n"
            if n % 100 == 0
            else ""
        )
        steps.append(f"## {n}. step {n}\n\nRead this.\n{block}")
    return ("---\nid: many\ntitle: many\n---\n# many\n\n" + "\n".join(steps)).encode()


def _unclosed_braces() -> bytes:
    body = "echo " + "{{" * 20_000 + " {{v" * 5_000
    return (
        "---\nid: braces\ntitle: braces\nvars: {v: {default: x}}\n---\n# braces\n\n"
        f"## 1. look\n\n```sh check\n#| id: look\n#| on: role=etcd\n{body}\n```\n"
    ).encode()


def _five_mb_no_newline() -> bytes:
    chunk = b"A" * 1000 + b"\x1b[2J\x1b]52;c;aGk=\x07\r\xe2\x80\xae"
    return chunk * (5_000_000 // len(chunk) + 1)


GENERATED: dict[str, Callable[[], bytes]] = {
    "runbooks/ten-thousand-steps.md": _ten_thousand_steps,
    "runbooks/unclosed-braces.md": _unclosed_braces,
    "outputs/five-mb-no-newline.txt": _five_mb_no_newline,
}

# ---------------------------------------------------------------------------------------------
# Hostile logs: built from descriptions with the project's own chain helpers
# ---------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<<(nest|digits|repeat) (?:(\S) )?(\d+)>>")


def _expand(value: Any) -> Any:
    """Replace the ``<<nest N>>``, ``<<digits N>>`` and ``<<repeat C N>>`` placeholders."""
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, str) and (match := _PLACEHOLDER.fullmatch(value)):
        what, char, count = match.group(1), match.group(2), int(match.group(3))
        if what == "repeat":
            return (char or "A") * count
        if what == "digits":
            return 10**count - 1
        nested: list[Any] = []
        for _ in range(count):
            nested = [nested]
        return nested
    return value


def _dump(record: dict[str, Any]) -> bytes:
    """Canonical JSON of a record, where deep nesting and huge integers are allowed."""
    limit = sys.getrecursionlimit()
    digits = sys.get_int_max_str_digits()
    sys.setrecursionlimit(max(limit, 50_000))
    sys.set_int_max_str_digits(0)
    try:
        return canonical_json(record)
    finally:
        sys.setrecursionlimit(limit)
        sys.set_int_max_str_digits(digits)


def build_log(description: Path, out: Path) -> None:
    """Write the incident log a corpus description asks for, its events hash-chained."""
    spec = yaml.safe_load(description.read_text(encoding="utf-8")) or {}
    opened = {"title": "hostile", "profile": "dev", "chain": "sha256", "redact_rules": []}
    opened.update(spec.get("opened") or {})
    entries = [{"type": "incident.opened", "data": opened}, *(spec.get("events") or [])]
    prev, lines, mono = GENESIS, [], 1000.0
    for seq, entry in enumerate(entries):
        if "raw" in entry:
            lines.append(entry["raw"].encode("utf-8", "surrogatepass"))
            continue
        if "raw_latin1" in entry:
            lines.append(entry["raw_latin1"].encode("latin-1"))
            continue
        mono += 1.0
        record: dict[str, Any] = {
            "v": 1,
            "seq": seq,
            "ts": f"2026-11-22T10:{seq // 60 % 60:02d}:{seq % 60:02d}.000000Z",
            "mono": mono,
            "type": entry["type"],
            "incident": "INC-20261122T100000Z-hostile",
            "actor": spec.get("actor", "tester@127.0.0.1"),
            "mode": "live",
            "data": _expand(entry.get("data")),
            "prev": prev,
        }
        record.update({k: _expand(v) for k, v in entry.items() if k not in ("type", "data")})
        record["hash"] = event_hash_unbounded(record)
        lines.append(_dump(record))
        prev = record["hash"]
    tail = spec.get("tail", "")
    out.write_bytes(b"\n".join(lines) + b"\n" + tail.encode("utf-8", "surrogatepass"))


def event_hash_unbounded(record: dict[str, Any]) -> str:
    """``event_hash`` with the recursion and integer-length limits lifted while it runs."""
    limit = sys.getrecursionlimit()
    digits = sys.get_int_max_str_digits()
    sys.setrecursionlimit(max(limit, 50_000))
    sys.set_int_max_str_digits(0)
    try:
        return event_hash(record)
    finally:
        sys.setrecursionlimit(limit)
        sys.set_int_max_str_digits(digits)


# ---------------------------------------------------------------------------------------------
# Which commands read which kind of file
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One console command over a corpus file.

    ``argv`` may use ``{file}`` (the hostile file), ``{cfg}`` (the config written beside it),
    ``{rb}`` (a runbook), ``{journal}`` (a fresh folder), ``{log}`` (the log to read: the
    built one, or the one an earlier command wrote into ``{journal}``), ``{scenario}``, ``{out}``.
    ``names`` is the placeholder of the file a refusal must name.
    """

    name: str
    argv: tuple[str, ...]
    names: str = "{file}"
    findings: bool = False  # exit 1 means problems were reported (lint, config check, verify)
    export: str | None = None  # the format, when the command writes an export


RUN_CHECKS = ("--only", "checks", "--config", "{cfg}", "--journal", "{journal}")
SIMULATED = ("--scenario", "{scenario}", "--speed", "1000")

COMMANDS: dict[str, list[Command]] = {
    "runbooks": [
        Command("lint", ("lint", "{file}", "--config", "{cfg}"), findings=True),
        Command("run", ("run", "{file}", *RUN_CHECKS, *SIMULATED)),
        Command("import", ("import", "{file}"), findings=True),
    ],
    "configs": [
        Command("config-check", ("config", "check", "--config", "{file}"), findings=True),
        Command("lint", ("lint", "{rb}", "--config", "{file}"), findings=True),
    ],
    "inventories": [
        Command("config-check", ("config", "check", "--config", "{cfg}"), findings=True),
    ],
    "ssh_configs": [
        Command("config-check", ("config", "check", "--config", "{cfg}"), findings=True),
        Command("run", ("run", "{rb}", *RUN_CHECKS)),
    ],
    "scenarios": [
        Command("run", ("run", "{rb}", *RUN_CHECKS, "--scenario", "{file}", "--speed", "1000")),
    ],
    "logs": [
        Command("verify", ("verify", "{log}"), names="{log}", findings=True),
        Command("timeline", ("timeline", "{log}"), names="{log}"),
        *(
            Command(
                f"export-{fmt}", ("export", "{log}", "--format", fmt), names="{log}", export=fmt
            )
            for fmt in ("md", "html")
        ),
        Command(
            "export-json",
            ("export", "{log}", "--format", "json", "-o", "{out}"),
            names="{log}",
            export="json",
        ),
    ],
    "outputs": [
        Command("run", ("run", "{rb}", *RUN_CHECKS), names="{rb}"),
        Command("timeline", ("timeline", "{log}"), names="{log}"),
        *(
            Command(
                f"export-{fmt}", ("export", "{log}", "--format", fmt), names="{log}", export=fmt
            )
            for fmt in ("md", "html")
        ),
    ],
}

KIND_SUFFIXES = {
    "runbooks": (".md",),
    "configs": (".yaml",),
    "inventories": (".ini", ".yaml"),
    "ssh_configs": (".conf",),
    "scenarios": (".yaml",),
    "logs": (".yaml", ".jsonl"),
    "outputs": (".txt",),
}


def corpus_files() -> list[str]:
    """``kind/name`` of every corpus file, committed or generated."""
    names = set(GENERATED)
    for kind, suffixes in KIND_SUFFIXES.items():
        names.update(f"{kind}/{p.name}" for p in (CORPUS / kind).iterdir() if p.suffix in suffixes)
    return sorted(names)


CASES = [(item, command) for item in corpus_files() for command in COMMANDS[item.split("/")[0]]]


def case_id(item: str, command: Command) -> str:
    return f"{item}:{command.name}"


# ---------------------------------------------------------------------------------------------
# Materialising one corpus file in its own folder
# ---------------------------------------------------------------------------------------------


def materialise(item: str, root: Path) -> dict[str, str]:
    """Copy or build ``item`` into its own folder under ``root``; return the placeholders."""
    kind, name = item.split("/")
    work = root / item.replace("/", "__")
    work.mkdir(parents=True)
    (work / "home").mkdir()
    hostile = work / name
    if item in GENERATED:
        hostile.write_bytes(GENERATED[item]())
    else:
        shutil.copyfile(CORPUS / item, hostile)
    cfg = work / "console.yaml"
    cfg.write_text(BASE_CONFIG)
    rb = work / "good.md"
    rb.write_text(GOOD_RUNBOOK)
    places = {
        "{file}": str(hostile),
        "{cfg}": str(cfg),
        "{rb}": str(rb),
        "{journal}": str(work / "journal"),
        "{scenario}": str(SCENARIO),
        "{out}": str(work / "export.json"),
        "{log}": str(work / "journal" / "*.jsonl"),
    }
    if kind == "inventories":
        cfg.write_text(BASE_CONFIG + f"inventory: {json.dumps(str(hostile))}\n")
    elif kind == "ssh_configs":
        cfg.write_text(
            BASE_CONFIG
            + "nodes: [{name: m1, host: loopa}]\n"
            + f"ssh: {{config: {json.dumps(str(hostile))}, "
            + f"known_hosts: {json.dumps(str(work / 'known_hosts'))}, connect_timeout: 2s}}\n"
        )
        rb.write_text(ALL_NODES_RUNBOOK)
    elif kind == "outputs":
        rb = work / "look.md"
        rb.write_text(output_runbook(name))
        places["{rb}"] = str(rb)
    elif kind == "logs":
        log = work / (Path(name).stem + ".jsonl")
        if name.endswith(".yaml"):
            build_log(hostile, log)
        elif hostile != log:
            shutil.copyfile(hostile, log)
        places["{log}"] = str(log)
    return places


# ---------------------------------------------------------------------------------------------
# The driver: one Python, a forked child per command
# ---------------------------------------------------------------------------------------------


def serve(jobs_path: str) -> None:
    """Run the jobs in ``jobs_path`` (groups of commands, in order within a group, ``WORKERS``
    groups at a time) and write the results beside it. Runs in its own Python process."""
    import glob
    import resource
    import signal
    import time
    import traceback

    from console.cli import cli

    groups = json.loads(Path(jobs_path).read_text())
    results: dict[str, dict[str, Any]] = {}
    pending = list(range(len(groups)))
    next_command = [0] * len(groups)
    running: dict[int, tuple[int, str, float]] = {}

    def child(job: dict[str, Any]) -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        os.chdir(job["cwd"])
        os.environ["HOME"] = job["home"]
        os.environ["XDG_CONFIG_HOME"] = job["home"]
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(handle, fd)
        code: Any = 0
        try:
            cli.main(args=job["argv"], prog_name="incident-console")
        except SystemExit as exc:
            code = exc.code
        except BaseException:  # what an uncaught exception does to `python -m console`
            traceback.print_exc()
            code = 1
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)

    def start(index: int) -> bool:
        group = groups[index]
        if next_command[index] >= len(group["commands"]):
            return False
        job = dict(group["commands"][next_command[index]])
        next_command[index] += 1
        resolved = []
        for arg in job["argv"]:
            if "*" in arg:
                found = sorted(glob.glob(arg))
                if not found:
                    results[job["id"]] = {"missing": f"no file matches {arg}"}
                    return start(index)
                arg = found[-1]
            resolved.append(arg)
        job["argv"] = resolved
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(job)
        running[pid] = (index, job["id"], time.monotonic())
        results[job["id"]] = {"argv": resolved}
        return True

    while pending or running:
        while pending and len(running) < WORKERS:
            index = pending.pop(0)
            if start(index):
                continue
        pid, status, usage = os.wait3(os.WNOHANG)
        if pid:
            index, job_id, began = running.pop(pid)
            results[job_id].update(
                rc=os.waitstatus_to_exitcode(status),
                seconds=round(time.monotonic() - began, 2),
                max_rss_mib=round(usage.ru_maxrss / 1024),
            )
            if not start(index):
                continue
            continue
        now = time.monotonic()
        for pid, (_index, job_id, began) in list(running.items()):
            if now - began > TIMEOUT_S and not results[job_id].get("timed_out"):
                results[job_id]["timed_out"] = True
                os.killpg(pid, signal.SIGKILL)
        time.sleep(0.01)
    Path(jobs_path).with_suffix(".out.json").write_text(json.dumps(results))


@pytest.fixture(scope="module")
def corpus_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run every case once; the tests below each look at one result."""
    return run_corpus(tmp_path_factory.mktemp("corpus"))


def run_corpus(root: Path) -> dict[str, dict[str, Any]]:
    """Materialise every corpus file under ``root`` and run every command over it."""
    groups = []
    for item in corpus_files():
        places = materialise(item, root)
        work = Path(places["{cfg}"]).parent
        commands = []
        for command in COMMANDS[item.split("/")[0]]:
            cid = case_id(item, command)
            stem = cid.replace("/", "__").replace(":", "--")
            argv = [places.get(arg, arg) for arg in command.argv]
            commands.append(
                {
                    "id": cid,
                    "argv": argv,
                    "cwd": str(work),
                    "home": str(work / "home"),
                    "stdout": str(root / f"{stem}.stdout"),
                    "stderr": str(root / f"{stem}.stderr"),
                    "places": places,
                }
            )
        groups.append({"commands": commands})
    jobs = root / "jobs.json"
    jobs.write_text(json.dumps(groups))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    boot = "import sys; from tests.security.test_corpus import serve; serve(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", boot, str(jobs)], cwd=REPO, env=env, check=True, timeout=840
    )
    results: dict[str, dict[str, Any]] = json.loads(jobs.with_suffix(".out.json").read_text())
    for group in groups:
        for job in group["commands"]:
            result = results.setdefault(job["id"], {"missing": "never run"})
            result["places"] = job["places"]
            for stream in ("stdout", "stderr"):
                path = Path(job[stream])
                result[stream] = path.read_bytes() if path.exists() else b""
    return results


# ---------------------------------------------------------------------------------------------
# The assertions
# ---------------------------------------------------------------------------------------------


def _text(data: bytes, what: str) -> str:
    """``data`` as text; output that is not UTF-8 reached the terminal raw."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        context = data[max(0, exc.start - 40) : exc.start + 40]
        pytest.fail(f"{what} is not UTF-8 at byte {exc.start}: {context!r}")


def _no_raw_controls(text: str, what: str) -> None:
    match = RAW_CONTROL.search(text)
    if match:
        context = text[max(0, match.start() - 40) : match.start() + 40]
        pytest.fail(f"{what} holds a raw control character {match.group()!r}: {context!r}")


def _short(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more)"


@pytest.mark.parametrize(
    ("item", "command"), CASES, ids=[case_id(item, command) for item, command in CASES]
)
def test_hostile_file(item: str, command: Command, corpus_runs: dict[str, dict[str, Any]]) -> None:
    """The command survives the hostile file: bounded, no traceback, clean output, located."""
    result = corpus_runs[case_id(item, command)]
    assert "missing" not in result, result["missing"]
    out = _text(result["stdout"], "stdout")
    err = _text(result["stderr"], "stderr")
    both = f"--- stdout ---\n{_short(out)}\n--- stderr ---\n{_short(err)}"
    assert not result.get("timed_out"), f"still running after {TIMEOUT_S:.0f}s\n{both}"
    assert "Traceback" not in out + err, both
    assert result["rc"] in (0, 1, 2), f"exit {result['rc']}\n{both}"
    _no_raw_controls(out, "stdout")
    _no_raw_controls(err, "stderr")
    if command.export == "json":
        exported = Path(result["places"]["{out}"])
        if result["rc"] == 0:
            json.loads(exported.read_text(encoding="utf-8"))
    for secret in PLANTED_SECRETS:
        assert secret not in out + err, f"the planted password {secret!r} was printed\n{both}"
    refused = result["rc"] == 2 or (result["rc"] == 1 and command.findings)
    if refused:
        path = Path(_resolved(result, command.names))
        # A file with no line at all can only be named.
        line = r":\d+" if path.exists() and path.stat().st_size else ""
        assert re.search(re.escape(path.name) + line, out + err), (
            f"exit {result['rc']} without naming {path.name}{line and ':LINE'}\n{both}"
        )


def _resolved(result: dict[str, Any], placeholder: str) -> str:
    """The path a placeholder stood for in the command as it ran."""
    path = result["places"][placeholder]
    if "*" in path:
        matches = [arg for arg in result.get("argv", []) if arg.endswith(".jsonl")]
        return matches[0] if matches else path
    return path


def test_corpus_stays_small() -> None:
    """Big inputs are made at run time: no corpus file over 20 KB, the corpus under 300 KB."""
    sizes = {p: p.stat().st_size for p in CORPUS.rglob("*") if p.is_file()}
    assert max(sizes.values()) <= 20_000, max(sizes, key=lambda p: sizes[p])
    assert sum(sizes.values()) <= 300_000
