"""RFC 3161 timestamps on tree heads: a time-stamping authority (TSA) the hub does not run dates each head.

Why: a signed head proves what the hub said, not *when* — the hub's own clock and key are the operator's.
A TSA's token over the head's hash shows that the head existed at the TSA's time, so a log rewritten later
cannot be passed off with heads dated before the rewrite.

What is asked: the SHA-256 of the head's canonical bytes, so the token's message imprint *is* the head's
hash (``TreeHead.hash()``). What is kept: the whole TimeStampResp, byte for byte, as the TSA sent it, so
the verification can be repeated years later (when the TSA's certificate has expired, it is checked as of
the token's time, as RFC 3161 intends).

Parsing and verification are rfc3161-client's (Trail of Bits; it refuses certificates injected into the
token to impersonate the TSA, GHSA-3xxc-pwj6-jgrj); this module decides what the hub trusts and turns the
library's answers into :class:`~lienthong.errors.TimestampError` naming the head. No database, no
configuration: the bundle verifier runs this on an auditor's machine.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpx
from asn1crypto import tsp
from cryptography import x509
from rfc3161_client import (
    PKIStatus,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from lienthong.errors import TimestampError

__all__ = [
    "QUERY_TYPE",
    "REPLY_TYPE",
    "HttpTsaClient",
    "StampedTime",
    "build_request",
    "verify_timestamp",
]

QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"
_SHA256_OID: Final = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


@dataclass(frozen=True)
class StampedTime:
    """What a verified token says: the TSA's time, its serial and the signer's subject."""

    gen_time: dt.datetime
    serial_number: int
    tsa: str


def build_request(digest: bytes, *, nonce: int | None = None) -> bytes:
    """A DER TimeStampReq whose message imprint is ``digest`` (a head's SHA-256 hash, as it is), with a
    nonce and asking for the TSA's certificate in the token so the token verifies on its own.

    Written with asn1crypto because rfc3161-client's builder only hashes data itself, and the hub stamps
    the head hash directly: then the token's imprint *is* the hash the next head names."""
    if len(digest) != 32:
        raise ValueError("a head hash is 32 bytes (SHA-256)")
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
            "nonce": secrets.randbits(63) if nonce is None else nonce,
            "cert_req": True,
        }
    )
    return bytes(request.dump())


def _decode(token: bytes, what: str) -> TimeStampResponse:
    try:
        return decode_timestamp_response(token)
    except Exception as exc:  # any parser error on untrusted bytes means: not a token
        raise TimestampError(
            f"the {what} is not a readable RFC 3161 response: {exc}", reason="unreadable", what=what
        ) from exc


class HttpTsaClient:
    """Asks one TSA over HTTP (RFC 3161 §3.4: POST ``application/timestamp-query``).

    The answer is checked before it is returned (status granted, imprint of *our* data, *our* nonce), so a
    confused or hostile server cannot hand back a token for something else; its signature and the TSA's
    trust are :func:`verify_timestamp`'s business, repeated by anyone later.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self._client = client
        self._timeout = timeout

    def stamp(self, digest: bytes, *, what: str = "head") -> bytes:
        """The TimeStampResp bytes over ``digest`` (a head's hash), as the TSA sent them."""
        nonce = secrets.randbits(63)
        request = build_request(digest, nonce=nonce)
        headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
        try:
            if self._client is not None:
                answer = self._client.post(self.url, content=request, headers=headers)
            else:
                with httpx.Client(timeout=self._timeout) as client:
                    answer = client.post(self.url, content=request, headers=headers)
        except httpx.HTTPError as exc:
            raise TimestampError(
                f"the time-stamping authority at {self.url} cannot be reached: {exc}",
                reason="tsa-unreachable",
                what=what,
            ) from exc
        if answer.status_code != 200:
            raise TimestampError(
                f"the time-stamping authority answered HTTP {answer.status_code}",
                reason="tsa-refused",
                what=what,
            )
        token = answer.content
        response = _decode(token, f"timestamp of the {what}")
        if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            raise TimestampError(
                f"the time-stamping authority refused: {' '.join(response.status_string)}",
                reason="tsa-refused",
                what=what,
            )
        imprint = response.tst_info.message_imprint
        if imprint.hash_algorithm != _SHA256_OID or imprint.message != digest:
            raise TimestampError(
                "the time-stamping authority stamped something else", reason="imprint-mismatch", what=what
            )
        if response.tst_info.nonce != nonce:
            raise TimestampError(
                "the time-stamping authority answered another request", reason="nonce-mismatch", what=what
            )
        return token


def verify_timestamp(
    token: bytes,
    *,
    roots: Sequence[x509.Certificate],
    data: bytes | None = None,
    digest: bytes | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    tsa_certificate: x509.Certificate | None = None,
    common_name: str | None = None,
    nonce: int | None = None,
    what: str = "timestamp",
) -> StampedTime:
    """Verify a stored TimeStampResp over ``data`` (hashed with the token's algorithm) or a ready ``digest``.

    ``roots`` are the TSA roots the verifier trusts; ``tsa_certificate`` or ``common_name`` pin the signer
    itself (either is what keeps a certificate injected into the token from being taken for the TSA's).
    Certificates are checked as of the token's own time. Raises :class:`TimestampError` saying why not.
    """
    if (data is None) == (digest is None):
        raise ValueError("give exactly one of data and digest")
    if not roots:
        raise TimestampError(f"no trusted root to verify the {what} against", reason="no-trust", what=what)
    response = _decode(token, what)
    builder = VerifierBuilder(
        tsa_certificate=tsa_certificate,
        intermediates=list(intermediates),
        roots=list(roots),
        nonce=nonce,
        common_name=common_name,
    )
    verifier = builder.build()
    try:
        if data is not None:
            verifier.verify_message(response, data)
        else:
            assert digest is not None
            verifier.verify(response, digest)
        info = response.tst_info
        signer = _signer_subject(response, tsa_certificate)
    except VerificationError as exc:
        raise TimestampError(
            f"the {what} does not verify: {exc}", reason="timestamp-invalid", what=what
        ) from exc
    except Exception as exc:  # hostile bytes deeper in the token: whatever the parsers raise, it is not valid
        raise TimestampError(f"the {what} is malformed: {exc}", reason="unreadable", what=what) from exc
    return StampedTime(gen_time=info.gen_time, serial_number=info.serial_number, tsa=signer)


def _signer_subject(response: TimeStampResponse, tsa_certificate: x509.Certificate | None) -> str:
    """The subject of the certificate the SignerInfo names (the embedded one, or the pinned one)."""
    (signer,) = response.signed_data.signer_infos
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if cert.issuer == signer.issuer and cert.serial_number == signer.serial_number:
            return cert.subject.rfc4514_string()
    return tsa_certificate.subject.rfc4514_string() if tsa_certificate is not None else ""
