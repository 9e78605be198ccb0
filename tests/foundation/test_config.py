"""console.yaml: validation with lines, discovery, inventory, guardrails, `config check`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.config import (
    Config,
    LoadedConfig,
    bare_config,
    discover,
    enforce_policy,
    load_config,
    parse_config,
    policy_violations,
)
from console.errors import PolicyError, SourceError


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_errors_name_file_line_and_key(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "console.yaml",
        """
        profile: dev
        prometheus: {url: http://127.0.0.1:9090, timeout: 5x}
        panels:
          - {kind: quorum, title: q, query: 'sum(up)', need: 4, of: 3}
          - {kind: sparkle, query: up}
        nodes:
          - {name: m1, host: 127.0.0.1, prot: 22}
          - {name: m1, host: 127.0.0.2}
        ssh: {host_keys: sometimes}
    """,
    )
    with pytest.raises(SourceError) as info:
        load_config(cfg)
    lines = [str(p) for p in info.value.problems]
    f = str(cfg)
    assert lines == [
        f"{f}:2: bad duration '5x': write it like 500ms, 5s, 2m, 1h or 1h30m [prometheus.timeout]",
        f"{f}:4: need (4) cannot be more than of (3) [panels[0]]",
        f"{f}:5: unknown kind 'sparkle': expected one of quorum, lag, backlog, stat, alerts "
        "[panels[1]]",
        f"{f}:7: unknown key [nodes[0].prot]",
        f"{f}:9: Input should be 'strict', 'accept-new' or 'off' [ssh.host_keys]",
    ]


def test_duplicate_node_names_and_yaml_syntax(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.yaml",
        """
        nodes:
          - {name: m1, host: 127.0.0.1}
          - {name: m1, host: 127.0.0.2}
    """,
    )
    with pytest.raises(SourceError) as info:
        load_config(cfg)
    assert [str(p) for p in info.value.problems] == [
        f"{cfg}:3: duplicate node name 'm1' (also node #1) [nodes[1].name]"
    ]
    bad = write(tmp_path / "bad.yaml", "profile: dev\nnodes: [\n")
    with pytest.raises(SourceError) as info:
        load_config(bad)
    assert info.value.problems[0].line == 2  # the unclosed "[": the last line, not past it
    assert info.value.problems[0].message.startswith("bad YAML:")


def test_durations_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cfg = write(
        tmp_path / "sub" / "console.yaml",
        """
        refresh: 1m30s
        runbooks: [./books]
        journal: {dir: logs}
    """,
    )
    loaded = load_config(cfg)
    assert loaded.config.refresh == 90.0
    assert loaded.config.runbooks == [tmp_path / "sub" / "books"]
    assert loaded.config.journal.dir == tmp_path / "sub" / "logs"
    assert loaded.sha256 and len(loaded.sha256) == 64


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert discover(None) is None  # nothing anywhere: built-in defaults
    user_dir = tmp_path / "xdg" / "incident-console"
    user_dir.mkdir(parents=True)
    write(user_dir / "console.yaml", "profile: staging\n")
    assert discover(None) == user_dir / "console.yaml"
    write(tmp_path / "console.yaml", "profile: dev\n")
    assert discover(None) == Path("console.yaml")
    env_cfg = write(tmp_path / "env.yaml", "profile: prod\n")
    monkeypatch.setenv("INCIDENT_CONSOLE_CONFIG", str(env_cfg))
    assert discover(None) == env_cfg
    assert discover(tmp_path / "explicit.yaml") == tmp_path / "explicit.yaml"


def test_ini_inventory_groups_roles_vars_labels(tmp_path: Path) -> None:
    write(
        tmp_path / "hosts.ini",
        """
        # etcd members
        [etcd]
        m1 ansible_host=127.0.0.11 ansible_port=2222 ansible_user=ops zone=a
        m2 ansible_host=127.0.0.12 zone=b

        [workers]
        w1 ansible_host=127.0.0.21

        [etcd:vars]
        tier=control

        [control:children]
        etcd
    """,
    )
    cfg = write(tmp_path / "console.yaml", "inventory: hosts.ini\n")
    nodes = {n.name: n for n in load_config(cfg).nodes}
    assert set(nodes) == {"m1", "m2", "w1"}
    m1 = nodes["m1"]
    assert (m1.host, m1.port, m1.user) == ("127.0.0.11", 2222, "ops")
    assert sorted(m1.roles) == ["control", "etcd"]
    assert m1.labels == {"tier": "control", "zone": "a"}
    assert nodes["w1"].roles == ["workers"] and nodes["w1"].labels == {}


def test_yaml_inventory(tmp_path: Path) -> None:
    write(
        tmp_path / "hosts.yml",
        """
        all:
          vars: {dc: one}
          children:
            etcd:
              hosts:
                m1: {ansible_host: 127.0.0.11, zone: a}
                m2: {ansible_host: 127.0.0.12, zone: b, ansible_port: 22}
              vars: {tier: control}
    """,
    )
    cfg = write(tmp_path / "console.yaml", "inventory: hosts.yml\n")
    nodes = {n.name: n for n in load_config(cfg).nodes}
    assert nodes["m2"].host == "127.0.0.12" and nodes["m2"].roles == ["etcd"]
    assert nodes["m1"].labels == {"dc": "one", "tier": "control", "zone": "a"}


def test_bad_inventory_line_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "hosts.ini", "[etcd]\nm1 ansible_port=notaport\n")
    cfg = write(tmp_path / "console.yaml", "inventory: hosts.ini\n")
    with pytest.raises(SourceError) as info:
        load_config(cfg)
    problem = info.value.problems[0]
    assert (problem.file, problem.line) == (str(tmp_path / "hosts.ini"), 2)
    assert "host 'm1'" in problem.message


PROD_BAD = """
    profile: prod
    ssh: {host_keys: accept-new}
    journal: {fsync: group}
    confirm: yes
    redact_defaults: false
"""


def test_prod_guardrails_list_every_violation(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "console.yaml", PROD_BAD))
    violations = policy_violations(loaded)
    assert [(v.line, v.key) for v in violations] == [
        (2, "ssh.host_keys"),
        (3, "journal.fsync"),
        (4, "confirm"),
        (5, "redact_defaults"),
    ]
    with pytest.raises(PolicyError) as info:
        enforce_policy(loaded, None)
    assert "prod refuses unknown host keys" in str(info.value)
    assert enforce_policy(loaded, "bastion lacks known_hosts; ticket OPS-1") == violations
    assert loaded.config.confirm_floor == "yes"
    clean = parse_config("profile: prod\n", tmp_path / "p.yaml")
    assert policy_violations(clean) == [] and clean.config.confirm_floor == "typed"


def test_config_check_cli(tmp_path: Path) -> None:
    cfg = write(tmp_path / "console.yaml", PROD_BAD)
    runner = CliRunner()
    result = runner.invoke(cli, ["config", "check", "--config", str(cfg)])
    assert result.exit_code == 1
    assert f"{cfg}:2: prod refuses unknown host keys" in result.output
    assert "4 guardrail violation(s) for profile prod" in result.output
    accepted = runner.invoke(cli, ["config", "check", "--config", str(cfg), "--accept-risk", "x"])
    assert accepted.exit_code == 0
    broken = write(tmp_path / "broken.yaml", "refresh: soon\n")
    result = runner.invoke(cli, ["config", "check", "--config", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}:1: bad duration 'soon'" in result.output
    missing = runner.invoke(cli, ["config", "check", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "cannot read config" in missing.output
    ok = runner.invoke(
        cli, ["config", "check", "--config", str(write(tmp_path / "ok.yaml", "refresh: 10s\n"))]
    )
    assert ok.exit_code == 0 and "refresh: 10s" in ok.output


def test_zero_durations_refused_and_secret_paths_resolved(tmp_path: Path) -> None:
    cfg = write(tmp_path / "console.yaml", "refresh: 0s\n")
    with pytest.raises(SourceError) as info:
        load_config(cfg)
    assert str(info.value.problems[0]) == (
        f"{cfg}:1: a duration here must be more than 0, got '0s' [refresh]"
    )
    cfg = write(
        tmp_path / "console.yaml",
        """
        prometheus:
          url: https://127.0.0.1:9090
          bearer_token_file: secrets/token
          tls: {ca_file: certs/ca.pem}
    """,
    )
    source = load_config(cfg).config.prometheus
    assert source is not None
    assert source.bearer_token_file == tmp_path / "secrets" / "token"
    assert source.tls.ca_file == tmp_path / "certs" / "ca.pem"


def test_the_bare_config_is_the_validated_defaults() -> None:
    """``demo``'s config is built without validation; it must be what validation gives."""
    bare = bare_config()
    validated = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    assert bare == validated
    assert bare.config.model_dump() == validated.config.model_dump()
    assert bare.config.model_fields_set == validated.config.model_fields_set
    assert LoadedConfig.model_validate(bare.model_dump()) == validated
