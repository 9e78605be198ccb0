"""Hostile files and URLs: alias bombs, special files, bad URLs, odd inventories, URL secrets.

Every case must end in a ``file:line: message`` problem (or a clear verdict), never a
traceback, a hang or a memory blow-up.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.config import Config, HttpSource, load_config
from console.drill.promql import PromQLError, evaluate
from console.drill.scenario import load_scenario
from console.drill.series import SeriesStore
from console.errors import ProblemList, SourceError
from console.inventory import read_inventory
from console.runbook.catalog import load_catalog
from console.runbook.parse import parse_runbook
from console.runbook.rules import read_rules
from console.source_errors import SourceConfigError
from console.telemetry.http import Access
from console.telemetry.poller import TelemetryPoller
from console.yamlsrc import load_yaml
from tests.telemetry.fault_server import FaultServer

REPO = Path(__file__).resolve().parents[2]


def bomb(levels: int = 10, indent: str = "") -> str:
    """A "billion laughs" YAML mapping: each level holds nine aliases of the one before."""
    lines = [f'{indent}l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"{indent}l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def messages(problems: ProblemList | SourceError) -> list[str]:
    items = problems.items if isinstance(problems, ProblemList) else problems.problems
    return [str(p) for p in items]


def assert_alias_problem(found: list[str], file: Path | str, line: int) -> None:
    assert any(
        m.startswith(f"{file}:{line}: ") and "aliases" in m and "10,000" in m for m in found
    ), found


def test_a_control_character_is_named_at_its_line_after_multibyte_text(tmp_path: Path) -> None:
    """libyaml reports where it stopped in bytes of UTF-8: the line must still be the one the
    user sees, however many multibyte characters come before it."""
    text = "---\nid: x\ntitle: Überwachung — résumé ✓✓✓\nowner: \x07bell\n---\n# X\n"
    runbook, problems = parse_runbook(text, tmp_path / "rb.md")
    assert runbook is None
    assert f"{tmp_path / 'rb.md'}:4: bad YAML: control character U+0007 is not allowed" in [
        str(p) for p in problems
    ]


def test_a_lone_surrogate_is_a_problem_at_its_line_not_a_crash() -> None:
    """Text decoded elsewhere (JSON, ``surrogateescape``) can hold a lone surrogate, which is
    no UTF-8 and which libyaml cannot take: a problem at its line, as for any bad character."""
    problems = ProblemList()
    assert load_yaml("a: 1\nb: \ud800\n", "f.yaml", problems=problems) is None
    assert [str(p) for p in problems] == ["f.yaml:2: bad YAML: U+D800 is not a character"]


# --- item 8: alias bombs ---------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_alias_bomb_in_front_matter_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    text = "---\nid: x\n" + bomb() + "---\n# X\n"
    runbook, problems = parse_runbook(text, tmp_path / "rb.md")
    assert runbook is None
    # l1 to l3 reach 8,289 nodes through aliases; the first alias on the l4 line passes 10,000.
    assert_alias_problem(messages(problems), tmp_path / "rb.md", 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_block_options_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    options = "".join(f"#| {line}\n" for line in bomb().splitlines())
    text = f"---\nid: x\n---\n# X\n\n## Step\n\n```sh check\n{options}true\n```\n"
    runbook, problems = parse_runbook(text, tmp_path / "rb.md")
    assert runbook is None
    assert_alias_problem(messages(problems), tmp_path / "rb.md", 13)


@pytest.mark.timeout(20)
def test_alias_bomb_in_config_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    config = tmp_path / "console.yaml"
    config.write_text("profile: dev\nx:\n" + bomb(indent="  "))
    with pytest.raises(SourceError) as caught:
        load_config(config)
    assert_alias_problem(messages(caught.value), config, 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_yaml_inventory_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text("all:\n  vars:\n" + bomb(indent="    "))
    problems = ProblemList()
    assert read_inventory(inventory, problems) == []
    assert_alias_problem(messages(problems), inventory, 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_catalog_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    catalog = tmp_path / "etcd.yaml"
    catalog.write_text("checks:\n  x:\n    lang: sh\n    body: 'true'\n" + bomb())
    _, problems = load_catalog([catalog])
    assert_alias_problem(messages(problems), catalog, 9)


@pytest.mark.timeout(20)
def test_alias_bomb_in_scenario_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    scenario = tmp_path / "drill.yaml"
    scenario.write_text("title: t\nnodes: [{name: m1}]\n" + bomb())
    with pytest.raises(SourceError) as caught:
        load_scenario(scenario)
    assert_alias_problem(messages(caught.value), scenario, 7)


@pytest.mark.timeout(20)
def test_alias_bomb_in_rule_file_is_a_problem_at_the_alias(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups: []\n" + bomb())
    problems = ProblemList()
    assert read_rules(rules, problems) == []
    assert_alias_problem(messages(problems), rules, 6)


def _limit_memory() -> None:
    gib = 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (gib, gib))


def run_cli(
    args: list[str], cwd: Path, timeout: float = 60, limit_memory: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the console in a subprocess (so a hang or a blow-up cannot take pytest with it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "INCIDENT_CONSOLE_CONFIG": "", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory if limit_memory else None,
    )


def test_lint_over_a_folder_with_a_bomb_reports_it_within_1_gib(tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "ok.md").write_text("---\nid: ok\n---\n# OK\n")
    (books / "bomb.md").write_text("---\nid: bomb\n" + bomb() + "---\n# Bomb\n")
    result = run_cli(["lint", str(books)], tmp_path, limit_memory=True)
    assert result.returncode in (1, 2), result.stderr
    output = result.stdout + result.stderr
    assert f"{books / 'bomb.md'}:7: " in output, output
    assert "MemoryError" not in output and "Traceback" not in output


def test_a_recursive_alias_is_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    text = "---\nid: x\nloop: &r [*r]\n---\n# X\n"
    runbook, problems = parse_runbook(text, tmp_path / "rb.md")
    assert runbook is None
    found = messages(problems)
    assert any(m.startswith(f"{tmp_path / 'rb.md'}:3: ") and "*r" in m for m in found), found


def test_deep_nesting_and_nul_in_strings_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "console.yaml"
    config.write_text("profile: dev\nx: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(SourceError) as caught:
        load_config(config)
    assert any(":2: " in m and "64 levels" in m for m in messages(caught.value))
    config.write_text('profile: dev\nactor: "a\\0b"\n')
    with pytest.raises(SourceError) as caught:
        load_config(config)
    assert any(":2: " in m and "NUL" in m for m in messages(caught.value))


# --- item 8: special and oversized files -----------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    return path


def test_a_fifo_or_dev_zero_as_runbook_is_refused_without_hanging(
    tmp_path: Path, fifo: Path
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    os.mkfifo(books / "fifo.md")
    (books / "zero.md").symlink_to("/dev/zero")
    for path in (books / "fifo.md", books / "zero.md", books):
        result = run_cli(["lint", str(path)], tmp_path, timeout=30)
        output = result.stdout + result.stderr
        assert result.returncode in (1, 2), output
        for name in ("fifo.md", "zero.md") if path == books else (path.name,):
            assert f"{books / name}:1: cannot read runbook: not a regular file" in output


def test_a_fifo_or_dev_zero_as_config_is_refused_but_dev_null_is_empty(
    tmp_path: Path, fifo: Path
) -> None:
    for path in (fifo, Path("/dev/zero")):
        result = run_cli(["config", "check", "--config", str(path)], tmp_path, timeout=30)
        assert result.returncode == 2
        assert f"{path}:1: cannot read config: not a regular file" in result.stderr
    result = run_cli(["config", "check", "--config", "/dev/null"], tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr


def test_a_fifo_or_dev_zero_as_rule_file_is_refused(tmp_path: Path, fifo: Path) -> None:
    book = tmp_path / "rb.md"
    book.write_text("---\nid: rb\n---\n# RB\n")
    for path in (fifo, Path("/dev/zero")):
        result = run_cli(["lint", str(book), "--rules", str(path)], tmp_path, timeout=30)
        assert result.returncode in (1, 2)
        assert (
            f"{path}:1: cannot read rule file: not a regular file" in result.stdout + result.stderr
        )


def test_a_folder_and_an_oversized_file_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(SourceError) as caught:
        load_config(folder)
    assert messages(caught.value) == [f"{folder}:1: cannot read config: a folder"]
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(8 * 1024 * 1024 + 1)  # sparse: nothing is written to disk
    with pytest.raises(SourceError) as caught:
        load_config(big)
    assert messages(caught.value) == [
        f"{big}:1: cannot read config: larger than the limit of 8 MiB"
    ]


# --- item 11: secret files -------------------------------------------------------------------


def test_a_device_or_fifo_as_bearer_token_file_is_a_config_problem(
    tmp_path: Path, fifo: Path
) -> None:
    for secret in (Path("/dev/zero"), fifo):
        config = tmp_path / "console.yaml"
        config.write_text(
            f"profile: dev\nprometheus:\n  url: http://127.0.0.1:9\n  bearer_token_file: {secret}\n"
        )
        for args in (["config", "check"], ["status"]):
            result = run_cli([*args, "--config", str(config)], tmp_path, timeout=30)
            assert result.returncode == 2
            assert (
                f"{config}:4: {secret} is not a regular file [prometheus.bearer_token_file]"
                in result.stderr
            ), result.stderr


def test_a_secret_file_over_64_kib_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x" * (64 * 1024 + 1))
    settings = HttpSource(url="http://127.0.0.1:9", bearer_token_file=token)
    with pytest.raises(SourceConfigError, match="larger than the limit of 64 KiB"):
        Access.from_settings("prometheus", settings)
    config = tmp_path / "console.yaml"
    config.write_text(f"prometheus:\n  url: http://127.0.0.1:9\n  bearer_token_file: {token}\n")
    with pytest.raises(SourceError) as caught:
        load_config(config)
    assert any(m.startswith(f"{config}:3: ") and "64 KiB" in m for m in messages(caught.value))


# --- item 9: URLs, inventories, PromQL, when: ------------------------------------------------


def test_bad_source_urls_are_config_problems_with_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "console.yaml"
    config.write_text(
        'prometheus: {url: "http://[::1"}\nalertmanager: {url: "http://127.0.0.1:99999999"}\n'
    )
    with pytest.raises(SourceError) as caught:
        load_config(config)
    found = messages(caught.value)
    assert any(
        m.startswith(f"{config}:1: ") and "Invalid IPv6 URL" in m and "[prometheus.url]" in m
        for m in found
    ), found
    assert any(
        m.startswith(f"{config}:2: ") and "Port out of range" in m and "[alertmanager.url]" in m
        for m in found
    ), found


def test_the_telemetry_client_refuses_a_bad_url_itself() -> None:
    settings = HttpSource.model_construct(url="http://127.0.0.1:99999999", timeout=1.0)
    with pytest.raises(SourceConfigError, match="Port out of range"):
        Access.from_settings("prometheus", settings)


def http_book(tmp_path: Path, url: str) -> Path:
    book = tmp_path / "rb.md"
    book.write_text(
        "---\nid: web\nvars:\n  port: {pattern: '^[0-9]+$'}\n---\n# Web\n\n## Probe\n\n"
        f"```http check\n#| id: probe\nGET {url}\n```\n"
    )
    return book


def test_an_http_block_with_a_bad_port_is_a_lint_problem_at_its_line(tmp_path: Path) -> None:
    book = http_book(tmp_path, "http://127.0.0.1:99999999/")
    _, problems = parse_runbook(book.read_text(), book)
    found = messages(problems)
    assert any(m.startswith(f"{book}:12: ") and "Port out of range" in m for m in found), found


def test_an_http_block_with_a_bad_port_at_run_time_is_an_error_verdict(tmp_path: Path) -> None:
    book = http_book(tmp_path, "http://127.0.0.1:{{port}}/")
    config = tmp_path / "console.yaml"
    config.write_text("profile: dev\n")
    args = ["run", str(book), "--var", "port=99999999", "--json", "--no-journal"]
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output
    verdicts = json.loads(result.output)
    text = json.dumps(verdicts)
    assert "error" in text and "Port out of range" in text, text


def test_a_binary_inventory_is_a_problem_naming_its_line(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts"
    inventory.write_bytes(b"[web]\nw1\nw2 \xff\xfe\x00\n")
    problems = ProblemList()
    assert read_inventory(inventory, problems) == []
    assert messages(problems) == [
        f"{inventory}:3: the inventory is not UTF-8 text (byte 0xff at offset 12)"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("all:\n  hosts:\n    - a\n", ":2: hosts must be a mapping, not a list [all.hosts]"),
        ("all:\n  hosts: 5\n", ":2: hosts must be a mapping, not a number [all.hosts]"),
        (
            "all:\n  hosts:\n    h1: [1]\n",
            ":3: host 'h1' must be a mapping, not a list [all.hosts.h1]",
        ),
        ("all:\n  vars: 3\n", ":2: vars must be a mapping, not a number [all.vars]"),
        ("all:\n  children: [a]\n", ":2: children must be a mapping, not a list [all.children]"),
    ],
)
def test_oddly_typed_yaml_inventory_is_a_problem_naming_its_line(
    tmp_path: Path, body: str, expected: str
) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(body)
    problems = ProblemList()
    read_inventory(inventory, problems)
    assert f"{inventory}{expected}" in messages(problems)


def test_odd_ini_inventory_lines_are_problems_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(
        '[web]\nw1 ansible_port=abc\n[a:b:c]\n"unterminated\n[web:vars]\nnoeq\n[web\n'
        "[web:vars]\n=orphan\n[]\n"
    )
    config = tmp_path / "console.yaml"
    config.write_text("inventory: hosts\n")
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 2
    hosts = tmp_path / "hosts"
    for expected in (
        f"{hosts}:2: host 'w1': Input should be a valid integer",
        f"{hosts}:3: unknown section kind ':b:c'",
        f"{hosts}:4: cannot split line: No closing quotation",
        f"{hosts}:6: expected key=value, got 'noeq'",
        f"{hosts}:7: bad section header '[web'",
        f"{hosts}:9: expected key=value, got '=orphan'",
        f"{hosts}:10: empty group name in '[]'",
    ):
        assert expected in result.output, result.output


def test_deep_promql_in_a_drill_is_a_clear_error_not_a_recursion_error() -> None:
    with pytest.raises(PromQLError, match="nested more than 32 levels"):
        evaluate("(" * 1000 + "1" + ")" * 1000, SeriesStore(), 0.0)
    with pytest.raises(PromQLError, match="nested more than 32 levels"):
        evaluate("-" * 1000 + "1", SeriesStore(), 0.0)
    assert evaluate("(" * 30 + "1" + ")" * 30, SeriesStore(), 0.0) == [({}, 1.0)]


def test_a_bad_when_is_a_scenario_problem_at_load(tmp_path: Path) -> None:
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(
        "title: t\nnodes: [{name: m1}]\nresponses:\n  - match: x\n    when: 'sum(('\n"
        "  - match: y\n    when: 'rate(up)'\n"
    )
    with pytest.raises(SourceError) as caught:
        load_scenario(scenario)
    found = messages(caught.value)
    assert any(
        m.startswith(f"{scenario}:5: bad when: ") and "[responses[0].when]" in m for m in found
    )
    assert any(
        m.startswith(f"{scenario}:7: bad when: ") and "expected type matrix" in m for m in found
    ), found


# --- item 6: credentials in URLs -------------------------------------------------------------

SECRET = "hunter2-in-url"


class RecordingServer:
    """A loopback HTTP server that answers 200 and records each request's Authorization."""

    def __init__(self) -> None:
        self.authorization: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.authorization.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def fields(value: Any, names: tuple[str, ...]) -> list[str]:
    """Every value under a key in ``names``, anywhere in a JSON document."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in names:
                out.append(json.dumps(item))
            out.extend(fields(item, names))
    elif isinstance(value, list):
        for item in value:
            out.extend(fields(item, names))
    return out


def test_http_block_url_credentials_are_basic_auth_and_not_the_node(
    tmp_path: Path, recorder: RecordingServer
) -> None:
    book = http_book(tmp_path, f"http://ops:{SECRET}@127.0.0.1:{recorder.port}/health")
    config = tmp_path / "console.yaml"
    config.write_text("profile: dev\n")
    journal = tmp_path / "journal"
    result = CliRunner().invoke(
        cli, ["run", str(book), "--journal", str(journal), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert recorder.authorization == [basic("ops", SECRET)]
    events = [
        json.loads(line) for log in journal.glob("*.jsonl") for line in log.read_text().splitlines()
    ]
    nodes = fields(events, ("node", "nodes", "reason"))
    assert nodes and all(SECRET not in n and "ops:" not in n for n in nodes), nodes
    assert any(f"127.0.0.1:{recorder.port}" in n for n in nodes), nodes


async def test_source_url_credentials_are_sent_as_basic_auth(fault: FaultServer) -> None:
    url = fault.url.replace("http://", f"http://ops:{SECRET}@")
    config = Config.model_validate(
        {
            "prometheus": {"url": url, "timeout": "1s"},
            "alertmanager": {"url": url, "timeout": "1s"},
            "panels": [{"kind": "stat", "query": "sum(up)"}],
        }
    )
    async with TelemetryPoller(config) as poller:
        state = await poller.poll_once()
        assert SECRET not in repr(poller.prometheus) + str(poller.prometheus.url)  # type: ignore[union-attr]
    assert state.verdict() == "healthy"
    assert fault.authorization["/api/v1/query"] == basic("ops", SECRET)
    assert fault.authorization["/api/v2/alerts"] == basic("ops", SECRET)


def test_status_and_config_check_never_print_url_credentials(tmp_path: Path) -> None:
    config = tmp_path / "console.yaml"
    config.write_text(
        f"prometheus: {{url: 'http://ops:{SECRET}@127.0.0.1:9', timeout: 1s}}\n"
        f"alertmanager: {{url: 'http://ops:{SECRET}@127.0.0.1:9', timeout: 1s}}\n"
        "panels: [{kind: stat, query: sum(up)}]\n"
    )
    for args in (
        ["status"],
        ["status", "--json"],
        ["config", "check"],
        ["config", "check", "--json"],
    ):
        result = run_cli([*args, "--config", str(config)], tmp_path, timeout=60)
        output = result.stdout + result.stderr
        assert "127.0.0.1:9" in output, output
        assert SECRET not in output and "ops:" not in output, output
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"prometheus: {{url: 'http://ops:{SECRET}@127.0.0.1:99999999'}}\n")
    result = run_cli(["config", "check", "--config", str(bad)], tmp_path, timeout=60)
    assert result.returncode == 2 and "Port out of range" in result.stderr
    assert SECRET not in result.stderr, result.stderr
