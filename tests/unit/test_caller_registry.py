"""CallerRegistry: who a credential belongs to, what that caller may call, and what the audit log says.

In memory, no sockets: the REST and TLS paths are in tests/e2e/test_auth.py.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lienthong.config.models import Caller, Configuration, HubSettings, RoutesConfig
from lienthong.errors import ConfigError, ForbiddenError, HubError, UnauthenticatedError
from lienthong.intake.callers import (
    CLIENT_CERT_STATE,
    CallerRegistry,
    Identity,
    api_key_digest,
    client_certificate,
    note_peer_certificate,
    server_tls_options,
)

MOTCUA = "000.00.00.H49"
LAND = "000.00.00.G13"
KEY = "motcua-key-0123456789"
OLD_KEY = "motcua-key-old"
LAND_KEY = "land-key-from-the-environment"
CERT_DER = b"0\x82 pretend DER certificate"


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def callers() -> list[Caller]:
    return [
        Caller(
            agency=MOTCUA,
            name="Một cửa",
            api_key_sha256=[sha256(KEY), sha256(OLD_KEY).upper()],
            services=["rest:submit", "rest:read"],
        ),
        Caller(
            agency=LAND,
            name="Land registry",
            api_key_env="HUB_LAND_API_KEY",
            certificate_sha256=[":".join(f"{b:02X}" for b in hashlib.sha256(CERT_DER).digest())],
            services=["soap:land/*"],
        ),
        Caller(agency="000.00.00.X01", name="Nobody", api_key_env="HUB_UNSET_KEY", services=["*"]),
    ]


@pytest.fixture
def registry() -> CallerRegistry:
    return CallerRegistry(callers(), environ={"HUB_LAND_API_KEY": LAND_KEY})


def test_an_api_key_identifies_its_caller(registry: CallerRegistry) -> None:
    assert registry.identify(KEY, None) == Identity(MOTCUA, "Một cửa", "api-key")
    assert api_key_digest(KEY) == sha256(KEY)


def test_old_and_new_keys_both_work_during_rotation(registry: CallerRegistry) -> None:
    assert registry.identify(OLD_KEY, None).agency == MOTCUA
    assert registry.identify(KEY, None).agency == MOTCUA


def test_a_key_from_the_named_environment_variable(registry: CallerRegistry) -> None:
    assert registry.identify(LAND_KEY, None) == Identity(LAND, "Land registry", "api-key")
    without = CallerRegistry(callers(), environ={})
    with pytest.raises(UnauthenticatedError):
        without.identify(LAND_KEY, None)


def test_a_certificate_identifies_its_caller_by_fingerprint(registry: CallerRegistry) -> None:
    assert registry.identify(None, CERT_DER) == Identity(LAND, "Land registry", "certificate")
    assert registry.identify(LAND_KEY, CERT_DER).method == "certificate"


@pytest.mark.parametrize(
    ("key", "cert", "reason"),
    [
        (None, None, "no credential presented"),
        ("wrong", None, "API key is not valid"),
        ("", None, "API key is not valid"),
        (None, b"another certificate", "certificate is not registered"),
        (KEY, b"another certificate", "certificate is not registered"),
        ("wrong", CERT_DER, "API key is not valid"),
        (KEY, CERT_DER, "different callers"),
    ],
)
def test_unknown_or_missing_credentials_are_refused(
    registry: CallerRegistry, key: str | None, cert: bytes | None, reason: str
) -> None:
    with pytest.raises(UnauthenticatedError, match=reason) as info:
        registry.identify(key, cert)
    assert (info.value.http_status, info.value.code) == (401, "unauthenticated")
    assert isinstance(info.value, HubError)


def test_a_caller_without_any_credential_can_never_authenticate(registry: CallerRegistry) -> None:
    # Its api_key_env is unset: not an error, but nothing identifies it (not even an empty key).
    for key in ("", "HUB_UNSET_KEY", sha256("")):
        with pytest.raises(UnauthenticatedError):
            registry.identify(key, None)
    assert len(registry) == 3


def test_an_empty_environment_variable_is_no_key() -> None:
    registry = CallerRegistry(callers(), environ={"HUB_UNSET_KEY": ""})
    with pytest.raises(UnauthenticatedError):
        registry.identify("", None)


def test_access_rights_are_patterns_and_deny_by_default(registry: CallerRegistry) -> None:
    motcua = registry.identify(KEY, None)
    land = registry.identify(LAND_KEY, None)
    registry.authorize(motcua, "rest:submit")
    registry.authorize(motcua, "rest:read")
    registry.authorize(land, "soap:land/CapNhatTrangThai")
    for identity, service in [
        (motcua, "soap:land/CapNhatTrangThai"),
        (land, "rest:submit"),
        (land, "soap:landx/op"),
        (land, "SOAP:land/op"),
    ]:
        assert not registry.allows(identity, service)
        with pytest.raises(ForbiddenError, match=f"{identity.agency}.*may not call {service}") as info:
            registry.authorize(identity, service)
        assert (info.value.http_status, info.value.code) == (403, "forbidden")


def test_an_identity_the_registry_does_not_know_is_forbidden(registry: CallerRegistry) -> None:
    with pytest.raises(ForbiddenError):
        registry.authorize(Identity(MOTCUA, "Someone else", "api-key"), "rest:submit")


def test_refusals_are_audited_without_secrets(
    registry: CallerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(UnauthenticatedError):
        registry.identify("wrong-key-value", None, service="rest:submit", remote="10.0.0.7:5000")
    with pytest.raises(ForbiddenError):
        registry.authorize(registry.identify(KEY, None), "soap:land/x", remote="10.0.0.8:1")
    audit = [r for r in caplog.records if r.name == "lienthong.audit"]
    assert len(audit) == 2
    first, second = (r.getMessage() for r in audit)
    assert "reason=unauthenticated" in first and "service=rest:submit" in first and "10.0.0.7:5000" in first
    assert f"agency={MOTCUA}" in second and "service=soap:land/x" in second and "reason=forbidden" in second
    logged = caplog.text
    for secret in ("wrong-key-value", sha256("wrong-key-value"), KEY, sha256(KEY), LAND_KEY):
        assert secret not in logged


def test_an_unknown_certificate_is_logged_by_fingerprint(
    registry: CallerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(UnauthenticatedError):
        registry.identify(None, b"stranger")
    assert sha256(b"stranger") in caplog.text  # so an operator can add it to certificate_sha256


def test_one_key_for_two_callers_is_a_configuration_error() -> None:
    twice = [
        Caller(agency=MOTCUA, name="A", api_key_sha256=[sha256(KEY)]),
        Caller(agency=LAND, name="B", api_key_sha256=[sha256(KEY)]),
        Caller(agency=LAND, name="B"),
    ]
    with pytest.raises(ConfigError) as info:
        CallerRegistry(twice, environ={})
    assert len(info.value.issues) == 2
    assert KEY not in str(info.value) and sha256(KEY) not in str(info.value)


def test_the_asgi_tls_extension_wins_over_the_noted_certificate() -> None:
    pem = ssl.DER_cert_to_PEM_cert(CERT_DER)
    scope: dict[str, Any] = {
        "extensions": {"tls": {"client_cert_chain": [pem]}},
        "state": {CLIENT_CERT_STATE: b"other"},
    }
    assert client_certificate(scope) == CERT_DER
    assert client_certificate({"state": {CLIENT_CERT_STATE: b"noted"}}) == b"noted"
    assert client_certificate({"type": "http"}) is None


class _FakeSsl(ssl.SSLObject):
    def __init__(self, der: bytes | None) -> None:  # no super().__init__: SSLObject has no public one
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> Any:
        assert binary_form
        return self.der


def test_the_peer_certificate_is_noted_from_the_servers_transport() -> None:
    def transport(der: bytes | None) -> Any:
        return SimpleNamespace(get_extra_info=lambda name: _FakeSsl(der) if name == "ssl_object" else None)

    class Cycle:
        def __init__(self, der: bytes | None) -> None:
            self.transport = transport(der)

        async def send(self, message: Any) -> None:
            pass

    scope: dict[str, Any] = {"type": "http"}
    note_peer_certificate(scope, Cycle(CERT_DER).send)
    assert client_certificate(scope) == CERT_DER
    note_peer_certificate(scope, Cycle(None).send)
    assert client_certificate(scope) is None

    async def plain_send(message: Any) -> None:
        pass

    note_peer_certificate(scope, plain_send)  # another server: nothing noted, nothing fails
    assert client_certificate(scope) is None


def _configuration(tmp_path: Path, tls: dict[str, Any] | None) -> Configuration:
    hub = HubSettings.model_validate({"hub": {"name": "t", "agency": MOTCUA}, "tls": tls})
    return Configuration(root=tmp_path, config_dir=tmp_path, hub=hub, adapters={}, routes=RoutesConfig())


def test_tls_options_for_uvicorn(tmp_path: Path) -> None:
    assert server_tls_options(_configuration(tmp_path, None)) == {}
    tls = {
        "certificate_file": "c.pem",
        "key_file": "/k.pem",
        "key_password_env": "PW",
        "client_ca_file": "ca.pem",
    }
    options = server_tls_options(_configuration(tmp_path, tls), environ={"PW": "secret"})
    assert options == {
        "ssl_certfile": str(tmp_path / "c.pem"),
        "ssl_keyfile": "/k.pem",
        "ssl_keyfile_password": "secret",
        "ssl_ca_certs": str(tmp_path / "ca.pem"),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
    }
    required = server_tls_options(
        _configuration(tmp_path, {**tls, "require_client_certificate": True}), {"PW": ""}
    )
    assert required["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    plain = server_tls_options(
        _configuration(tmp_path, {"certificate_file": "c.pem", "key_file": "k.pem"}), {}
    )
    assert (plain["ssl_cert_reqs"], plain["ssl_ca_certs"], plain["ssl_keyfile_password"]) == (
        ssl.CERT_NONE,
        None,
        None,
    )


def test_tls_options_refuse_what_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PW is not set"):
        server_tls_options(
            _configuration(tmp_path, {"certificate_file": "c", "key_file": "k", "key_password_env": "PW"}), {}
        )
    with pytest.raises(ConfigError, match="needs client_ca_file"):
        server_tls_options(
            _configuration(
                tmp_path, {"certificate_file": "c", "key_file": "k", "require_client_certificate": True}
            ),
            {},
        )


@pytest.mark.parametrize("key", [None, KEY, OLD_KEY, LAND_KEY, "wrong", "", sha256(KEY)])
@pytest.mark.parametrize("cert", [None, CERT_DER, b"0\x82 another certificate"])
def test_recognise_answers_as_identify_without_an_audit_line(
    registry: CallerRegistry, key: str | None, cert: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    # The lean submit asks recognise first and identify only when it says None: the two must agree
    # on every pair of credentials, and recognise must leave no refusal behind.
    with caplog.at_level(logging.INFO, logger="lienthong.audit"):
        recognised = registry.recognise(key, cert)
    assert not caplog.records
    try:
        identified: Identity | None = registry.identify(key, cert)
    except UnauthenticatedError:
        identified = None
    assert recognised == identified
    if identified is not None:  # the same immutable object each time: nothing to build per request
        assert registry.identify(key, cert) is identified
