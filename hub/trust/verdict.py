"""A signature's verdict in one word, for people inspecting a document on their own (``hub edxml inspect``).

Intake refuses or accepts; an auditor with a file wants to know where it stands, offline and without the
hub's configuration. :func:`signature_verdict` never raises for a bad signature: it runs the same
verifier as intake and says what it found.

* With a :class:`~lienthong.trust.verify.TrustStore`, the signature is checked as intake checks it (the
  named agency's anchors, algorithms and ``signers`` rules; every configured agency when none is named):
  ``valid`` or not.
* Without one, there is nothing to trust, so the check is cryptographic only: digests and signature value
  against the certificate the signature carries, SHA-1 admitted (reported as a quirk), certificate dates
  and key strength as usual. Success is ``valid-untrusted``: intact, signed by the holder of that
  certificate, *not checked against any trust anchor* — whoever made the certificate could have signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from lxml import etree

from lienthong.errors import SignatureError, SignatureMissingError, SignaturePolicyError
from lienthong.trust._signature import locate_signature, screen
from lienthong.trust._unprefixed import as_xmldsig, is_unprefixed_edxml
from lienthong.trust.verify import AgencyPolicy, TrustStore, Verified, XmlVerifier

__all__ = ["Verdict", "VerdictState", "signature_verdict"]

VerdictState = Literal["valid", "valid-untrusted", "invalid", "unverifiable", "unsigned"]

#: Refusals meaning the signature could not be checked at all, rather than checked and found wanting.
_UNCHECKABLE: Final = frozenset(
    {
        "certificate-unreadable",
        "signer-certificate-missing",
        "signature-namespace",
        "algorithm-unsupported",
        "c14n-refused",
        "transform-refused",
        "reference-refused",
        "manifest-refused",
        "retrievalmethod-refused",
        "hmac-refused",
    }
)


@dataclass(frozen=True)
class Verdict:
    """Where a document's signature stands.

    ``state``: ``valid`` (verified under the given trust), ``valid-untrusted`` (cryptographically valid
    against the certificate it carries; no trust anchors were given), ``invalid`` (checked and refused:
    altered content, a wrong signature value, an untrusted or expired certificate, a refused algorithm),
    ``unverifiable`` (it cannot be checked: the certificate is unreadable or absent, or the signature uses
    something the hub does not process), ``unsigned``. ``reason`` is the verifier's stable reason for
    anything but valid; ``quirks`` are the stable codes of how the signature departs from the standard
    (``signature-unprefixed``, ``legacy-signature-algorithm``).
    """

    state: VerdictState
    reason: str | None = None
    algorithm: str | None = None
    signer_subject: str | None = None
    quirks: tuple[str, ...] = ()
    #: The verifier's explanation of a refusal, for people.
    message: str | None = None
    #: The agency whose trust accepted the signer (``valid`` only; None: the default policy).
    signer_agency: str | None = None


def signature_verdict(
    root: etree._Element,
    trust: TrustStore | None = None,
    agency: str | None = None,
    *,
    at: datetime | None = None,
) -> Verdict:
    """The verdict on ``root``'s one signature (see :class:`Verdict`); ``agency`` matters only with
    ``trust``. Never raises for what the signature is; the tree is not modified."""
    quirks, algorithm = _as_written(root)
    try:
        if trust is None:
            verified = _verify_untrusted(root, at)
        else:
            verified = XmlVerifier(trust).verify(root, agency=agency, at=at)
    except SignatureMissingError as exc:
        return Verdict("unsigned", exc.reason, message=exc.message)
    except SignatureError as exc:
        uncheckable = exc.reason in _UNCHECKABLE
        state: VerdictState = "unverifiable" if uncheckable else "invalid"
        return Verdict(state, exc.reason, exc.algorithm or algorithm, None, quirks, exc.message)
    return Verdict(
        "valid" if trust is not None else "valid-untrusted",
        algorithm=verified.algorithm,
        signer_subject=verified.signer_subject,
        quirks=verified.quirks,
        signer_agency=verified.signer_agency if trust is not None else None,
    )


def _verify_untrusted(root: etree._Element, at: datetime | None) -> Verified:
    """Cryptography only: the certificates the signature carries are its own anchors."""
    sig = locate_signature(root)
    if sig is None:
        raise SignatureMissingError("the document is not signed", reason="unsigned")
    private, xmldsig = as_xmldsig(root, sig) if is_unprefixed_edxml(sig) else (root, sig)
    shape = screen(private, xmldsig, None)
    if shape.method.name.startswith("HMAC_"):
        raise SignaturePolicyError(
            "a shared-secret (HMAC) signature can be checked only by who holds the secret",
            reason="hmac-refused",
            algorithm=shape.algorithm,
        )
    policy = AgencyPolicy(
        anchors=shape.certs,
        legacy_sha1=True,
        require_x509=False,  # a bare KeyValue is still a key the value can be checked against
        relaxed_extensions=True,
    )
    return XmlVerifier(TrustStore(default=policy)).verify(root, agency=None, at=at)


def _as_written(root: etree._Element) -> tuple[tuple[str, ...], str | None]:
    """What can be told of a signature that will not verify: its quirks and its algorithm, as written."""
    try:
        sig = locate_signature(root)
    except SignatureError:
        return (), None
    if sig is None:
        return (), None
    quirks = ("signature-unprefixed",) if is_unprefixed_edxml(sig) else ()
    method = next(
        (m for m in sig.iter() if isinstance(m.tag, str) and etree.QName(m).localname == "SignatureMethod"),
        None,
    )
    uri = method.get("Algorithm") if method is not None else None
    algorithm = uri.rsplit("#", 1)[-1] if uri else None
    if algorithm is not None and ("sha1" in algorithm or algorithm.startswith("dsa-")):
        quirks = (*quirks, "legacy-signature-algorithm")
    return quirks, algorithm
