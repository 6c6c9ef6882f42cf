"""Which certificates may speak for an agency, beyond "it chains to a trusted CA".

A chain to an anchor proves who issued a certificate, not for whom it speaks: one national CA issues the
certificates of every state body, so an anchor alone would let the province's certificate sign as the land
registry. :class:`Binding` is one configured ``signers`` rule (subject attributes and/or a pinned
fingerprint) that says which of the anchor's certificates speak for the agency.

The strength floor (RSA keys of 2048 bits or more, no MD5/MD2/MD4-signed certificate) is kept here too, and
applies whatever the agency's algorithm policy: ``legacy_sha1`` admits SHA-1 for real senders that still
use it, and nothing weaker. :func:`unreachable_issuer` says, after a failed chain, whether the chain ever
reached an anchor, so that a stranger's certificate is reported as such rather than by whatever
path-building error the last attempt happened to produce.

Private to :mod:`lienthong.trust.verify`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from lienthong.config.models import SignerRule, subject_attribute_oid

#: Certificate signature algorithms whose hash admits practical collisions (forged certificates).
_BROKEN_CERT_SIGNATURES: Final = {
    "1.2.840.113549.1.1.2": "MD2",
    "1.2.840.113549.1.1.3": "MD4",
    "1.2.840.113549.1.1.4": "MD5",
}
_SPACES: Final = re.compile(r"\s+")
_MAX_DEPTH: Final = 8


def _normal(text: str) -> str:
    """Directory-string matching as LDAP's caseIgnoreMatch does it: case and repeated spaces do not
    count; NFC so that a precomposed "ở" in YAML matches a decomposed one in a certificate."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip().casefold()


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class Binding:
    """A compiled ``signers`` rule: every attribute pattern and the fingerprint (when given) must hold."""

    attributes: tuple[tuple[str, x509.ObjectIdentifier, str], ...] = ()
    sha256: str | None = None

    @classmethod
    def from_rule(cls, rule: SignerRule) -> Binding:
        attributes = []
        for name, pattern in rule.subject.items():
            oid = subject_attribute_oid(name)
            if oid is None:  # the configuration model has refused it already
                raise ValueError(f"unknown subject attribute {name!r}")
            attributes.append((name, x509.ObjectIdentifier(oid), pattern))
        sha256 = rule.certificate_sha256.replace(":", "").lower() if rule.certificate_sha256 else None
        return cls(tuple(attributes), sha256)

    def matches(self, cert: x509.Certificate, agency: str | None) -> bool:
        if self.sha256 is not None and fingerprint(cert) != self.sha256:
            return False
        for _name, oid, pattern in self.attributes:
            if "{agency}" in pattern and agency is None:
                return False
            wanted = _normal(pattern.replace("{agency}", _glob_escape(agency or "")))
            values = [a.value for a in cert.subject.get_attributes_for_oid(oid) if isinstance(a.value, str)]
            if not any(fnmatchcase(_normal(v), wanted) for v in values):
                return False
        return True


def weakness(
    cert: x509.Certificate, *, min_rsa_bits: int, check_signature: bool = True
) -> tuple[str, str] | None:
    """(reason, message) when this certificate is too weak to vouch for anyone, else None."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey) and key.key_size < min_rsa_bits:
        kind = "an RSA" if isinstance(key, rsa.RSAPublicKey) else "a DSA"
        return (
            "weak-key",
            f"the certificate {cert.subject.rfc4514_string()} has {kind} key of {key.key_size} bits; "
            f"at least {min_rsa_bits} are required, whatever the agency's algorithm policy",
        )
    broken = _BROKEN_CERT_SIGNATURES.get(cert.signature_algorithm_oid.dotted_string)
    if check_signature and broken is not None:
        return (
            "weak-certificate-signature",
            f"the certificate {cert.subject.rfc4514_string()} is signed with {broken}, which lets anyone "
            "forge certificates; it is refused whatever the agency's algorithm policy",
        )
    return None


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def unreachable_issuer(
    leaf: x509.Certificate, pool: Sequence[x509.Certificate], anchors: Iterable[x509.Certificate]
) -> x509.Name | None:
    """The last issuer the chain names when no certificate on it is an anchor or issued by one (checked
    by signature, not by name: two CAs may share a name); None when an anchor is reached."""
    anchors = list(anchors)
    current = leaf
    seen = {leaf}
    for _ in range(_MAX_DEPTH):
        if current in anchors or any(issued_by(current, a) for a in anchors):
            return None
        parent = next((c for c in pool if c not in seen and issued_by(current, c)), None)
        if parent is None:
            return current.issuer
        seen.add(parent)
        current = parent
    return current.issuer
