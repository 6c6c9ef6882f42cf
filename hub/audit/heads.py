"""Signed tree heads: the hub's dated, signed statement "my record had SIZE entries and this ROOT", each
committing to the head before it.

Why a chain: a signed head alone proves the record at one moment; naming the previous head's hash makes
every head vouch for the whole history of heads, so an operator who rewrites the log must re-sign every
later head — and cannot re-sign the ones an auditor already holds or a time-stamping authority dated.
Consistency proofs (merkle.py) then prove that each root extends the one before.

A head's canonical bytes are compact JSON with sorted keys (like the log's entries), so any JSON tool can
read what was signed and recompute it. The signature is over those exact bytes: RSA PKCS#1 v1.5 with
SHA-256 for RSA keys (the algorithm the hub already uses for documents), ECDSA with SHA-256 for EC keys.
The head's *hash* (SHA-256 of the canonical bytes) is what the next head names and what an RFC 3161
timestamp covers.

Database- and configuration-free: the bundle verifier uses this module on an auditor's machine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from lienthong.errors import TreeHeadError

__all__ = [
    "HEAD_FORMAT",
    "HeadAlgorithm",
    "SignedHead",
    "TreeHead",
    "certificate_fingerprint",
    "sign_head",
    "verify_head",
    "verify_head_follows",
]

#: Names the layout of the canonical bytes, so a later layout can never be read as this one.
HEAD_FORMAT: Final = "lienthong-tree-head/1"
HeadAlgorithm = Literal["rsa-pkcs1v15-sha256", "ecdsa-sha256"]
_ALGORITHMS: Final = ("rsa-pkcs1v15-sha256", "ecdsa-sha256")
_AT_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


def _utc_text(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise TreeHeadError("a tree head's time must carry its time zone", reason="naive-time")
    return at.astimezone(dt.UTC).strftime(_AT_FORMAT)


@dataclass(frozen=True)
class TreeHead:
    """What a head states: ``size`` entries whose Merkle root is ``root``, at ``at`` (UTC), after the head
    whose hash is ``previous`` (``None`` only for the first head of a log)."""

    size: int
    root: bytes
    at: dt.datetime
    previous: bytes | None = None

    def __post_init__(self) -> None:
        if self.size < 0:
            raise TreeHeadError(f"a tree head cannot have {self.size} entries", reason="malformed")
        if len(self.root) != 32 or (self.previous is not None and len(self.previous) != 32):
            raise TreeHeadError("a tree head's root and previous hash are 32 bytes", reason="malformed")
        _utc_text(self.at)

    def canonical(self) -> bytes:
        """The exact bytes signed: compact JSON, sorted keys, hashes in lower-case hex, UTC time in µs."""
        body = {
            "at": _utc_text(self.at),
            "format": HEAD_FORMAT,
            "previous": None if self.previous is None else self.previous.hex(),
            "root": self.root.hex(),
            "size": self.size,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")

    def hash(self) -> bytes:
        """SHA-256 of :meth:`canonical`: what the next head names and what a timestamp covers."""
        return hashlib.sha256(self.canonical()).digest()

    @classmethod
    def from_canonical(cls, data: bytes) -> TreeHead:
        """Read canonical bytes back; anything that does not re-encode to the same bytes is refused, so two
        spellings of one head can never both verify."""
        try:
            body = json.loads(data.decode("ascii"))
            if not isinstance(body, dict) or body.get("format") != HEAD_FORMAT:
                raise ValueError(f"not a {HEAD_FORMAT} head")
            previous = body["previous"]
            head = cls(
                size=int(body["size"]),
                root=bytes.fromhex(body["root"]),
                at=dt.datetime.strptime(body["at"], _AT_FORMAT).replace(tzinfo=dt.UTC),
                previous=None if previous is None else bytes.fromhex(previous),
            )
        except TreeHeadError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise TreeHeadError(f"unreadable tree head: {exc}", reason="malformed") from exc
        if head.canonical() != data:
            raise TreeHeadError("the tree head is not in canonical form", reason="not-canonical")
        return head


@dataclass(frozen=True)
class SignedHead:
    """A head with the hub's signature over its canonical bytes and the signer's certificate (DER)."""

    head: TreeHead
    algorithm: HeadAlgorithm
    signature: bytes
    certificate: bytes

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (for bundles and APIs); ``head`` is the canonical text itself, not re-encoded."""
        return {
            "head": self.head.canonical().decode("ascii"),
            "algorithm": self.algorithm,
            "signature": self.signature.hex(),
            "certificate": self.certificate.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> SignedHead:
        try:
            if not isinstance(data, dict):
                raise TypeError("a signed head is a JSON object")
            algorithm = data["algorithm"]
            if algorithm not in _ALGORITHMS:
                raise ValueError(f"unknown signature algorithm {algorithm!r}")
            head = TreeHead.from_canonical(str(data["head"]).encode("ascii"))
            return cls(
                head=head,
                algorithm=algorithm,
                signature=bytes.fromhex(data["signature"]),
                certificate=bytes.fromhex(data["certificate"]),
            )
        except TreeHeadError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeEncodeError) as exc:
            raise TreeHeadError(f"unreadable signed tree head: {exc}", reason="malformed") from exc


def certificate_fingerprint(certificate: bytes) -> str:
    """SHA-256 of a certificate's DER, in hex: what an auditor compares with the hub's published one."""
    return hashlib.sha256(certificate).hexdigest()


def sign_head(
    head: TreeHead,
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
) -> SignedHead:
    """Sign a head with the hub's key; the certificate must be the key's own."""
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert_der = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public_der != cert_der:
        raise TreeHeadError("the certificate is not the signing key's", reason="key-mismatch")
    data = head.canonical()
    algorithm: HeadAlgorithm
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        algorithm = "rsa-pkcs1v15-sha256"
    else:
        signature = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        algorithm = "ecdsa-sha256"
    return SignedHead(head, algorithm, signature, certificate.public_bytes(serialization.Encoding.DER))


def verify_head(
    signed: SignedHead, *, trusted_fingerprints: frozenset[str] | None = None
) -> x509.Certificate:
    """Check a head's signature against its certificate and return the certificate.

    With ``trusted_fingerprints`` (SHA-256 of DER, hex), the certificate must also be one of them: a
    bundle carries its own certificate, so only pinning it to the hub's published one proves *who* signed.
    """
    what = f"head of size {signed.head.size}"
    try:
        certificate = x509.load_der_x509_certificate(signed.certificate)
    except ValueError as exc:
        raise TreeHeadError(
            f"the certificate of the {what} is unreadable", reason="certificate-unreadable", what=what
        ) from exc
    if trusted_fingerprints is not None:
        fingerprint = certificate_fingerprint(signed.certificate)
        if fingerprint not in trusted_fingerprints:
            raise TreeHeadError(
                f"the {what} is signed by a certificate that is not trusted (SHA-256 {fingerprint})",
                reason="untrusted-signer",
                what=what,
            )
    key = certificate.public_key()
    data = signed.head.canonical()
    try:
        if signed.algorithm == "rsa-pkcs1v15-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signed.signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif signed.algorithm == "ecdsa-sha256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signed.signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise TreeHeadError(
                f"the {what} says {signed.algorithm} but its certificate holds another kind of key",
                reason="algorithm-mismatch",
                what=what,
            )
    except InvalidSignature as exc:
        raise TreeHeadError(
            f"the signature of the {what} does not verify", reason="signature-invalid", what=what
        ) from exc
    return certificate


def verify_head_follows(head: TreeHead, previous: TreeHead) -> None:
    """Check that ``head`` names ``previous`` as the head before it, neither shrinks nor goes back in time.

    (That the new root *extends* the old one is a consistency proof's job: merkle.verify_consistency.)
    """
    what = f"head of size {head.size}"
    if head.previous != previous.hash():
        raise TreeHeadError(
            f"the {what} does not name the head of size {previous.size} before it",
            reason="chain-broken",
            what=what,
        )
    if head.size < previous.size:
        raise TreeHeadError(
            f"the {what} is smaller than the head of size {previous.size} before it",
            reason="chain-shrinks",
            what=what,
        )
    if head.at < previous.at:
        raise TreeHeadError(f"the {what} is dated before the head before it", reason="chain-time", what=what)
