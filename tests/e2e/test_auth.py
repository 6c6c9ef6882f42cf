"""Caller identity and access rights over the wire: API keys, mutual TLS, 401/403 and the audit log.

Hubs run under uvicorn on loopback (HTTPS with throwaway certificates for the mutual-TLS tests), and
every assertion is what a caller or an operator sees: the status, the problem+json body, the
``WWW-Authenticate`` header, what was stored and what the ``lienthong.audit`` log says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ruamel.yaml import YAML
from support import (
    MOTCUA_API_KEY,
    ProcessGroup,
    build_config_dir,
    free_port,
    hub_env,
    sqlite_url,
    wait_for_port,
)

from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.intake.callers import server_tls_options

PROVINCE = "000.00.00.H49"
LAND = "000.00.00.G13"
PROBLEM_JSON = "application/problem+json"
SUBMIT_READ = ["rest:submit", "rest:read"]

HubFactory = Callable[..., Any]


def sha256(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def caller(agency: str = PROVINCE, name: str = "Một cửa", **fields: Any) -> dict[str, Any]:
    return {"agency": agency, "name": name, "services": SUBMIT_READ, **fields}


def dossier(sender: str = PROVINCE, index: int = 0) -> dict[str, object]:
    s = sample_dossiers(index + 1)[index]
    return dossier_body(s.dossier_code, s.procedure_code, s.xml) | {"sender": sender}


def problem(response: httpx.Response, status: int, code: str, english: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:lienthong:problem:{code}"
    vietnamese, english_title = body["title"].split(" / ")
    assert english_title == english
    assert not vietnamese.isascii()
    return body


def unauthenticated(response: httpx.Response) -> dict[str, Any]:
    body = problem(response, 401, "unauthenticated", "Not authenticated")
    assert body["title"] == "Chưa xác thực / Not authenticated"
    assert response.headers["www-authenticate"] == "ApiKey"
    return body


def forbidden(response: httpx.Response) -> dict[str, Any]:
    body = problem(response, 403, "forbidden", "Forbidden")
    assert body["title"] == "Không có quyền / Forbidden"
    return body


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lienthong.audit"]


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # everything, so the secrecy checks see every line
    return caplog


# ---------------------------------------------------------------- API keys


def test_no_key_is_401_with_a_challenge_and_an_audit_line(
    hub_server: Any, audit: pytest.LogCaptureFixture
) -> None:
    with httpx.Client(base_url=hub_server.url, timeout=10) as anonymous:
        response = anonymous.post("/api/v1/messages", json=dossier())
    body = unauthenticated(response)
    assert "X-API-Key" in body["detail"]
    assert hub_server.count_messages() == 0
    (line,) = audit_lines(audit)
    assert "reason=unauthenticated" in line
    assert "service=rest:submit" in line
    assert "remote=127.0.0.1:" in line


def test_every_route_but_health_and_docs_needs_a_caller(hub_server: Any) -> None:
    with httpx.Client(base_url=hub_server.url, timeout=10) as anonymous:
        accepted = hub_server.submit(dossier()).json()
        mid = accepted["message_id"]
        for path in (f"/api/v1/messages/{mid}", f"/api/v1/messages/{mid}/payload", "/api/v1/messages"):
            unauthenticated(anonymous.get(path))
        for path in ("/healthz", "/docs", "/openapi.json", "/redoc"):
            assert anonymous.get(path).status_code == 200, path
        spec = anonymous.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    assert spec["paths"]["/api/v1/messages"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_a_wrong_key_is_401(hub_server: Any, audit: pytest.LogCaptureFixture) -> None:
    response = hub_server.client.post(
        "/api/v1/messages", json=dossier(), headers={"X-API-Key": "not-the-key"}
    )
    unauthenticated(response)
    assert hub_server.count_messages() == 0
    assert "not-the-key" not in response.text
    assert all("not-the-key" not in line for line in audit_lines(audit))


def test_a_caller_without_the_service_is_403(
    hub_factory: HubFactory, audit: pytest.LogCaptureFixture
) -> None:
    hub = hub_factory(
        callers=[
            caller(api_key_sha256=[sha256("reader-key")], services=["rest:read"]),
            caller(LAND, "Land registry", api_key_sha256=[sha256("land-key")], services=["soap:land/*"]),
        ]
    )
    body = forbidden(hub.client.post("/api/v1/messages", json=dossier(), headers={"X-API-Key": "reader-key"}))
    assert body["detail"] == f"caller Một cửa ({PROVINCE}) may not call rest:submit"
    assert hub.client.get("/api/v1/messages", headers={"X-API-Key": "reader-key"}).status_code == 200
    forbidden(hub.client.get("/api/v1/messages", headers={"X-API-Key": "land-key"}))
    assert hub.count_messages() == 0
    lines = audit_lines(audit)
    assert len(lines) == 2
    assert f"agency={PROVINCE}" in lines[0] and "service=rest:submit" in lines[0]
    assert f"agency={LAND}" in lines[1] and "service=rest:read" in lines[1]


def test_sending_as_another_agency_is_403_and_nothing_is_stored(
    hub_server: Any, audit: pytest.LogCaptureFixture
) -> None:
    body = forbidden(hub_server.submit(dossier(sender=LAND)))
    assert body["detail"] == f"caller {PROVINCE} may not send as {LAND}"
    assert hub_server.count_messages() == 0
    assert hub_server.client.get("/api/v1/messages").json() == []
    (line,) = audit_lines(audit)
    assert f"agency={PROVINCE}" in line and "reason=forbidden" in line and LAND in line


def test_two_digests_let_a_key_be_rotated(hub_factory: HubFactory) -> None:
    hub = hub_factory(callers=[caller(api_key_sha256=[sha256("key-2026"), sha256("key-2025")])], headers={})
    for n, key in enumerate(("key-2025", "key-2026")):
        response = hub.client.post("/api/v1/messages", json=dossier(index=n), headers={"X-API-Key": key})
        assert response.status_code == 202, response.text
    unauthenticated(
        hub.client.post("/api/v1/messages", json=dossier(index=2), headers={"X-API-Key": "key-2024"})
    )
    assert hub.count_messages() == 2


def test_a_key_from_the_variable_named_in_api_key_env(hub_factory: HubFactory) -> None:
    callers = [caller(api_key_env="HUB_TEST_ONE_STOP_KEY")]
    hub = hub_factory(callers=callers, environ={"HUB_TEST_ONE_STOP_KEY": "from-env"}, headers={})
    accepted = hub.client.post("/api/v1/messages", json=dossier(), headers={"X-API-Key": "from-env"})
    assert accepted.status_code == 202, accepted.text
    # Unset: not a configuration error, the hub starts, but nothing identifies that caller.
    unset = hub_factory(callers=callers, environ={}, headers={})
    unauthenticated(unset.client.post("/api/v1/messages", json=dossier(), headers={"X-API-Key": "from-env"}))
    unauthenticated(unset.client.post("/api/v1/messages", json=dossier(), headers={"X-API-Key": ""}))


def test_the_key_never_appears_in_logs_or_responses(
    hub_factory: HubFactory, audit: pytest.LogCaptureFixture
) -> None:
    key = "s3cret-motcua-key-do-not-log"
    hub = hub_factory(callers=[caller(api_key_sha256=[sha256(key)], services=["rest:submit"])], headers={})
    auth = {"X-API-Key": key}
    answers = [
        hub.client.post("/api/v1/messages", json=dossier(), headers=auth),
        hub.client.post("/api/v1/messages", json=dossier(sender=LAND, index=1), headers=auth),
        hub.client.get("/api/v1/messages", headers=auth),
        hub.client.post("/api/v1/messages", json=dossier(), headers={"X-API-Key": key + "x"}),
        hub.client.post("/api/v1/messages", json={"bad": "body"}, headers=auth),
    ]
    assert [r.status_code for r in answers] == [202, 403, 403, 401, 422]
    assert len(audit_lines(audit)) == 4  # every refusal, the 422 included
    for secret in (key, sha256(key), key + "x", sha256(key + "x")):
        assert secret not in audit.text
        for r in answers:
            assert secret not in r.text
            assert secret not in str(r.headers)


def test_hub_send_sends_the_api_key(hub_server: Any, hub_cli: Callable[..., Any], tmp_path: Path) -> None:
    payload = tmp_path / "hoso.xml"
    payload.write_bytes(sample_dossiers(1)[0].xml)
    args = ("send", payload, "--url", hub_server.url, "--sender", PROVINCE, "--procedure", "1.004227")
    refused = hub_cli(*args, "--api-key", "")
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr and "Not authenticated" in refused.stderr
    sent = hub_cli(*args, "--api-key", MOTCUA_API_KEY)  # HUB_API_KEY holds the same by default
    assert sent.returncode == 0, sent.stderr
    assert hub_server.count_messages() == 1


def test_hub_callers_add_key_prints_a_key_and_its_digest(hub_cli: Callable[..., Any]) -> None:
    result = hub_cli("callers", "add-key", PROVINCE)
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    (key,) = [line for line in lines if re.fullmatch(r"[A-Za-z0-9_-]{43}", line)]
    digest_line = next(line for line in lines if line.startswith("api_key_sha256:"))
    assert digest_line == f'api_key_sha256: ["{sha256(key)}"]'
    again = hub_cli("callers", "add-key", PROVINCE)
    assert key not in again.stdout


# ---------------------------------------------------------------- mutual TLS


@dataclass(frozen=True)
class Pki:
    """Throwaway certificates: the hub's, a client CA with two clients, and a stranger's own CA."""

    dir: Path
    listed_fingerprint: str

    def path(self, name: str) -> Path:
        return self.dir / name

    def client(self, who: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.path("server-ca.pem"))
        if who is not None:
            context.load_cert_chain(self.path(f"{who}.pem"), self.path(f"{who}.key"))
        return context


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None
) -> None:
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        (directory / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    server_ca_key, client_ca_key, stranger_ca_key = _key(), _key(), _key()
    _write(directory, "server-ca", _certificate("Hub test server CA", server_ca_key, None, ca=True), None)
    _write(directory, "client-ca", _certificate("Hub test client CA", client_ca_key, None, ca=True), None)
    server_key = _key()
    server = _certificate("127.0.0.1", server_key, ("Hub test server CA", server_ca_key), server=True)
    _write(directory, "server", server, server_key)
    fingerprint = ""
    for who in ("listed", "unlisted"):
        key = _key()
        cert = _certificate(f"motcua-{who}", key, ("Hub test client CA", client_ca_key))
        _write(directory, who, cert, key)
        if who == "listed":
            fingerprint = cert.fingerprint(hashes.SHA256()).hex(":")
    stranger_key = _key()
    stranger = _certificate("motcua-stranger", stranger_key, ("Stranger CA", stranger_ca_key))
    _write(directory, "stranger", stranger, stranger_key)
    return Pki(directory, fingerprint)


def _tls_hub(
    hub_factory: HubFactory, project_factory: Any, land_sim: Any, pki: Pki, *, required: bool
) -> Any:
    project = project_factory(
        land_sim.url,
        callers=[
            caller(certificate_sha256=[pki.listed_fingerprint]),
            caller(LAND, "Land registry", api_key_sha256=[sha256("land-key")], services=["rest:read"]),
        ],
    )
    project.update(
        "hub.yaml",
        {
            "tls": {
                "certificate_file": str(pki.path("server.pem")),
                "key_file": str(pki.path("server.key")),
                "client_ca_file": str(pki.path("client-ca.pem")),
                "require_client_certificate": required,
            }
        },
    )
    options = server_tls_options(project.load(), environ={})
    hub = hub_factory(project, ssl=options, headers={}, verify=pki.client(None))
    assert hub.url.startswith("https://127.0.0.1:")
    return hub


def _client(hub: Any, pki: Pki, who: str | None) -> httpx.Client:
    return httpx.Client(base_url=hub.url, verify=pki.client(who), timeout=10)


def test_a_listed_client_certificate_identifies_its_caller(
    hub_factory: HubFactory, project_factory: Any, land_sim: Any, pki: Pki
) -> None:
    hub = _tls_hub(hub_factory, project_factory, land_sim, pki, required=False)
    with _client(hub, pki, "listed") as client:
        accepted = client.post("/api/v1/messages", json=dossier())
        assert accepted.status_code == 202, accepted.text
        assert client.get(accepted.json()["status_url"]).json()["sender"] == PROVINCE
        # Identified as the one-stop system, not just "some certificate": it still may not send as G13.
        forbidden_body = forbidden(client.post("/api/v1/messages", json=dossier(sender=LAND, index=1)))
        assert forbidden_body["detail"] == f"caller {PROVINCE} may not send as {LAND}"


def test_without_a_certificate_an_api_key_still_works_over_https(
    hub_factory: HubFactory, project_factory: Any, land_sim: Any, pki: Pki
) -> None:
    hub = _tls_hub(hub_factory, project_factory, land_sim, pki, required=False)
    with _client(hub, pki, None) as client:
        unauthenticated(client.get("/api/v1/messages"))
        assert client.get("/api/v1/messages", headers={"X-API-Key": "land-key"}).status_code == 200


def test_a_valid_but_unlisted_certificate_is_401(
    hub_factory: HubFactory, project_factory: Any, land_sim: Any, pki: Pki, audit: pytest.LogCaptureFixture
) -> None:
    hub = _tls_hub(hub_factory, project_factory, land_sim, pki, required=False)
    with _client(hub, pki, "unlisted") as client:
        unauthenticated(client.post("/api/v1/messages", json=dossier()))
        # A presented certificate must be known, even beside a valid key.
        unauthenticated(client.get("/api/v1/messages", headers={"X-API-Key": "land-key"}))
    unlisted = x509.load_pem_x509_certificate(pki.path("unlisted.pem").read_bytes())
    assert unlisted.fingerprint(hashes.SHA256()).hex() in audit_lines(audit)[0]
    assert hub.count_messages() == 0


def test_a_certificate_from_another_ca_is_refused_at_the_handshake(
    hub_factory: HubFactory, project_factory: Any, land_sim: Any, pki: Pki, audit: pytest.LogCaptureFixture
) -> None:
    hub = _tls_hub(hub_factory, project_factory, land_sim, pki, required=False)
    with _client(hub, pki, "stranger") as client, pytest.raises(httpx.TransportError):
        client.get("/healthz")
    assert audit_lines(audit) == [], "refused before any HTTP request reached the hub"
    assert hub.count_messages() == 0


def test_a_required_certificate_is_refused_when_missing(
    hub_factory: HubFactory, project_factory: Any, land_sim: Any, pki: Pki
) -> None:
    hub = _tls_hub(hub_factory, project_factory, land_sim, pki, required=True)
    with _client(hub, pki, None) as client, pytest.raises(httpx.TransportError):
        client.get("/healthz")
    with _client(hub, pki, "listed") as client:
        assert client.get("/api/v1/messages").status_code == 200


@pytest.mark.slow
def test_hub_serve_speaks_mutual_tls(pki: Pki, land_sim: Any, tmp_path: Path) -> None:
    port = free_port()
    tls = {
        "certificate_file": str(pki.path("server.pem")),
        "key_file": str(pki.path("server.key")),
        "client_ca_file": str(pki.path("client-ca.pem")),
    }
    config = build_config_dir(tmp_path / "config", hub={"api": {"port": port}, "tls": tls})
    callers = YAML().load(config / "hub.yaml")
    callers["callers"][0]["certificate_sha256"] = [pki.listed_fingerprint]
    YAML().dump(callers, config / "hub.yaml")
    env = hub_env(database_url=sqlite_url(tmp_path / "hub.db"), land_endpoint=land_sim.url)
    with ProcessGroup(tmp_path / "logs") as group:
        serve = group.start("serve", ["serve", "-c", str(config)], env)
        wait_for_port(port, alive=serve.alive)
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=pki.client("listed"), timeout=10) as c:
            accepted = c.post("/api/v1/messages", json=dossier())
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["status_url"].startswith(f"https://127.0.0.1:{port}/")
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=pki.client(None), timeout=10) as c:
            assert c.get("/api/v1/messages", headers={"X-API-Key": MOTCUA_API_KEY}).status_code == 200
            unauthenticated(c.get("/api/v1/messages"))
