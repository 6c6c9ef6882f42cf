"""Who is calling, and may they call this? Caller identity and access rights, deny by default.

In the spirit of X-Road: every caller — a ministry system or a provincial one — is bound in
``hub.yaml`` to one agency code, and authenticates with an API key (``X-API-Key``) or a mutual-TLS
client certificate. Only SHA-256 digests of keys and fingerprints of certificates live in YAML; a key
itself may come from an environment variable named there. Access rights are service patterns
(``rest:submit``, ``rest:read``, ``rest:read-all``, ``soap:<adapter>/<operation>``): whatever is not
listed is refused. ``rest:read`` shows a caller its own agency's messages only; ``rest:read-all``, which
no wildcard grants, shows every agency's.

Every refusal is logged on ``lienthong.audit`` with the agency (if known), the service, the reason
and the remote address — never a key, nor its digest.

The REST API (``rest.py``) and the SOAP gateway share this module: ``identify_request`` and
``authorize_request`` for a Starlette request, ``CallerRegistry`` for everything else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any, Final, Literal

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from lienthong.config.models import Caller, Configuration
from lienthong.errors import ConfigError, ConfigIssue, ForbiddenError, UnauthenticatedError

API_KEY_HEADER: Final = "X-API-Key"
#: The right to read every agency's messages over REST. Granted only when listed as such: no pattern
#: (``rest:*``, ``*``) grants it, so that widening a caller's rights never silently widens what it sees.
READ_ALL: Final = "rest:read-all"
#: Key in the ASGI scope state under which ``PeerCertificateMiddleware`` notes the client certificate.
CLIENT_CERT_STATE: Final = "client_cert_der"

audit = logging.getLogger("lienthong.audit")
_log = logging.getLogger("lienthong.auth")  # operators configure it by this name: it stays put

Method = Literal["api-key", "certificate"]


@dataclass(frozen=True)
class Identity:
    """A caller the hub recognised: the agency it acts for and how it proved it."""

    agency: str
    name: str
    method: Method

    def __str__(self) -> str:
        return f"{self.name} ({self.agency})"


def api_key_digest(key: str) -> str:
    """Hex SHA-256 of an API key, as written in ``api_key_sha256``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def certificate_fingerprint(der: bytes) -> str:
    """Hex SHA-256 of a DER certificate, as written in ``certificate_sha256``."""
    return hashlib.sha256(der).hexdigest()


def audit_refusal(
    reason: str,
    *,
    service: str | None,
    agency: str | None = None,
    remote: str | None = None,
    detail: str = "",
) -> None:
    """One audit line per refusal. Callers pass only what is safe to log: never a key or a digest."""
    audit.warning(
        "refused reason=%s agency=%s service=%s remote=%s%s",
        reason,
        agency or "-",
        service or "-",
        remote or "-",
        f" detail={detail!r}" if detail else "",
        extra={"reason": reason, "agency": agency, "service": service, "remote": remote, "detail": detail},
    )


def forbid(identity: Identity, service: str, message: str, *, remote: str | None = None) -> ForbiddenError:
    """Log a refusal that depends on the request itself (e.g. sending as another agency) and return
    the error to raise."""
    audit_refusal("forbidden", agency=identity.agency, service=service, remote=remote, detail=message)
    return ForbiddenError(message, detail={"agency": identity.agency, "service": service})


@dataclass(frozen=True)
class _Entry:
    identity_key: tuple[str, str]
    agency: str
    name: str
    services: tuple[str, ...]

    @cached_property
    def by_key(self) -> Identity:
        """The caller as recognised by its API key: one immutable object, made once."""
        return Identity(self.agency, self.name, "api-key")

    @cached_property
    def by_certificate(self) -> Identity:
        return Identity(self.agency, self.name, "certificate")


class CallerRegistry:
    """The callers from ``hub.yaml``, built once. Keys from ``api_key_env`` are read (and hashed) here.

    An unset ``api_key_env`` is not an error: that key simply does not exist. A caller left without any
    credential can never authenticate.
    """

    def __init__(self, callers: Iterable[Caller], environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._key_digests: list[tuple[bytes, _Entry]] = []
        self._cert_digests: list[tuple[bytes, _Entry]] = []
        self._entries: dict[tuple[str, str], _Entry] = {}
        issues: list[ConfigIssue] = []
        seen_keys: dict[str, str] = {}
        seen_certs: dict[str, str] = {}
        for i, caller in enumerate(callers):
            where = f"callers.{i}"
            entry = _Entry((caller.agency, caller.name), caller.agency, caller.name, tuple(caller.services))
            if entry.identity_key in self._entries:
                issues.append(_issue(where, f"caller {caller.name!r} of {caller.agency} is listed twice"))
                continue
            self._entries[entry.identity_key] = entry
            digests = list(caller.api_key_sha256)
            if caller.api_key_env and (key := env.get(caller.api_key_env)):
                digests.append(api_key_digest(key))
            elif caller.api_key_env:
                _log.info("caller %s (%s): %s is not set", caller.name, caller.agency, caller.api_key_env)
            for digest in dict.fromkeys(digests):
                if (other := seen_keys.setdefault(digest, caller.name)) != caller.name:
                    issues.append(_issue(where, f"an API key of {caller.name!r} is also one of {other!r}"))
                self._key_digests.append((bytes.fromhex(digest), entry))
            for fingerprint in dict.fromkeys(caller.certificate_sha256):
                if (other := seen_certs.setdefault(fingerprint, caller.name)) != caller.name:
                    issues.append(_issue(where, f"a certificate of {caller.name!r} is also one of {other!r}"))
                self._cert_digests.append((bytes.fromhex(fingerprint), entry))
        if issues:
            raise ConfigError(issues)

    def __len__(self) -> int:
        return len(self._entries)

    def identify(
        self,
        api_key: str | None,
        certificate_der: bytes | None,
        *,
        service: str | None = None,
        remote: str | None = None,
    ) -> Identity:
        """The caller these credentials belong to. Every credential presented must be known, and if
        both are presented they must name the same caller. ``service`` and ``remote`` only go into
        the audit line of a refusal."""

        def refuse(message: str, detail: str = "") -> UnauthenticatedError:
            audit_refusal("unauthenticated", service=service, remote=remote, detail=detail or message)
            return UnauthenticatedError(message)

        if api_key is None and certificate_der is None:
            raise refuse(f"no credential presented: send an {API_KEY_HEADER} header or a client certificate")
        by_key = by_cert = None
        if api_key is not None:
            by_key = _lookup(self._key_digests, hashlib.sha256(api_key.encode("utf-8")).digest())
            if by_key is None:
                raise refuse("the API key is not valid")
        if certificate_der is not None:
            fingerprint = hashlib.sha256(certificate_der).digest()
            by_cert = _lookup(self._cert_digests, fingerprint)
            if by_cert is None:
                raise refuse(
                    "the client certificate is not registered with this hub",
                    f"client certificate sha256={fingerprint.hex()} is not registered",
                )
        if by_key is not None and by_cert is not None and by_key is not by_cert:
            raise refuse("the API key and the client certificate belong to different callers")
        if by_cert is not None:
            return by_cert.by_certificate
        assert by_key is not None
        return by_key.by_key

    def recognise(self, api_key: str | None, certificate_der: bytes | None) -> Identity | None:
        """What :meth:`identify` answers when it accepts these credentials, else None, with no audit
        line: for a caller that, on None, calls :meth:`identify` to refuse (and log) with its words,
        and so needs the refusal's remote address only then. The same comparisons, each digest
        compared in constant time."""
        by_key = by_cert = None
        if api_key is not None:
            by_key = _lookup(self._key_digests, hashlib.sha256(api_key.encode("utf-8")).digest())
            if by_key is None:
                return None
        if certificate_der is not None:
            by_cert = _lookup(self._cert_digests, hashlib.sha256(certificate_der).digest())
            if by_cert is None or (by_key is not None and by_key is not by_cert):
                return None
            return by_cert.by_certificate
        return None if by_key is None else by_key.by_key

    def allows(self, identity: Identity, service: str) -> bool:
        entry = self._entries.get((identity.agency, identity.name))
        return entry is not None and any(fnmatchcase(service, p) for p in entry.services)

    def reads_all(self, identity: Identity) -> bool:
        """Whether this caller lists ``rest:read-all`` itself (see :data:`READ_ALL`)."""
        entry = self._entries.get((identity.agency, identity.name))
        return entry is not None and READ_ALL in entry.services

    def authorize(self, identity: Identity, service: str, *, remote: str | None = None) -> None:
        """Refuse (403) unless one of the caller's service patterns matches ``service``."""
        if not self.allows(identity, service):
            message = f"caller {identity.name} ({identity.agency}) may not call {service}"
            raise forbid(identity, service, message, remote=remote)


def _issue(key: str, message: str) -> ConfigIssue:
    return ConfigIssue(file="hub.yaml", line=None, column=None, key=key, message=message)


def _lookup(table: list[tuple[bytes, _Entry]], digest: bytes) -> _Entry | None:
    """Compare against every digest, in constant time each, without stopping at the first match."""
    found: _Entry | None = None
    for candidate, entry in table:
        if hmac.compare_digest(candidate, digest):
            found = entry
    return found


# ---------------------------------------------------------------- requests


def remote_address(conn: HTTPConnection) -> str | None:
    client = conn.client  # a new Address at each reading: read once
    return f"{client.host}:{client.port}" if client else None


def registry_of(conn: HTTPConnection) -> CallerRegistry:
    """The registry the app was built with (``app.state.callers``, set in ``create_app``)."""
    registry: CallerRegistry = conn.app.state.callers
    return registry


def client_certificate(scope: Scope) -> bytes | None:
    """DER of the TLS client certificate of this connection, if one was presented.

    The ASGI TLS extension (``client_cert_chain``, PEM, client first) wins when the server provides
    it; otherwise what ``PeerCertificateMiddleware`` noted from uvicorn's transport."""
    tls = scope.get("extensions", {}).get("tls") or {}
    if chain := tls.get("client_cert_chain"):
        return ssl.PEM_cert_to_DER_cert(chain[0])
    der = (scope.get("state") or {}).get(CLIENT_CERT_STATE)
    return der if isinstance(der, bytes) else None


def identify_request(conn: HTTPConnection, service: str | None = None) -> Identity:
    """Identify the caller of a request from its ``X-API-Key`` header and TLS client certificate."""
    return registry_of(conn).identify(
        conn.headers.get(API_KEY_HEADER),
        client_certificate(conn.scope),
        service=service,
        remote=remote_address(conn),
    )


def authorize_request(conn: HTTPConnection, identity: Identity, service: str) -> None:
    registry_of(conn).authorize(identity, service, remote=remote_address(conn))


def authenticate_request(conn: HTTPConnection, service: str) -> Identity:
    """Identify, then authorize for ``service``: the one call most endpoints need."""
    identity = identify_request(conn, service)
    authorize_request(conn, identity, service)
    return identity


# ---------------------------------------------------------------- serving TLS


def server_tls_options(config: Configuration, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """uvicorn's ``ssl_*`` options for ``hub.yaml``'s ``tls`` section; empty when TLS is not configured.

    With ``client_ca_file`` callers may present a certificate chaining to it (required when
    ``require_client_certificate``); the handshake proves they hold its key, the fingerprint in
    ``callers`` says who they are."""
    tls = config.hub.tls
    if tls is None:
        return {}
    env = os.environ if environ is None else environ
    password = None
    if tls.key_password_env is not None:
        password = env.get(tls.key_password_env)
        if password is None:
            raise ConfigError(
                [_issue("tls.key_password_env", f"environment variable {tls.key_password_env} is not set")]
            )
    if tls.require_client_certificate and tls.client_ca_file is None:
        raise ConfigError(
            [_issue("tls.require_client_certificate", "requiring client certificates needs client_ca_file")]
        )
    if tls.client_ca_file is None:
        cert_reqs = ssl.CERT_NONE
    else:
        cert_reqs = ssl.CERT_REQUIRED if tls.require_client_certificate else ssl.CERT_OPTIONAL
    return {
        "ssl_certfile": str(config.resolve(tls.certificate_file)),
        "ssl_keyfile": str(config.resolve(tls.key_file)),
        "ssl_keyfile_password": password,
        "ssl_ca_certs": str(config.resolve(tls.client_ca_file)) if tls.client_ca_file else None,
        "ssl_cert_reqs": cert_reqs,
    }


# ---------------------------------------------------------------- peer certificate


def note_peer_certificate(scope: Scope, send: Send) -> None:
    """Put the TLS client certificate (DER) into the scope state, if the server hides it.

    uvicorn (0.54) does not fill the ASGI TLS extension; its request cycles (h11, httptools) own the
    ``send`` callable and hold the connection's ``transport``, whose ``ssl_object`` knows the peer.
    This only works before any middleware wraps ``send``, so it must run outermost."""
    if scope["type"] not in ("http", "websocket"):
        return
    if (scope.get("extensions", {}).get("tls") or {}).get("client_cert_chain"):
        return
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if isinstance(ssl_object, ssl.SSLObject) else None
    state = scope.setdefault("state", {})
    if der:
        state[CLIENT_CERT_STATE] = der
    else:
        state.pop(CLIENT_CERT_STATE, None)


class PeerCertificateMiddleware:
    """Pure ASGI middleware running ``note_peer_certificate``; wrap the whole app with it (outermost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_peer_certificate(scope, send)
        await self.app(scope, receive, send)
