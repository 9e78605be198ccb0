"""Bringing runbooks in (issue 12 item 9): shell aliases, pasted prompts, a literal ``{{``,
what a folder scan skipped, case-only alert-name near misses, and ``incident-console import``.

The runbooks run for real, in the local ``sh`` (``on: local`` / ``nodes: local``), so a prompt
left in or a ``{{`` mis-escaped would fail here as it would on a node.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from console.cli import cli
from console.runbook.importer import guess_alerts, import_runbook, read_only
from console.runbook.match import rank_runbooks
from console.runbook.parse import parse_runbook
from console.runbook.rules import AlertRule
from console.runbook.template import render, render_promql, variables_in


def invoke(tmp_path: Path, *args: str) -> Result:
    config = tmp_path / "console.yaml"
    if not config.exists():
        config.write_text("profile: dev\n")
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def runbook(tmp_path: Path, body: str, name: str = "rb.md") -> Path:
    path = tmp_path / name
    path.write_text("---\nid: rb\nnodes: local\n---\n# RB\n\n## 1. Look\n\nLook.\n\n" + body)
    return path


def test_shell_console_and_bash_all_run_in_the_shell(tmp_path: Path) -> None:
    path = runbook(
        tmp_path,
        "```shell check\necho from-shell\n```\n\n"
        "```console check\necho from-console\n```\n\n"
        "```bash check\necho from-bash-$BASH_VERSINFO\n```\n",
    )
    parsed, problems = parse_runbook(path.read_text(), path)
    assert parsed is not None, [str(p) for p in problems]
    assert [b.lang for b in parsed.blocks()] == ["sh", "sh", "bash"]
    result = invoke(tmp_path, "run", str(path))
    assert result.exit_code == 0, result.output
    assert "from-shell" in result.stdout and "from-console" in result.stdout
    assert "from-bash-5" in result.stdout  # really bash, not sh
    assert "3 block(s): 3 pass" in result.stdout


def test_a_typo_after_an_alias_is_still_an_error(tmp_path: Path) -> None:
    path = runbook(tmp_path, "```shell chek\necho x\n```\n")
    result = invoke(tmp_path, "lint", str(path))
    assert result.exit_code == 1
    assert f"{path}:11: unknown block kind 'chek' (did you mean 'check'?)" in result.stdout


def test_a_catalog_check_may_say_shell(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "host.yaml").write_text(
        "checks:\n  up:\n    lang: shell\n    body: echo catalog-up\n"
    )
    path = runbook(tmp_path, "```sh check\n#| use: host/up\n#| on: local\n```\n")
    result = invoke(tmp_path, "run", str(path))
    assert result.exit_code == 0, result.output
    assert "catalog-up" in result.stdout


def test_prompts_are_stripped_and_lint_says_where(tmp_path: Path) -> None:
    path = runbook(tmp_path, "```shell check\n$ echo one\n  $ echo two\necho three\n```\n")
    lint = invoke(tmp_path, "lint", str(path))
    assert lint.exit_code == 0, lint.output
    assert (
        f"{path}:12: warning: a '$ ' prompt was stripped from this line (and 1 more line(s)): "
        "it is not part of the command; remove it from the runbook to silence this"
    ) in lint.stdout
    result = invoke(tmp_path, "run", str(path))
    assert result.exit_code == 0, result.output  # before: "$: not found"
    assert "| one\n" in result.stdout and "| two\n" in result.stdout
    assert "not found" not in result.stdout


def test_a_prompt_inside_a_here_document_is_data(tmp_path: Path) -> None:
    path = runbook(tmp_path, "```sh check\ncat <<EOF\n$ not a prompt\nEOF\n$ echo done\n```\n")
    result = invoke(tmp_path, "run", str(path))
    assert result.exit_code == 0, result.output
    assert "| $ not a prompt\n" in result.stdout and "| done\n" in result.stdout
    lint = invoke(tmp_path, "lint", str(path))
    assert f"{path}:15: warning: a '$ ' prompt was stripped from this line: it is" in lint.stdout


def test_prompts_are_left_alone_outside_shell_blocks(tmp_path: Path) -> None:
    path = runbook(tmp_path, "```promql check\nsum(up)\n```\n\n```sh\n$ doc only\n```\n")
    lint = invoke(tmp_path, "lint", str(path))
    assert "prompt" not in lint.stdout


def test_a_literal_double_brace_is_written_as_jinja_does() -> None:
    text = "kubectl get pods -o go-template='{{ '{{' }}range .items}}{{ \"{{\" }}.x}}' -n {{ns}}"
    assert [u.name for u in variables_in(text)] == ["ns"]
    assert render(text, {"ns": "a b"}, shell=True) == (
        "kubectl get pods -o go-template='{{range .items}}{{.x}}' -n 'a b'"
    )
    assert render("x {{ '{{' }}y}} {{a}}", {"a": "1"}, shell=False) == "x {{y}} 1"
    query = "up{job=\"{{ '{{' }}{{j}}\"} # {{ '{{' }} in a comment"
    assert render_promql(query, {"j": 'x"y'}) == 'up{job="{{x\\"y"} # {{ in a comment'


def test_the_escape_runs_literally_in_a_real_shell(tmp_path: Path) -> None:
    path = runbook(
        tmp_path,
        '```sh check\n#| expect: {stdout: "{{range .items}}|{{end}}"}\n'
        "printf '%s|%s\\n' '{{ '{{' }}range .items}}' \"{{ '{{' }}end}}\"\n```\n",
    )
    result = invoke(tmp_path, "run", str(path))
    assert result.exit_code == 0, result.output
    assert "| {{range .items}}|{{end}}" in result.stdout


def test_an_unescaped_go_template_names_the_escape(tmp_path: Path) -> None:
    path = runbook(tmp_path, "```sh check\nkubectl get pods -o go-template='{{.x}}'\n```\n")
    result = invoke(tmp_path, "lint", str(path))
    assert result.exit_code == 1
    assert (
        f"{path}:12: bad variable {{{{.x}}}}: a name is letters, digits and _ (filters are not "
        "supported); for a literal '{{' (a Go template) write {{ '{{' }}"
    ) in result.stdout


def test_lint_on_a_folder_lists_what_it_skipped_and_why(tmp_path: Path) -> None:
    folder = tmp_path / "book"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref\n")
    runbook(folder, "Prose only.\n")
    (folder / "README.md").write_text("# Our runbooks\n")
    (folder / "sub" / "old-wiki.markdown").write_text("# Old\n\n## Do\n\nx\n")
    (folder / "rules.yml").write_text("groups: []\n")
    (folder / "host.yaml").write_text("checks: {}\n")
    (folder / "notes.txt").write_text("hi\n")
    (folder / "scenario.yaml").write_text("title: a drill\n")
    result = invoke(tmp_path, "lint", str(folder))
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stdout.splitlines() if ": skipped: " in line]
    no_front = (
        "Markdown without front matter ('---' on the first line), so not read as a runbook; "
        "'incident-console import FILE' turns a plain runbook into one"
    )
    assert skipped == [
        f"{folder}/README.md: skipped: {no_front}",
        f"{folder}/notes.txt: skipped: neither a Markdown runbook (.md) nor a YAML catalog file",
        f"{folder}/rules.yml: skipped: a Prometheus rule file (top-level 'groups:'): give it to "
        "lint with --rules",
        f"{folder}/scenario.yaml: skipped: YAML without a top-level 'checks:' mapping, so not "
        "a catalog file",
        f"{folder}/sub/old-wiki.markdown: skipped: {no_front}",
    ]
    data = json.loads(invoke(tmp_path, "lint", str(folder), "--json").stdout)
    assert [Path(s["file"]).name for s in data["skipped"]] == [
        "README.md",
        "notes.txt",
        "rules.yml",
        "scenario.yaml",
        "old-wiki.markdown",
    ]


def test_a_markdown_suffix_with_front_matter_is_a_runbook(tmp_path: Path) -> None:
    runbook(tmp_path, "Prose.\n", name="rb.markdown")
    result = invoke(tmp_path, "lint", str(tmp_path))
    assert "1 runbook file(s) checked" in result.stderr


RULES = """\
groups:
  - name: etcd
    rules:
      - alert: etcdMembersDown
        expr: up == 0
      - alert: etcdNoLeader
        expr: etcd_server_has_leader == 0
"""


def test_case_only_near_miss_is_a_did_you_mean_not_coverage(tmp_path: Path) -> None:
    path = tmp_path / "etcd.md"
    path.write_text(
        "---\nid: etcd\nalerts: [EtcdMembersDown, etcdNoLeader]\n---\n# E\n\n## Look\n\nx\n"
    )
    parsed, _ = parse_runbook(path.read_text(), path)
    assert parsed is not None
    rule = AlertRule("etcdMembersDown", "r.yml", 4)
    (match,) = rank_runbooks(rule, [parsed])
    assert not match.answers
    assert match.reasons == (
        "did you mean this runbook? its front matter lists EtcdMembersDown, which differs "
        "from etcdMembersDown only in case (alert names are case-sensitive)",
    )
    (exact,) = rank_runbooks(AlertRule("etcdNoLeader", "r.yml", 6), [parsed])
    assert exact.answers
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    result = invoke(tmp_path, "lint", str(path), "--rules", str(rules))
    assert result.exit_code == 1
    assert (
        f"{rules}:4: alert 'etcdMembersDown' has no runbook (no runbook lists it under alerts:, "
        f"and no runbook_url resolves); did you mean {path} (lists EtcdMembersDown)? alert "
        "names are case-sensitive"
    ) in result.stdout
    assert "coverage: 1/2 alerts have a runbook" in result.stdout


def test_a_runbook_listing_a_name_no_rule_has_gets_a_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "etcd.md"
    path.write_text(
        "---\nid: etcd\nalerts:\n  - EtcdMemberDown\n  - etcdNoLeader\n  - EtcdNoLeader\n"
        "  - SomethingElse\n---\n# E\n\n## Look\n\nx\n"
    )
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    result = invoke(tmp_path, "lint", str(path), "--rules", str(rules))
    assert (
        f"{path}:4: warning: alerts: lists 'EtcdMemberDown', which no rule in the rule files "
        "has: did you mean 'etcdMembersDown'? (alert names are case-sensitive) [alerts]"
    ) in result.stdout
    # EtcdNoLeader is close to etcdNoLeader, which the runbook lists too: two rule sets, no slip
    assert "'EtcdNoLeader'" not in result.stdout and "SomethingElse" not in result.stdout


@pytest.mark.parametrize(
    ("command", "reads"),
    [
        ("kubectl get pods -n x", True),
        ("kubectl -n monitoring describe pod p", True),
        ("etcdctl endpoint status -w json", True),
        ("etcdctl endpoint hashkv --cluster", True),
        ("curl -s http://127.0.0.1:9090/-/ready | jq .", True),
        ("curl -sf -XGET http://x/api 2>/dev/null", True),
        ("ls -l /var/lib 2>&1 | grep etcd", True),
        ("redis-cli -h 127.0.0.1 info replication", True),
        ("rabbitmqctl list_queues name messages", True),
        ("sudo -u postgres psql -c 'select 1'", True),
        ("systemctl status etcd && journalctl -u etcd -n 50", True),
        ("kubectl delete pod p", False),
        ("systemctl restart etcd", False),
        ("etcdctl defrag", False),
        ("curl -X POST http://x/api/v2/silences", False),
        ("curl -s -d @body.json http://x", False),
        ("redis-cli CONFIG SET maxmemory 1gb", False),
        ("echo 1 > /proc/sys/vm/drop_caches", False),
        ("sed -i s/a/b/ /etc/x.conf", False),
        ("cat <<EOF\nrm -rf /\nEOF", True),  # a here-document's body is data
        ("cat <<<'x' > /tmp/y", False),  # a here-string opens no here-document
        ("cat <<'EOF' > /etc/motd\nhi\nEOF", False),
        ("kubectl exec -it p -- sh", None),
        ("frobnicate --all", None),
        ("psql -c 'delete from t'", None),
        ("echo 'unterminated", None),
    ],
)
def test_read_only_rule(command: str, reads: bool | None) -> None:
    assert read_only(command)[0] is reads


def test_alert_names_are_guessed_from_the_title() -> None:
    assert guess_alerts("KubePodCrashLooping") == ["KubePodCrashLooping"]
    assert guess_alerts("etcdNoLeader / etcdHighNumberOfLeaderChanges") == [
        "etcdNoLeader",
        "etcdHighNumberOfLeaderChanges",
    ]
    assert guess_alerts("Disk almost full on a node") == []


WIKI = """\
# KubePodCrashLooping

Pods restart over and over.

```shell
$ kubectl get pods
```

## Meaning

The app dies and Kubernetes restarts it.

## Impact

## Diagnosis

```console
$ printf '%s %s\\n' '{{range .items}}' <pod-name>
{{range .items}} web-1
$ echo more \\
    words
more words
```

```yaml
kind: Pod
```

## Mitigation

```bash
kubectl delete pod <pod-name>
```

```sh
frobnicate --all
```
"""


def test_import_a_wiki_runbook_and_run_it(tmp_path: Path) -> None:
    source = tmp_path / "KubePodCrashLooping.md"
    source.write_text(WIKI)
    out = tmp_path / "book" / "kube-pod-crash-looping.md"
    out.parent.mkdir()
    result = CliRunner().invoke(cli, ["import", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith(
        textwrap.dedent(
            """\
            ---
            id: kubepodcrashlooping
            title: "KubePodCrashLooping"
            alerts: [KubePodCrashLooping]
            nodes: local
            vars:
              pod_name: "Value for <pod-name>"
            ---
            # KubePodCrashLooping
            """
        )
    )
    assert "## Impact\n\n_Nothing was written under this heading" in text
    assert "```shell\n$ kubectl get pods\n```" in text  # before the first step: documentation
    assert (
        "```sh check\nprintf '%s %s\\n' '{{ '{{' }}range .items}}' {{pod_name}}\n"
        "echo more \\\n    words\n```\n\n```text\n{{range .items}} web-1\nmore words\n```"
    ) in text
    assert "```yaml\nkind: Pod\n```" in text
    assert "```bash action\nkubectl delete pod {{pod_name}}\n```" in text
    assert "```sh action\nfrobnicate --all\n```" in text
    assert result.stderr.splitlines() == [
        f"{source}:5: warning: a block before the first '## ' heading is left as documentation "
        "(blocks that run belong to a step)",
        f"{source}:35: warning: could not tell whether this block only reads ('frobnicate' is a "
        "command the importer does not know): marked action, so it asks before it runs; make "
        "it 'sh check' if it only reads",
        f"imported {source}: alerts: KubePodCrashLooping",
    ]
    lint = invoke(tmp_path, "lint", str(out))
    assert lint.exit_code == 0, lint.output
    run = invoke(tmp_path, "run", str(out), "--only", "checks", "--var", "pod_name=web-1")
    assert run.exit_code == 0, run.output
    assert "| {{range .items}} web-1" in run.stdout and "| more words" in run.stdout
    again = CliRunner().invoke(cli, ["import", str(source), "-o", str(out)])
    assert again.exit_code == 2 and "File exists" in again.stderr
    assert out.read_text() == text


def test_a_here_document_in_a_pasted_session_stays_whole() -> None:
    text = "# T\n\n## A\n\n```console\n$ cat <<EOF\nline one\nEOF\nline one\n```\n"
    imported = import_runbook(text, "t.md")
    assert "```sh check\ncat <<EOF\nline one\nEOF\n```\n\n```text\nline one\n```" in (imported.text)


def test_import_refuses_a_runbook_that_already_has_front_matter(tmp_path: Path) -> None:
    path = runbook(tmp_path, "x\n")
    result = CliRunner().invoke(cli, ["import", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1: this file already has front matter" in result.stderr


HOSTILE = [
    "",
    "\x00\x01\x1b]52;c;aGk=\x07 binary",
    "```sh\n" + "echo x\n" * 3,  # unterminated fence
    "# T\n\n## A\n\n1. ```sh\n   $ kubectl get pods\n   ```\n\n> ```bash\n> ls\n> ```\n",
    "# T\r\n\r\n## A\r\n\r\n```console\r\n$ ls\r\n```\r\n",
    "# " + "A" * 5000 + "\n\n## " + "<x>" * 2000 + "\n\n```sh\n" + "<a>" * 5000 + "\n```\n",
    "## only\n\n```sh\ncat <<EOF\n$ {{ x }}\nEOF\n```\n\n## only\n",
    "Title\n=====\n\nSub\n---\n\n```sh\necho `date` {{\n```\n",
    "# T\n\n## A\n\n```sh\n<node> <host> <incident>\n```\n",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_import_odd_input_never_crashes_and_names_lines(tmp_path: Path, text: str) -> None:
    source = tmp_path / "odd.md"
    source.write_text(text, errors="surrogateescape")
    result = CliRunner().invoke(cli, ["import", str(source)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1)
    for line in result.stderr.splitlines()[:-1]:
        assert line.startswith(f"{source}:"), line
        assert line.split(":")[1].isdigit(), line
    assert "\x1b" not in result.output and "\x00" not in result.output
    imported = import_runbook(text, source)
    parsed, _ = parse_runbook(imported.text, source)
    assert (parsed is None) == bool(imported.problems.errors)
