"""Redaction: secrets never reach the file, whatever field or chunk they arrive in."""

from __future__ import annotations

import string
from pathlib import Path

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
