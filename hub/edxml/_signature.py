"""What a document's signature looks like before anyone checks it: where it is, in which namespace,
with which algorithm, and whose certificate it carries, if that certificate can be read at all.
Private to :mod:`lienthong.edxml.read`; checking the signature is :mod:`lienthong.trust`'s job."""

from __future__ import annotations

import base64
import binascii
from typing import Final

from cryptography import x509
from lxml import etree

from lienthong.edxml._tolerant import QuirkLog, children, local, text_of
from lienthong.edxml.model import SignatureInfo
from lienthong.edxml.names import EDXML_NS, XMLDSIG_NS

__all__ = ["signature_info"]

_LEGACY_ALGORITHMS: Final = ("rsa-sha1", "dsa-sha1", "hmac-sha1")


def signature_info(
    log: QuirkLog, root: etree._Element, envelope: etree._Element, header: etree._Element
) -> SignatureInfo | None:
    candidates = [
        *children(header, "Signature"),
        *children(envelope, "Signature"),
        *children(root, "Signature"),
    ]
    if not candidates:
        candidates = [el for el in root.iter() if isinstance(el.tag, str) and local(el) == "Signature"][:1]
    if not candidates:
        return None
    sig = candidates[0]
    namespace = etree.QName(sig).namespace or ""
    if namespace == EDXML_NS:
        log.quirk(
            "signature-unprefixed",
            "the Signature is written without the XML Signature namespace (it falls in the edXML "
            "namespace); read as the XML Signature it is meant to be",
            sig,
        )
    elif namespace != XMLDSIG_NS:
        log.quirk("signature-namespace", f"the Signature is in namespace {namespace!r}", sig)
    method = next(
        (el for el in sig.iter() if isinstance(el.tag, str) and local(el) == "SignatureMethod"), None
    )
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm and algorithm.rsplit("#", 1)[-1] in _LEGACY_ALGORITHMS:
        log.quirk(
            "legacy-signature-algorithm",
            f"the signature uses {algorithm.rsplit('#', 1)[-1]} (SHA-1), accepted only where the "
            "sender's policy allows legacy SHA-1",
            method,
        )
    return SignatureInfo(algorithm=algorithm, namespace=namespace, certificate_subject=_certificate(log, sig))


def _certificate(log: QuirkLog, sig: etree._Element) -> str | None:
    el = next((c for c in sig.iter() if isinstance(c.tag, str) and local(c) == "X509Certificate"), None)
    text = text_of(el)
    if text is None:
        return None
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
        return cert.subject.rfc4514_string()
    except (binascii.Error, ValueError) as exc:
        log.quirk(
            "certificate-unreadable",
            f"the X509Certificate ({len(text)} base64 characters) cannot be read: truncated or not "
            f"a certificate ({exc})",
            el,
        )
        return None
