"""What a signature says, read before any cryptography: where it is, what it references, with which
algorithms and transforms, and whether it covers the element the hub will act on.

Private to :mod:`lienthong.trust.verify`; every refusal here is a SignaturePolicyError (the hub will not
process this shape of signature) or a SignatureInvalidError (the signature is malformed).
"""

from __future__ import annotations

from base64 import b64decode
from binascii import Error as Base64Error
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureMethod,
    digest_algorithm_implementations,
)
from signxml.exceptions import InvalidInput
from signxml.processor import get_schema

from lienthong.errors import (
    CertificateUnreadableError,
    SignatureInvalidError,
    SignaturePolicyError,
    XmlRefusedError,
)
from lienthong.trust._unprefixed import is_unprefixed_edxml
from lienthong.xml import EDXML_NS, SOAP11_NS, SOAP12_NS, XMLDSIG_NS, parse_xml

# Namespaces only signature checking needs (the shared ones live in .xml).
DSIG11_NS: Final = "http://www.w3.org/2009/xmldsig11#"
XADES_NS: Final = "http://uri.etsi.org/01903/v1.3.2#"
WSSE_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

EXPECT_NAMESPACES: Final[Mapping[str, str]] = {
    "soap": SOAP11_NS,
    "soap12": SOAP12_NS,
    "edxml": EDXML_NS,
    "ds": XMLDSIG_NS,
    "wsse": WSSE_NS,
    "wsu": WSU_NS,
    "xades": XADES_NS,
}

Expect = Callable[[etree._Element], etree._Element] | str

_ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_MANIFEST_TYPE: Final = XMLDSIG_NS + "Manifest"
_C14N: Final = frozenset(m.value for m in CanonicalizationMethod)
_BASE64: Final = "http://www.w3.org/2000/09/xmldsig#base64"
_XPATH: Final = "http://www.w3.org/TR/1999/REC-xpath-19991116"
_ID_ATTRIBUTES: Final = ("Id", "ID", "id")  # as signxml resolves them, in any namespace


def ds(local: str) -> str:
    return f"{{{XMLDSIG_NS}}}{local}"


def short(uri: str) -> str:
    """``http://www.w3.org/2001/04/xmldsig-more#rsa-sha256`` → ``rsa-sha256``."""
    return uri.rsplit("#", 1)[-1]


def locate_signature(root: etree._Element, *, agency: str | None = None) -> etree._Element | None:
    """The one signature of this document, looked for where the hub expects it.

    Enveloping (root is the Signature); a SOAP envelope: in Header or a Header block (wsse:Security);
    edXML: in edXMLHeader (QCVN 102) or under the root, the unprefixed ``Signature`` of real senders (in
    edXML's namespace) included — :func:`lienthong.trust._unprefixed.as_xmldsig` makes it verifiable;
    otherwise under the root. Failing those, any signature not nested in another one. Two candidates where
    one is expected are refused.
    """
    if root.tag == ds("Signature"):
        return root
    qname = etree.QName(root)
    headers: list[etree._Element] = []
    if qname.namespace in {SOAP11_NS, SOAP12_NS} and qname.localname == "Envelope":
        soap_headers = root.findall(f"{{{qname.namespace}}}Header")
        headers = [*soap_headers, *(block for header in soap_headers for block in header)]
    elif qname.namespace == EDXML_NS:
        e = f"{{{EDXML_NS}}}"
        headers = [*root.findall(f"{e}edXMLHeader"), *root.findall(f"{e}edXMLEnvelope/{e}edXMLHeader")]
    parents = headers if qname.localname == "Envelope" and headers else [root, *headers]
    stray = [
        c for h in headers for c in h if isinstance(c.tag, str) and etree.QName(c).localname == "Signature"
    ]
    # The unprefixed Signature real edXML senders write is in edXML's namespace: a signature all the same.
    unprefixed = [c for c in stray if is_unprefixed_edxml(c)]
    foreign = [c for c in stray if c.tag != ds("Signature") and not is_unprefixed_edxml(c)]
    if foreign and not any(c.tag == ds("Signature") for c in stray) and not unprefixed:
        raise SignatureInvalidError(
            f"the Signature element is in namespace {etree.QName(foreign[0]).namespace!r}, not XMLDSig's: "
            "it cannot be verified",
            reason="signature-namespace",
            agency=agency,
        )
    found = [s for p in parents for s in p.findall(ds("Signature"))] + unprefixed
    if not found:
        found = [
            s
            for s in root.iter(ds("Signature"))
            if not any(a.tag == ds("Signature") for a in s.iterancestors())
        ]
    if len(found) > 1:
        raise SignaturePolicyError(
            f"the message carries {len(found)} signatures where the hub expects one",
            reason="several-signatures",
            agency=agency,
        )
    return found[0] if found else None


@dataclass(frozen=True)
class Reference:
    uri: str
    element: etree._Element  # in the caller's tree
    enveloped: bool
    digest: str
    #: The signed bytes are the base64-decoded text of a ds:Object (XAdES over a whole document).
    decoded: bool = False
    #: Canonicalized with inclusive C14N (explicitly, or by default for want of a C14N transform).
    inclusive: bool = True


@dataclass(frozen=True)
class Shape:
    """What screening learnt about the signature, before any cryptography."""

    signature: etree._Element
    method: SignatureMethod
    references: tuple[Reference, ...]
    xades: bool
    certs: tuple[x509.Certificate, ...]
    serial: int | None
    has_key_value: bool

    @property
    def digests(self) -> tuple[DigestAlgorithm, ...]:
        return tuple(DigestAlgorithm(r.digest) for r in self.references)

    @property
    def legacy(self) -> bool:
        weak = "SHA1" in self.method.name or self.method.name.startswith("DSA_")
        return weak or DigestAlgorithm.SHA1 in self.digests

    @property
    def algorithm(self) -> str:
        return short(self.method.value)

    @property
    def digest_algorithm(self) -> str:
        return ", ".join(dict.fromkeys(short(d.value) for d in self.digests))


@dataclass(frozen=True)
class _Errors:
    agency: str | None

    def refuse(self, message: str, reason: str, algorithm: str | None = None) -> SignaturePolicyError:
        return SignaturePolicyError(message, reason=reason, agency=self.agency, algorithm=algorithm)

    def invalid(self, message: str, reason: str) -> SignatureInvalidError:
        return SignatureInvalidError(message, reason=reason, agency=self.agency)


def screen(root: etree._Element, sig: etree._Element, agency: str | None) -> Shape:
    """Everything the hub checks before cryptography, in this order: structure (invalid), then what the
    hub will not process (policy)."""
    errors = _Errors(agency)
    # First: a certificate that cannot be read (the schema would only say "not base64Binary") is reported
    # as such, whatever else is wrong or refused; nobody can tell who signed.
    certs, serial, has_key_value = _key_info(sig, errors)
    copy = etree.fromstring(etree.tostring(sig), parser=hardened_parser())
    try:
        get_schema("xmldsig1-schema.xsd").assertValid(copy)
    except etree.DocumentInvalid as exc:
        raise errors.invalid(
            f"the signature does not follow the XMLDSig schema: {exc}", "malformed-signature"
        ) from None
    info = sig.find(ds("SignedInfo"))
    assert info is not None  # the schema requires exactly one
    c14n = info.find(ds("CanonicalizationMethod"))
    if c14n is None or c14n.get("Algorithm") not in _C14N:
        raise errors.refuse(
            "the signature uses a canonicalization method the hub does not accept", "c14n-refused"
        )
    method_el = info.find(ds("SignatureMethod"))
    assert method_el is not None
    method_uri = method_el.get("Algorithm", "")
    try:
        method = SignatureMethod(method_uri)
    except (ValueError, InvalidInput):
        message = f"signature algorithm {method_uri or '(none)'} is not supported"
        raise errors.refuse(message, "algorithm-unsupported", method_uri) from None
    _check_hmac_length(method_el, method, errors)
    for tag, what in (("Manifest", "a ds:Manifest"), ("RetrievalMethod", "a ds:RetrievalMethod")):
        if sig.find(f".//{ds(tag)}") is not None:
            message = f"the signature uses {what}, which the hub does not process"
            raise errors.refuse(message, f"{tag.lower()}-refused")
    references = tuple(_reference(ref, root, sig, errors) for ref in info.findall(ds("Reference")))
    xades = sig.find(f"{ds('Object')}/{{{XADES_NS}}}QualifyingProperties") is not None
    return Shape(sig, method, references, xades, certs, serial, has_key_value)


def _reference(ref: etree._Element, root: etree._Element, sig: etree._Element, errors: _Errors) -> Reference:
    uri = ref.get("URI")
    if ref.get("Type") == _MANIFEST_TYPE:
        raise errors.refuse("the signature signs a Manifest, not the message", "manifest-refused")
    if uri is None or (uri and not uri.startswith("#")) or uri.startswith("#xpointer("):
        raise errors.refuse(
            f"reference URI {uri!r} is not accepted: only same-document ids", "reference-refused"
        )
    digest_el = ref.find(ds("DigestMethod"))
    digest = digest_el.get("Algorithm", "") if digest_el is not None else ""
    try:
        DigestAlgorithm(digest)
    except (ValueError, InvalidInput):
        message = f"digest algorithm {digest or '(none)'} is not supported"
        raise errors.refuse(message, "algorithm-unsupported", digest) from None
    element = root if uri == "" else _by_id(root, uri[1:], errors)
    transforms = list(ref.iter(ds("Transform")))
    algorithms = [t.get("Algorithm", "") for t in transforms]
    for position, transform in enumerate(transforms):
        if not _transform_accepted(transform, position, element, sig):
            algorithm = algorithms[position]
            raise errors.refuse(
                f"transform {algorithm or '(none)'} is not accepted", "transform-refused", algorithm
            )
    c14n = [a for a in algorithms if a in _C14N]
    inclusive = any("xml-exc-c14n" not in a for a in c14n) or (not c14n and _BASE64 not in algorithms)
    return Reference(uri, element, _ENVELOPED in algorithms, digest, _BASE64 in algorithms, inclusive)


def _key_info(sig: etree._Element, errors: _Errors) -> tuple[tuple[x509.Certificate, ...], int | None, bool]:
    """KeyInfo: its X509Data certificates, an X509IssuerSerial serial number, whether it has a bare key."""
    certs: list[x509.Certificate] = []
    for cert_el in sig.findall(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}"):
        text = "".join((cert_el.text or "").split())
        try:
            certs.append(x509.load_der_x509_certificate(b64decode(text, validate=True)))
        except (ValueError, Base64Error):
            raise CertificateUnreadableError(
                f"the X509Certificate in the signature's KeyInfo cannot be read: {unreadable(text)}; "
                "who signed cannot be established, so the signature cannot be verified "
                "(the sender must send its complete certificate)",
                reason="certificate-unreadable",
                agency=errors.agency,
            ) from None
    serial_el = sig.find(f"{ds('KeyInfo')}//{ds('X509IssuerSerial')}/{ds('X509SerialNumber')}")
    serial_text = (serial_el.text or "").strip() if serial_el is not None else ""
    key_info = sig.find(ds("KeyInfo"))
    has_key_value = key_info is not None and (
        key_info.find(ds("KeyValue")) is not None
        or key_info.find(f"{{{DSIG11_NS}}}DEREncodedKeyValue") is not None
    )
    return tuple(certs), int(serial_text) if serial_text.isdigit() else None, has_key_value


def unreadable(text: str) -> str:
    """What is wrong with a base64 certificate that does not load, in words a sender's IT staff can act
    on: empty, not base64, or a DER certificate cut short (the length its header announces against the
    bytes present), or else not a certificate."""
    if not text:
        return "it is empty"
    usable = text[: len(text) - len(text) % 4]
    try:
        head = b64decode(usable, validate=True)
    except (ValueError, Base64Error):
        return f"its {len(text)} characters are not base64"
    announced = _der_length(head)
    present = len(head) + (len(text) - len(usable)) * 3 // 4
    if announced is not None and announced > present:
        return (
            f"it is truncated: {len(text)} base64 characters ({present} bytes) of a DER certificate that "
            f"announces {announced} bytes"
        )
    if len(usable) != len(text):
        return f"its {len(text)} base64 characters are cut short (not a multiple of 4)"
    return f"its {len(head)} bytes are not a DER-encoded X.509 certificate"


def _der_length(head: bytes) -> int | None:
    """The total length a DER SEQUENCE header announces (tag, length octets, content), if readable."""
    if len(head) < 2 or head[0] != 0x30:
        return None
    first = head[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(head) < 2 + count:
        return None
    return 2 + count + int.from_bytes(head[2 : 2 + count], "big")


def hardened_parser() -> etree.XMLParser:
    """For signxml's own re-parsing of canonical bytes: no DTD, no entities, no network."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, collect_ids=False
    )


def _transform_accepted(
    transform: etree._Element, position: int, element: etree._Element, sig: etree._Element
) -> bool:
    """Canonicalization and enveloped-signature; base64 as the first transform of a ds:Object of this
    signature; and the XPath spelling of enveloped-signature. No other XPath, no XSLT, no XPointer."""
    algorithm = transform.get("Algorithm", "")
    if algorithm in _C14N or algorithm == _ENVELOPED:
        return True
    if algorithm == _BASE64:
        return position == 0 and element.tag == ds("Object") and element.getparent() is sig
    if algorithm == _XPATH:
        # signxml does not evaluate XPath: ignoring this filter digests more, never less, and any
        # difference fails closed as a digest mismatch.
        xpath = transform.find(ds("XPath"))
        expression = "".join((xpath.text or "").split()) if xpath is not None else ""
        return any(
            expression == f"not(ancestor-or-self::{prefix}:Signature)"
            for prefix, uri in (xpath.nsmap.items() if xpath is not None else [])
            if prefix and uri == XMLDSIG_NS
        )
    return False


def _check_hmac_length(method_el: etree._Element, method: SignatureMethod, errors: _Errors) -> None:
    length_el = method_el.find(ds("HMACOutputLength"))
    if length_el is None:
        return
    if not method.name.startswith("HMAC_"):
        raise errors.invalid("HMACOutputLength on a non-HMAC signature", "malformed-signature")
    bits = digest_algorithm_implementations[method]().digest_size * 8
    try:
        length = int((length_el.text or "").strip())
    except ValueError:
        raise errors.invalid("HMACOutputLength is not a number", "malformed-signature") from None
    if length < max(80, bits // 2):
        raise errors.invalid(f"truncated HMAC ({length} bits) refused (CVE-2009-0217)", "hmac-truncated")


def _by_id(
    root: etree._Element,
    value: str,
    errors: _Errors,
) -> etree._Element:
    test = " or ".join(f"local-name()='{name}'" for name in _ID_ATTRIBUTES)
    found = root.xpath(f"descendant-or-self::*[@*[{test}][. = $v]]", v=value)
    elements = [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) else []
    if len(elements) > 1:
        raise errors.refuse(
            f"id {value!r} occurs {len(elements)} times: possible signature wrapping", "duplicate-id"
        )
    if not elements:
        raise errors.invalid(f"the signed element #{value} is not in the message", "reference-not-found")
    return elements[0]


def resolve_expect(root: etree._Element, expect: Expect, agency: str | None) -> etree._Element:
    if callable(expect):
        elements = [expect(root)]
    else:
        found = root.xpath(expect, namespaces=dict(EXPECT_NAMESPACES))
        elements = [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) else []
    inside = [e for e in elements if e is root or any(a is root for a in e.iterancestors())]
    if len(inside) != 1:
        raise SignaturePolicyError(
            f"the element the hub acts on was found {len(inside)} times, not once",
            reason="expected-element-not-unique",
            agency=agency,
        )
    return inside[0]


def covering_reference(shape: Shape, target: etree._Element) -> int | None:
    """Index of a reference whose element is the target or an ancestor of it, the path from the one
    to the other not passing through the signature (removed by the enveloped transform)."""
    for index, ref in enumerate(shape.references):
        node: etree._Element | None = target
        while node is not None and node is not shape.signature:
            if node is ref.element:
                return index
            node = node.getparent()
    return None


def excision_is_unsafe(shape: Shape) -> bool:
    """Excising ``xmlns=""`` from inclusive C14N output (the work-around for default-namespace
    signatures) is safe only where no element really undeclares the default namespace."""

    def undeclares(element: etree._Element) -> bool:
        return any(el.nsmap.get(None) == "" for el in element.iter() if isinstance(el.tag, str))

    if shape.signature.prefix:
        return False
    return undeclares(shape.signature) or any(r.inclusive and undeclares(r.element) for r in shape.references)


def descend(
    copy: etree._Element, ref: Reference, target: etree._Element, sig: etree._Element
) -> etree._Element:
    """Find in signxml's canonical copy of ``ref.element`` the node matching ``target`` (its descendant)."""
    path: list[etree._Element] = []
    node: etree._Element | None = target
    while node is not None and node is not ref.element:
        path.append(node)
        node = node.getparent()
    current = copy
    for original in reversed(path):
        parent = original.getparent()
        assert parent is not None
        siblings = [c for c in parent if isinstance(c.tag, str) and not (ref.enveloped and c is sig)]
        children = [c for c in current if isinstance(c.tag, str)]
        index = siblings.index(original)
        if index >= len(children) or children[index].tag != original.tag:
            raise SignatureInvalidError("signed copy and message disagree", reason="internal-mismatch")
        current = children[index]
    return current


def decoded(data: bytes, agency: str | None) -> etree._Element:
    """A base64-signed document, parsed like any other inbound XML."""
    try:
        return parse_xml(data, what="signed object")
    except XmlRefusedError as exc:
        raise SignaturePolicyError(
            f"the signed object is not XML the hub accepts: {exc.message}",
            reason="signed-content-refused",
            agency=agency,
        ) from None


def xades_signing_time(copies: list[etree._Element], agency: str | None) -> datetime | None:
    for copy in copies:
        if copy.tag == f"{{{XADES_NS}}}SignedProperties":
            text = copy.findtext(f".//{{{XADES_NS}}}SigningTime")
            if text is None:
                return None
            try:
                value = datetime.fromisoformat(text.strip())
            except ValueError:
                raise SignatureInvalidError(
                    f"SigningTime {text!r} is not a date-time", reason="malformed-signature", agency=agency
                ) from None
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None
