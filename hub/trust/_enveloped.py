"""The hub's common signature, written straight into the document: enveloped xmldsig over ``URI=""``.

signxml makes this signature by serialising the document it is given and parsing it twice (one copy
to carry the signature, one to digest), then building the ``Signature`` element by element, reading
the certificate chain's PEM again for every signature. For the one shape the hub signs on its hot
path — policy ``xmldsig``: enveloped, exclusive C14N, SHA-256, RSA-SHA256 or ECDSA-SHA256, the chain
in ``KeyInfo/X509Data`` — that is more work than the signature: the RSA operation is about half of
it (docs/benchmarks.md). Here the document is canonicalised once, where it is, and the same
``Signature`` element signxml writes (same elements in the same order, same namespace declarations,
same attribute values) is appended to it. An RSA PKCS#1 v1.5 signature is deterministic, so the
signed bytes are those signxml writes, byte for byte: tests/unit/test_enveloped_signature.py holds
them side by side; xmlsec1, signxml and the hub's own verifier accept them.

Only documents signxml would treat exactly like this are signed here (:func:`plain_document`,
:func:`has_cdata`): a translation as the hub's mappings make them is one. The rest, and the other
policies (``edxml``, ``xades-bes``), go through signxml as before (:mod:`lienthong.trust.sign`).

Private to :mod:`lienthong.trust.sign`.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from base64 import b64encode
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.util import strip_pem_header

from lienthong.trust.keys import SigningKey
from lienthong.xml import LARGE_TEXT, XMLDSIG_NS

__all__ = ["EnvelopedSignature", "has_cdata", "plain_document", "unsign"]

_EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
_ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
_METHODS: Final = {
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}
#: signxml's declaration on Signature and again on SignedInfo (``nsmap=self.namespaces`` on both).
_NSMAP: Final = {"ds": XMLDSIG_NS}


def _ds(local: str) -> str:
    return f"{{{XMLDSIG_NS}}}{local}"


_SIGNATURE: Final = _ds("Signature")
_SIGNED_INFO: Final = _ds("SignedInfo")
_C14N_METHOD: Final = _ds("CanonicalizationMethod")
_SIGNATURE_METHOD: Final = _ds("SignatureMethod")
_REFERENCE: Final = _ds("Reference")
_TRANSFORMS: Final = _ds("Transforms")
_TRANSFORM: Final = _ds("Transform")
_DIGEST_METHOD: Final = _ds("DigestMethod")
_DIGEST_VALUE: Final = _ds("DigestValue")
_SIGNATURE_VALUE: Final = _ds("SignatureValue")
_KEY_INFO: Final = _ds("KeyInfo")
_X509_DATA: Final = _ds("X509Data")
_X509_CERTIFICATE: Final = _ds("X509Certificate")


def plain_document(root: etree._Element) -> bool:
    """Whether ``root`` is signed here exactly as signxml would sign it.

    signxml signs a copy parsed from ``tostring(root)``, written in ASCII: the root alone (without a
    tail, the comments and processing instructions beside it, a DTD), every character outside ASCII
    as a character reference. Canonicalising ``root`` where it is gives the same bytes only when
    there is nothing of the kind beside it (lxml canonicalises a document's root with its siblings)
    and nothing those references would change: no comment or processing instruction (a reference
    there is text, not the character), no name or prefix outside ASCII (signxml cannot read its copy
    back, and fails). CDATA sections are the same case; lxml cannot tell them from text, so
    :func:`has_cdata` looks for them in the bytes written. A ``ds:Signature`` may be signxml's
    placeholder and an entity reference makes signxml refuse the document; a text of
    :data:`~lienthong.xml.LARGE_TEXT` characters is digested apart (``_LargeTextDigests``). All of
    these stay with signxml."""
    if root.getparent() is not None or root.tail is not None:
        return False
    if root.getprevious() is not None or root.getnext() is not None:
        return False
    if root.getroottree().docinfo.internalDTD is not None:
        return False
    if next(root.iter(_SIGNATURE, etree.Comment, etree.PI, etree.Entity), None) is not None:
        return False
    for node in root.iter(etree.Element):  # elements only, now: comments and the like were refused
        prefix = node.prefix
        if not node.tag.isascii() or (prefix is not None and not prefix.isascii()):
            return False
        # The attributes' names: keys() makes no proxy, unlike attrib (iterating node gives children).
        for name in node.keys():  # noqa: SIM118
            if not name.isascii():
                return False
        text = node.text
        if text is not None and len(text) >= LARGE_TEXT:
            return False
        text = None if node is root else node.tail
        if text is not None and len(text) >= LARGE_TEXT:
            return False
    return True


def has_cdata(data: bytes) -> bool:
    """Whether a document written without comments or processing instructions (see
    :func:`plain_document`) holds a CDATA section: ``<![CDATA[`` appears nowhere else in it (a text or
    an attribute value has its ``<`` escaped)."""
    return b"<![CDATA[" in data


def unsign(root: etree._Element) -> None:
    """Take off the signature :meth:`EnvelopedSignature.sign_in_place` appended: ``root`` is as before."""
    signature = root[-1]
    assert signature.tag == _SIGNATURE
    root.remove(signature)


class EnvelopedSignature:
    """Policy ``xmldsig`` for one key: what can be prepared once (the chain's ``X509Certificate``
    texts, the algorithm's URI) is, and each call adds one signature to one document."""

    def __init__(self, key: SigningKey, algorithm: str) -> None:
        self._key = key.private_key
        self._method = _METHODS[algorithm]
        # As signxml writes each certificate: its PEM without the armour lines.
        self._certificates: tuple[str, ...] = tuple(
            strip_pem_header(c.public_bytes(Encoding.PEM))  # type: ignore[no-untyped-call]
            for c in key.chain
        )
        self._local = threading.local()

    def sign_in_place(self, root: etree._Element) -> None:
        """Append the signature as the last child of ``root``, which :func:`plain_document` accepts.

        The elements are made as signxml makes them (its ``_unpack``, ``_build_sig`` and
        ``_add_key_info``, in that order), so their namespace declarations are the same."""
        # The digest first, over the document without its signature: what signxml digests from
        # its second copy of the document.
        document = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
        digest = b64encode(hashlib.sha256(document).digest()).decode()
        del document
        payload_id = root.get("Id", root.get("ID"))
        uri = f"#{payload_id}" if payload_id is not None else ""
        nsmap = root.nsmap
        if nsmap.get("ds", XMLDSIG_NS) == XMLDSIG_NS and ("ds" in nsmap or XMLDSIG_NS not in nsmap.values()):
            # The signature's namespace is declared by the root as ds, or not at all: a copy of the
            # element made once (_template) is what the steps below make (see _template).
            signature = copy.deepcopy(self._template())
            root.append(signature)
            signed_info = signature[0]
            reference = signed_info[2]
            if uri:
                reference.set("URI", uri)
            reference[2].text = digest
            value = signature[1]
        else:
            signed_info, value = self._build(root, uri, digest)
        signed = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
        value.text = b64encode(self._sign(signed)).decode()

    def _build(self, root: etree._Element, uri: str, digest: str) -> tuple[etree._Element, etree._Element]:
        """The ``Signature`` appended to ``root``, made element by element as signxml makes it; its
        ``SignedInfo`` and (empty) ``SignatureValue``."""
        # Made apart and appended, as signxml does: lxml then drops a declaration of ds that the
        # document already makes, as it does for signxml's.
        signature = etree.Element(_SIGNATURE, nsmap=_NSMAP)
        root.append(signature)
        signed_info = etree.SubElement(signature, _SIGNED_INFO, nsmap=_NSMAP)
        etree.SubElement(signed_info, _C14N_METHOD, Algorithm=_EXC_C14N)
        etree.SubElement(signed_info, _SIGNATURE_METHOD, Algorithm=self._method)
        reference = etree.SubElement(signed_info, _REFERENCE, URI=uri)
        transforms = etree.SubElement(reference, _TRANSFORMS)
        etree.SubElement(transforms, _TRANSFORM, Algorithm=_ENVELOPED)
        etree.SubElement(transforms, _TRANSFORM, Algorithm=_EXC_C14N)
        etree.SubElement(reference, _DIGEST_METHOD, Algorithm=_SHA256)
        etree.SubElement(reference, _DIGEST_VALUE).text = digest
        value = etree.SubElement(signature, _SIGNATURE_VALUE)
        x509_data = etree.SubElement(etree.SubElement(signature, _KEY_INFO), _X509_DATA)
        for text in self._certificates:
            etree.SubElement(x509_data, _X509_CERTIFICATE).text = text
        return signed_info, value

    def _template(self) -> etree._Element:
        """The ``Signature`` :meth:`_build` makes, with ``URI=""`` and no digest or value yet, made
        once per thread (lxml's trees are not shared between threads) and copied for each document.

        Making its fourteen elements one by one was a tenth of a land dossier's signing (~25 µs).
        A copy appended where ds is declared as the signature's namespace, or where the signature's
        namespace is not declared at all, ends as :meth:`_build`'s: lxml drops the copy's own
        declaration of ds when the root already makes it (as for the element made apart), and
        ``SignedInfo`` declares nothing of its own either way (ds is declared above it). Where the root
        binds ds elsewhere, or the signature's namespace to another prefix, :meth:`_build` makes
        ``SignedInfo`` declare ds again, which a copy would not: those documents are built."""
        template: etree._Element | None = getattr(self._local, "template", None)
        if template is None:
            holder = etree.Element("holder")
            self._build(holder, "", "")
            template = self._local.template = holder[0]
        return template

    def _sign(self, data: bytes) -> bytes:
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, PKCS1v15(), SHA256())
        if isinstance(key, ec.EllipticCurvePrivateKey):
            # XML Signature wants r and s side by side, each as wide as the curve (as signxml writes it).
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(SHA256())))
            width = (key.key_size + 7) // 8
            return r.to_bytes(width, "big") + s.to_bytes(width, "big")
        raise TypeError(f"no xmldsig signature for a {type(key).__name__}")
