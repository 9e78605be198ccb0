"""Credentials and TLS from the config, secrets kept out of messages, and ``status`` errors."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from console.cli import cli
from console.config import Config
from console.source_errors import SourceConfigError
from console.telemetry.poller import TelemetryPoller
from tests.telemetry.fault_server import FaultServer

TOKEN = "s3cr3t-token-value"


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


def sources(url: str, **auth: object) -> Config:
    source = {"url": url, "timeout": "1s", **auth}
    return Config.model_validate(
        {
            "prometheus": source,
            "alertmanager": source,
            "panels": [{"kind": "stat", "query": "sum(up)"}],
        }
    )


async def test_bearer_token_from_env_reaches_both_sources(
    fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    config = sources(fault.url, bearer_token_env="PROM_TOKEN")
    async with TelemetryPoller(config) as poller:
        assert TOKEN not in repr(poller.prometheus) + repr(poller.prometheus.access)  # type: ignore[union-attr]
        state = await poller.poll_once()
    assert state.verdict() == "healthy"
    assert fault.authorization["/api/v1/query"] == f"Bearer {TOKEN}"
    assert fault.authorization["/api/v2/alerts"] == f"Bearer {TOKEN}"


async def test_basic_auth_password_from_file(fault: FaultServer, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("hunter2\n")
    config = sources(fault.url, basic_auth={"username": "ops", "password_file": str(secret)})
    async with TelemetryPoller(config) as poller:
        await poller.poll_once()
    expected = "Basic " + base64.b64encode(b"ops:hunter2").decode()
    assert fault.authorization["/api/v1/query"] == expected
    assert fault.authorization["/api/v2/alerts"] == expected


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (
            {"bearer_token_env": "NO_SUCH_VAR_FOR_TESTS"},
            "bearer_token_env names $NO_SUCH_VAR_FOR_TESTS, which is not set in the environment",
        ),
        ({"bearer_token_file": "/nonexistent/token"}, "cannot read bearer_token_file"),
        (
            {"tls": {"ca_file": "/nonexistent/ca.pem"}},
            "cannot load the TLS files",
        ),
    ],
)
def test_unusable_credentials_are_named(auth: dict[str, object], message: str) -> None:
    url = "https://127.0.0.1:9" if "tls" in auth else "http://127.0.0.1:9"
    with pytest.raises(SourceConfigError) as caught:
        TelemetryPoller(sources(url, **auth))
    assert str(caught.value).startswith(f"prometheus {url}: ")
    assert message in str(caught.value)


def test_an_unauthorized_reply_never_shows_the_token(
    fault: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault.mode = "unauthorized"
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    path = tmp_path / "console.yaml"
    path.write_text(
        f"prometheus: {{url: '{fault.url}', bearer_token_env: PROM_TOKEN}}\n"
        f"alertmanager: {{url: '{fault.url}', bearer_token_env: PROM_TOKEN}}\n"
    )
    result = CliRunner().invoke(cli, ["status", "--json", "--config", str(path)])
    assert result.exit_code == 2
    assert "not authorized" in result.output
    assert TOKEN not in result.output


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_tls_with_the_configured_ca_and_a_clear_error_without(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = FaultServer(tls=context)
    try:
        trusted = sources(server.url, tls={"ca_file": str(cert_file)})
        async with TelemetryPoller(trusted) as poller:
            state = await poller.poll_once()
        assert state.verdict() == "healthy", state
        async with TelemetryPoller(sources(server.url)) as poller:
            state = await poller.poll_once()
        assert state.verdict() == "unreachable"
        errors = {s.name: s.error or "" for s in state.sources}
        assert errors["prometheus"].startswith("TLS error")
        assert errors["alertmanager"].startswith("TLS error")
        assert "certificate verify failed: self-signed certificate" in errors["prometheus"]
        assert "certificate verify failed: self-signed certificate" in errors["alertmanager"]
    finally:
        server.close()


def test_status_without_a_config_says_there_is_nothing_to_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INCIDENT_CONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert "no console.yaml found" in result.output
    assert "nothing to poll" in result.output


def test_status_with_no_source_configured(tmp_path: Path) -> None:
    path = tmp_path / "console.yaml"
    path.write_text("profile: dev\npanels: [{kind: alerts}]\n")
    result = CliRunner().invoke(cli, ["status", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path} configures no telemetry source" in result.output


def test_status_prints_every_config_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "console.yaml"
    path.write_text(
        "prometheus: {url: 'ftp://x'}\n"
        "refresh: soon\n"
        "panels:\n"
        "  - {kind: quorum, query: q, need: 4, of: 3}\n"
    )
    result = CliRunner().invoke(cli, ["status", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1: expected an http:// or https:// URL" in result.output
    assert f"{path}:2: " in result.output and "bad duration 'soon'" in result.output
    assert f"{path}:4: need (4) cannot be more than of (3)" in result.output
