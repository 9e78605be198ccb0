"""Redaction: secrets never reach the file, whatever field or chunk they arrive in."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.journal.events import (
    AlertFiring,
    BlockOutput,
    BlockStarted,
    IncidentOpened,
    Note,
)
from console.journal.log import JournalLog
from console.journal.reader import read_log
from console.journal.redact import REDACTED, Redactor
from tests.journal.conftest import new_log, run, write_events

SECRETS = {
    "hunter2pass": "password=hunter2pass",
    "Zm9vOmJhcg": "Authorization: Basic Zm9vOmJhcg==",
    "eyJhbGciOiJIUzI1NiJ9": (
        "curl -H 'Authorization: Bearer "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlMTIz'"
    ),
    "AKIAIOSFODNN7EXAMPLE": "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    ),
    "s3cr3tDbPw": "postgres://app:s3cr3tDbPw@db.internal:5432/orders",
    "rootPw42": "etcdctl --user root:rootPw42 member list",
    "tok_9f8e7d6c": '{"api_key": "tok_9f8e7d6c", "user": "bob"}',
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789": (
        "GITHUB_TOKEN ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    ),
    "xoxb-1234567890-abcdefghij": "slack xoxb-1234567890-abcdefghij",
    "clientSecretValue": "--client-secret clientSecretValue",
}
PEM_BODY = "MIIEowIBAAKCAQEA7bq3u0zLdV9Y"


def test_default_rules_redact_common_secrets() -> None:
    redactor = Redactor()
    for secret, text in SECRETS.items():
        if secret == "clientSecretValue":
            continue  # covered by the config pattern below
        out = redactor.text(text)
        assert secret not in out and REDACTED in out, text


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    log = JournalLog.create(
        tmp_path,
        None,
        "db down password=hunter2pass",
        actor="a@b",
        fsync="never",
        redact=[r"(?i)--client-secret\s+\S+"],
    )
    texts = list(SECRETS.values())
    payloads = [
        Note(text=texts[0]),
        AlertFiring(
            fingerprint="f",
            alertname="X",
            labels={"dsn": texts[5]},
            annotations={"description": texts[3]},
        ),
        BlockStarted(
            run="r", block="b", kind="check", lang="sh", command="\n".join(texts), nodes=["n"]
        ),
        *[BlockOutput(run="r", block="b", node="n", stream="stdout", text=t + "\n") for t in texts],
        BlockOutput(
            run="r",
            block="b",
            node="n",
            stream="stderr",
            text=f"ok\n-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}",
        ),
        BlockOutput(run="r", block="b", node="n", stream="stderr", text="MoreKeyMaterial\n"),
        BlockOutput(
            run="r",
            block="b",
            node="n",
            stream="stderr",
            text="tail==\n-----END OPENSSH PRIVATE KEY-----\nvisible after\n",
        ),
    ]
    path = run(write_events(log, payloads))
    raw = path.read_bytes()
    for secret in [*SECRETS, PEM_BODY, "MoreKeyMaterial", "tail=="]:
        assert secret.encode() not in raw, secret
    assert b"visible after" in raw and b"db down" in raw
    opened = read_log(path).events[0].data
    assert isinstance(opened, IncidentOpened)
    assert "private-key" in opened.redact_rules
    assert r"config:(?i)--client-secret\s+\S+" in opened.redact_rules


def test_emit_returns_the_redacted_event(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    event = run(log.emit(Note(text="password=hunter2pass")))
    assert event.data == Note(text=f"password={REDACTED}")
    run(log.close())


def test_defaults_can_be_turned_off_but_config_patterns_stay(tmp_path: Path) -> None:
    redactor = Redactor([r"ticket-\d+"], defaults=False)
    assert redactor.text("password=x ticket-42") == f"password=x {REDACTED}"
    assert redactor.names == [r"config:ticket-\d+"]


# URL-structural characters (@ /) are left out: in a URL they must be percent-encoded anyway.
_SECRET = st.text(string.ascii_letters + string.digits + "!#$%()*+-.^~", min_size=6, max_size=30)
_AROUND = st.text(string.ascii_letters + " \n\t", max_size=40)
_FORMS = st.sampled_from(
    [
        "password={}",
        "PASSWORD: {}",
        '"db_password": "{}"',
        "--password {}",
        "--token={}",
        "Authorization: Bearer {}",
        "https://user:{}@host/",
        "export API_KEY={}",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=_SECRET, form=_FORMS, before=_AROUND, after=_AROUND)
def test_assigned_secrets_of_any_shape_are_redacted(
    secret: str, form: str, before: str, after: str
) -> None:
    out = Redactor().text(f"{before} {form.format(secret)} {after}")
    assert out == f"{before} {form.format(REDACTED)} {after}"


# -- issue 8: quoted values, env assignments, URL passwords, locations --------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('password: "hun ter2" next', f'password: "{REDACTED}" next'),
        ("password: 'hun ter2' next", f"password: '{REDACTED}' next"),
        ('{"password": "a b", "user": "bob"}', f'{{"password": "{REDACTED}", "user": "bob"}}'),
        ('{"password": "a\\"b c"}', f'{{"password": "{REDACTED}"}}'),
        ('--password "hun ter2" --user bob', f'--password "{REDACTED}" --user bob'),
        ('password: "never closed', f'password: "{REDACTED}'),
    ],
)
def test_quoted_values_are_redacted_whole(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


@pytest.mark.parametrize("name", ["DB_PASS", "PGPASS", "REDISCLI_AUTH", "ADMIN_PWD"])
@pytest.mark.parametrize("form", ["{}=s3kr1tval", "export {}=s3kr1tval", "{}: s3kr1tval"])
def test_password_env_assignments_are_redacted(name: str, form: str) -> None:
    out = Redactor().text(form.format(name))
    assert "s3kr1t" not in out and REDACTED in out and name in out


@pytest.mark.parametrize("name", ["DB_PASS", "APP_PASSWD", "DB_PASSWORD", "MYSQL_PWD"])
def test_quoted_env_passwords_are_redacted_whole(name: str) -> None:
    assert Redactor().text(f'export {name}="val s3kr1t"') == f'export {name}="{REDACTED}"'


def test_a_short_env_password_is_redacted_too() -> None:
    assert Redactor().text("DB_PASS=x; run") == f"DB_PASS={REDACTED}; run"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:p@ss@host/x", f"https://user:{REDACTED}@host/x"),
        ("redis://app:a@b@c@cache:6379", f"redis://app:{REDACTED}@cache:6379"),
    ],
)
def test_url_password_with_at_sign_is_redacted_whole(url: str, expected: str) -> None:
    assert Redactor().text(f"connect {url} now") == f"connect {expected} now"


@pytest.mark.parametrize(
    "text",
    [
        "secrets.yaml:4: message",
        "tokens.py:12:5: E501 line too long",
        "passwords.txt:10: no match",
        "passed=3 failed=0",
        "tests_pass=3",
        "the password policy requires 12 characters",
        "rotate the token before Friday",
        'password=""',
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_literal_rules_hide_exact_values_by_name() -> None:
    redactor = Redactor(literals={"literal:INCIDENT_LOG_KEY": "k3y-v@lue.(x)+"})
    assert redactor.names[0] == "literal:INCIDENT_LOG_KEY"
    assert "k3y-v@lue" not in str(redactor.names)
    assert redactor.text("key is k3y-v@lue.(x)+ here") == f"key is {REDACTED} here"
    assert redactor.text("k3y-v@lue.(x)") == "k3y-v@lue.(x)"  # exact match only


def test_literals_run_before_rules_that_would_split_them() -> None:
    redactor = Redactor(literals={"literal:DB_TOKEN": "abc def ghi"})
    assert redactor.text("password=abc def ghi") == f"password={REDACTED}"


def test_literals_stay_when_defaults_are_off() -> None:
    redactor = Redactor(defaults=False, literals={"literal:TOKEN_ENV": "tok-123456"})
    assert redactor.text("x tok-123456 y") == f"x {REDACTED} y"
