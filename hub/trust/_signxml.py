"""signxml, fenced in: the hub's parser, the agency's anchors instead of any CA bundle, the hub's
certificate profile, and signxml's exceptions turned into the hub's.

Private to :mod:`lienthong.trust.verify`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    Policy,
    Store,
    VerificationError,
)
from lxml import etree
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, SignXMLException
from signxml.util import X509CertChainVerifier
from signxml.verifier import SignatureConfiguration, XMLVerifier
from signxml.xades.xades import XAdESVerifier

from lienthong.errors import SignatureError, SignatureInvalidError, SignaturePolicyError
from lienthong.trust._certpolicy import unreachable_issuer
from lienthong.trust._signature import Shape, ds, reparse_parser

if TYPE_CHECKING:
    from lienthong.trust.verify import AgencyPolicy


class _UntrustedIssuer(InvalidCertificate):
    """No certificate the sender brought reaches one of the agency's anchors."""

    def __init__(self, leaf: x509.Certificate, issuer: x509.Name) -> None:
        super().__init__(f"{leaf.subject.rfc4514_string()} was issued by {issuer.rfc4514_string()}")
        self.leaf = leaf
        self.issuer = issuer


class _AnchorChain(X509CertChainVerifier):
    """signxml's chain builder over the agency's anchors, never a CA bundle from disk."""

    def __init__(self, anchors: tuple[x509.Certificate, ...], at: datetime, ee: Any, ca: Any) -> None:
        self._anchors = list(anchors)
        #: the path that was verified, signer first and anchor last (empty until one is)
        self.path: tuple[x509.Certificate, ...] = ()
        super().__init__(  # type: ignore[no-untyped-call]  # signxml leaves this untyped
            ca_pem_file=os.devnull, verification_time=at, ee_policy=ee, ca_policy=ca
        )

    @property
    def store(self) -> Store:
        return Store(self._anchors)

    def verify(self, cert_chain: list[x509.Certificate]) -> x509.Certificate:
        # signxml retries with the list reversed, which lets a CA certificate pose as the signer; the
        # hub takes as leaf the one certificate that issued none of the others.
        issuers = {c.issuer.public_bytes() for c in cert_chain}
        leaves = [c for c in cert_chain if c.subject.public_bytes() not in issuers] or cert_chain[:1]
        leaf = leaves[0]
        verifier: ClientVerifier = self.verifier
        try:
            verified = verifier.verify(leaf=leaf, intermediates=[c for c in cert_chain if c is not leaf])
        except VerificationError as exc:
            # Path building reports how its last attempt failed ("path length constraint violated",
            # "candidates exhausted"), which for a stranger's certificate says nothing useful.
            issuer = unreachable_issuer(leaf, cert_chain, self._anchors)
            if issuer is not None:
                raise _UntrustedIssuer(leaf, issuer) from exc
            raise InvalidCertificate(exc) from exc
        self.path = tuple(verified.chain)
        return verified.chain[0]


class _HubXmlVerifier(XMLVerifier):
    hub_anchors: tuple[x509.Certificate, ...] = ()
    hub_chain: _AnchorChain | None = None

    def get_cert_chain_verifier(self, ca_pem_file: object, ee_policy: Any, ca_policy: Any) -> _AnchorChain:
        at: datetime = self._get_cert_verification_time()  # type: ignore[no-untyped-call]
        self.hub_chain = _AnchorChain(self.hub_anchors, at, ee_policy, ca_policy)
        return self.hub_chain


class _HubXadesVerifier(XAdESVerifier, _HubXmlVerifier):
    """XAdES verification with the same anchor-only chain building as plain XMLDSig."""


def _signing_key_usage(_policy: Policy, _cert: x509.Certificate, usage: x509.KeyUsage) -> None:
    if not (usage.digital_signature or usage.content_commitment):
        raise ValueError("KeyUsage allows neither digitalSignature nor nonRepudiation")


def _not_a_ca(_policy: Policy, _cert: x509.Certificate, constraints: x509.BasicConstraints | None) -> None:
    if constraints is not None and constraints.ca:
        raise ValueError("a CA certificate cannot sign messages")


def _is_a_ca(_policy: Policy, _cert: x509.Certificate, constraints: x509.BasicConstraints) -> None:
    if not constraints.ca:
        raise ValueError("basicConstraints does not allow this certificate to issue certificates")


def _extension_policies(relaxed: bool) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    if relaxed:
        ca = ExtensionPolicy.permit_all().require_present(
            x509.BasicConstraints, Criticality.AGNOSTIC, _is_a_ca
        )
        return ExtensionPolicy.permit_all(), ca
    ee = (
        ExtensionPolicy.permit_all()
        .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _signing_key_usage)
        .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_a_ca)
    )
    return ee, ExtensionPolicy.webpki_defaults_ca()


def _may_sign(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.digital_signature or usage.content_commitment


@dataclass(frozen=True)
class SignerKey:
    kind: Literal["pinned", "chain", "raw", "hmac"]
    cert: x509.Certificate | None = None


def signer_keys(shape: Shape, policy: AgencyPolicy, agency: str | None) -> list[SignerKey]:
    """The ways this agency's trust could vouch for the signer, most specific first."""
    if shape.method.name.startswith("HMAC_"):
        if policy.hmac_key is None:
            raise SignaturePolicyError(
                "shared-secret (HMAC) signatures are not accepted from this agency",
                reason="hmac-refused",
                agency=agency,
                algorithm=shape.algorithm,
            )
        return [SignerKey("hmac")]
    signers = [a for a in policy.anchors if _may_sign(a)]
    if shape.certs:
        if not policy.anchors:
            raise SignatureInvalidError(
                "no trust anchor is configured for this agency", reason="untrusted-signer", agency=agency
            )
        pinned = [a for a in signers if a in shape.certs]
        return [*(SignerKey("pinned", a) for a in pinned), SignerKey("chain")]
    if signers and (policy.require_x509 or not shape.has_key_value):
        if shape.serial is not None:
            signers = [a for a in signers if a.serial_number == shape.serial]
        if signers:
            return [SignerKey("pinned", a) for a in signers]
    if shape.has_key_value and not policy.require_x509:
        return [SignerKey("raw")]
    raise SignatureInvalidError(
        "the signer's certificate is neither in the signature nor among this agency's anchors",
        reason="signer-certificate-missing",
        agency=agency,
        algorithm=shape.algorithm,
    )


def run_signxml(
    root: etree._Element, shape: Shape, policy: AgencyPolicy, key: SignerKey, at: datetime, agency: str | None
) -> tuple[list[Any], x509.Certificate | None, tuple[x509.Certificate, ...]]:
    """signxml's verdict, the signer's certificate, and the certificate path that vouched for it (signer
    first; a pinned certificate alone)."""
    hmac = key.kind == "hmac"
    config = SignatureConfiguration(
        require_x509=key.kind in ("pinned", "chain") or shape.xades,
        location=_location(root, shape.signature),
        expect_references=True,
        signature_methods=policy.signature_methods(hmac=hmac),
        digest_algorithms=policy.digest_algorithms(),
        verification_time=at,
    )
    verifier = _HubXadesVerifier() if shape.xades else _HubXmlVerifier()
    verifier.hub_anchors = policy.anchors
    # Workaround for spurious xmlns="" in inclusive C14N of default-namespace signatures (module docstring).
    verifier.excise_empty_xmlns_declarations = not shape.signature.prefix
    kwargs: dict[str, Any] = {"expect_config": config, "parser": reparse_parser(), "validate_schema": True}
    if key.kind == "pinned":
        kwargs["x509_cert"] = key.cert
    elif key.kind == "chain":
        kwargs["ee_policy"], kwargs["ca_policy"] = _extension_policies(policy.relaxed_extensions)
    elif hmac:
        kwargs["hmac_key"] = policy.hmac_key
    try:
        results = verifier.verify(root, **kwargs)
    except SignatureError:
        raise
    except Exception as exc:  # untrusted input: whatever goes wrong inside signxml fails closed
        raise _translate(exc, shape, agency) from exc
    results = results if isinstance(results, list) else [results]
    value = "".join((results[0].signature_xml.findtext(ds("SignatureValue")) or "").split())
    if value != "".join((shape.signature.findtext(ds("SignatureValue")) or "").split()):
        raise SignatureInvalidError(
            "signxml verified another signature", reason="internal-mismatch", agency=agency
        )
    cert = key.cert
    path: tuple[x509.Certificate, ...] = (key.cert,) if key.cert is not None else ()
    if key.kind == "chain":
        path = verifier.hub_chain.path if verifier.hub_chain is not None else ()
        used = results[0].signature_key
        cert = next(
            (
                c
                for c in shape.certs
                if c.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo) == used
            ),
            None,
        )
    return results, cert, path


def _location(root: etree._Element, sig: etree._Element) -> str:
    """signxml's ``location`` (an ElementPath to the Signature's parent), exact down to sibling position."""
    steps: list[str] = []
    node = sig.getparent()
    while node is not None and node is not root:
        parent = node.getparent()
        assert parent is not None
        same = [c for c in parent if c.tag == node.tag]
        steps.append(f"{node.tag}[{same.index(node) + 1}]")
        node = parent
    return "./" + "".join(f"{s}/" for s in reversed(steps))


def _translate(exc: Exception, shape: Shape, agency: str | None) -> SignatureError:
    text = str(exc) or type(exc).__name__
    common: dict[str, Any] = {"agency": agency, "algorithm": shape.algorithm}
    if isinstance(exc, InvalidInput) and ("forbidden by configuration" in text or "Unrecognized" in text):
        return SignaturePolicyError(
            f"refused by the algorithm policy: {text}", reason="algorithm-refused", **common
        )
    if isinstance(exc, _UntrustedIssuer):
        return SignatureInvalidError(
            f"the signer's certificate ({exc.leaf.subject.rfc4514_string()}) was issued by "
            f"{exc.issuer.rfc4514_string()}, which is not a trust anchor of this agency nor issued by one",
            reason="untrusted-issuer",
            **common,
        )
    if isinstance(exc, InvalidCertificate):
        timing = "valid at validation time" in text or "expired" in text or "not yet valid" in text
        reason = "certificate-not-valid-at-time" if timing else "untrusted-signer"
        return SignatureInvalidError(
            f"the signer's certificate is not trusted: {text}", reason=reason, **common
        )
    if isinstance(exc, InvalidDigest):
        return SignatureInvalidError(
            f"signed content was altered: {text}", reason="digest-mismatch", **common
        )
    if isinstance(exc, CryptoInvalidSignature):
        return SignatureInvalidError(
            f"the signature value does not verify: {text}", reason="signature-mismatch", **common
        )
    if isinstance(exc, etree.DocumentInvalid | InvalidInput | SignXMLException):
        return SignatureInvalidError(
            f"the signature is malformed: {text}", reason="malformed-signature", **common
        )
    return SignatureInvalidError(f"the signature cannot be verified: {text}", reason="unverifiable", **common)
