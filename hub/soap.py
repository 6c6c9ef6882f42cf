"""SOAP 1.1 / 1.2 envelopes as the hub writes and reads them, and what a fault means.

Outbound (the hub calling a ministry): :class:`EnvelopeTemplate` (the envelope written once, by zeep
from the WSDL or by :func:`envelope_skeleton`, and filled in per call), :func:`envelope_with_payload`
(the stored payload's exact bytes in the Body), :func:`parse_envelope`, :class:`SoapFault`.

Inbound (a ministry calling the hub, see ``soap_gateway.py``): :func:`read_request` checks a request as the
specs require of a receiver, and :func:`build_fault` writes the hub's faults.

The hub's header blocks (namespace ``urn:lienthong:hub:1``) travel on every call:
``messageId``, ``correlationId``, ``causationId`` (optional), ``client`` (agency code of the caller)
and ``service`` (agency/adapter/operation called). Every response carries ``requestHash``: the
base64 SHA-256 of the exact request bytes it answers, so a response can never be matched to the
wrong request (the same idea as X-Road's requestHash).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from lxml import etree

from lienthong.errors import SoapMustUnderstandError, SoapRequestError, SoapVersionMismatchError
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, parse_xml, qname, serialize

SoapVersion = Literal["soap11", "soap12"]
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"

CONTENT_TYPES: dict[SoapVersion, str] = {
    "soap11": "text/xml; charset=utf-8",
    "soap12": "application/soap+xml; charset=utf-8",
}


def envelope_ns(version: SoapVersion) -> str:
    return SOAP11_NS if version == "soap11" else SOAP12_NS


def request_hash(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True)
class HubHeader:
    message_id: str
    correlation_id: str
    client: str
    service: str
    causation_id: str | None = None

    def elements(self) -> list[etree._Element]:
        return _header_blocks(
            (
                ("messageId", self.message_id),
                ("correlationId", self.correlation_id),
                ("causationId", self.causation_id),
                ("client", self.client),
                ("service", self.service),
            ),
            None,  # a request carries no requestHash; answers do (ResponseHeader)
        )


@dataclass(frozen=True)
class ResponseHeader:
    """The hub header of an answer: ``requestHash`` always (when the request was read whole), the
    sender's ``messageId`` echoed and the ``correlationId`` the message is filed under, when known."""

    request_hash: str | None
    message_id: str | None = None
    correlation_id: str | None = None

    def elements(self) -> list[etree._Element]:
        return _header_blocks(
            (("messageId", self.message_id), ("correlationId", self.correlation_id)), self.request_hash
        )


def _header_blocks(
    values: tuple[tuple[str, str | None], ...], request_hash: str | None
) -> list[etree._Element]:
    """The hub's header blocks in order, each ``lt:<name>`` with its text; ``requestHash`` last."""
    out = []
    for local, value in values:
        if value is not None:
            el = etree.Element(qname(HUB_NS, local), nsmap={"lt": HUB_NS})
            el.text = value
            out.append(el)
    if request_hash is not None:
        el = etree.Element(qname(HUB_NS, "requestHash"), nsmap={"lt": HUB_NS}, algorithm=SHA256_URI)
        el.text = request_hash
        out.append(el)
    return out


class HubHeaderBlocks(Protocol):
    def elements(self) -> list[etree._Element]: ...


def envelope_skeleton(version: SoapVersion, header: HubHeaderBlocks) -> etree._Element:
    """An Envelope with the hub header blocks and an empty Body (the plain path, without a WSDL)."""
    ns = envelope_ns(version)
    env = etree.Element(qname(ns, "Envelope"), nsmap={"soap": ns, "lt": HUB_NS})
    head = etree.SubElement(env, qname(ns, "Header"))
    for el in header.elements():
        head.append(el)
    etree.SubElement(env, qname(ns, "Body"))
    return env


def build_envelope(version: SoapVersion, header: HubHeaderBlocks, body: etree._Element) -> bytes:
    """An envelope around a body *element* (re-serialised by lxml). Delivery uses
    :func:`envelope_with_payload` instead, which keeps the stored payload's bytes."""
    env = envelope_skeleton(version, header)
    env[-1].append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


_PAYLOAD_MARK = "lienthong:payload"
_UTF8 = frozenset({"utf-8", "utf8"})


def payload_element_bytes(payload: bytes) -> bytes:
    """The stored payload without its XML declaration: the bytes that go inside the SOAP Body.

    Raises ValueError for a payload the Body cannot carry byte for byte: one that is not UTF-8
    (the envelope is), or not one well-formed element (checked with the hardened parser).
    """
    root = parse_xml(payload, what="stored payload")
    encoding = (root.getroottree().docinfo.encoding or "UTF-8").lower()
    if encoding not in _UTF8:
        raise ValueError(f"the stored payload is {encoding}, not UTF-8; it cannot be sent byte for byte")
    rest = payload.removeprefix(b"\xef\xbb\xbf")
    if rest.startswith(b"<?xml"):
        rest = rest[rest.index(b"?>") + 2 :]
    rest = rest.strip(b" \t\r\n")
    if not rest.startswith(b"<") or rest.startswith((b"<!--", b"<?")):
        raise ValueError("the stored payload must be one element, without comments or PIs around it")
    return rest


def envelope_with_payload(envelope: etree._Element, payload: bytes) -> bytes:
    """Serialise ``envelope`` (whose Body is empty) with the stored payload's exact bytes in its Body.

    The payload is spliced in as bytes, not appended as an element: lxml, moving an element into
    another tree, drops namespace declarations its new ancestors already make, and re-serialising
    may change other details. A signature over exclusive C14N would survive either, but the hub
    promises that what it stored is what it sends, so the Body holds the stored bytes exactly. The
    splice is well-formed because the payload is one element that declares its own namespaces and no
    default namespace is in scope at the Body (checked).
    """
    head, tail = _around_body(envelope)
    return head + payload_element_bytes(payload) + tail


def _around_body(envelope: etree._Element) -> tuple[bytes, bytes]:
    """The serialised ``envelope`` (whose Body is empty) cut where a payload goes into its Body."""
    body = next((el for el in envelope if etree.QName(el).localname == "Body"), None)
    if body is None or len(body) or (body.text or "").strip():
        raise ValueError("the envelope needs an empty Body to carry the payload")
    if None in body.nsmap:
        raise ValueError("a default namespace is in scope at the Body; the payload cannot be spliced in")
    mark = etree.Comment(_PAYLOAD_MARK)
    body.append(mark)
    try:
        data = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    finally:
        body.remove(mark)
    # Text and attribute values are escaped, so "<!--" can only be the mark itself.
    token = f"<!--{_PAYLOAD_MARK}-->".encode()
    if data.count(token) != 1:
        raise ValueError("the envelope already contains the payload mark")
    head, _, tail = data.partition(token)
    return head, tail


#: The fields of :class:`HubHeader` that travel as header blocks, in no particular order.
_HEADER_FIELDS: tuple[str, ...] = ("message_id", "correlation_id", "causation_id", "client", "service")
#: What lxml escapes in element text (``\r`` as a character reference, so that it survives parsing).
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_TEXT_SPECIAL = re.compile(r"[&<>\r]")
#: Characters XML 1.0 does not allow (lxml refuses them in text with a ValueError, as this does).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: Text written as it is: characters XML 1.0 allows, but those lxml escapes (``_TEXT_SPECIAL``).
_PLAIN_TEXT = re.compile(
    "[\t\n\u0020-\u0025\u0027-\u003b\u003d\u003f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*"
)


def _text_bytes(value: str) -> bytes:
    """``value`` as lxml writes an element's text in a UTF-8 document.

    A value with nothing to refuse or escape (the ids, agencies and service names of every call) is
    told by one match instead of two searches."""
    if _PLAIN_TEXT.fullmatch(value):
        return value.encode("utf-8")
    if _NOT_XML.search(value):
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"
        )
    if _TEXT_SPECIAL.search(value):
        value = _TEXT_SPECIAL.sub(lambda m: _TEXT_ESCAPES[m.group()], value)
    return value.encode("utf-8")


@dataclass(frozen=True)
class _Filled:
    """One shape of the envelope (with or without causationId): its bytes cut at each header value
    (``fields`` in the order they appear) and at the payload."""

    pieces: tuple[bytes, ...]
    fields: tuple[str, ...]
    tail: bytes


class EnvelopeTemplate:
    """The request envelope of one operation, written once and filled in on every call.

    ``write`` makes the envelope, with the hub header blocks and an empty Body, for a header: zeep from
    the WSDL, or :func:`envelope_skeleton` on the plain path. Only the header values and the payload
    change from one call to the next, so ``write`` runs here, once for a header with causationId and
    once without, with placeholder values; :meth:`render` then puts each value, escaped as lxml
    escapes text, where its placeholder was, and the stored payload's exact bytes in the Body. The
    bytes are those of ``envelope_with_payload(write(header), payload)`` (a test compares them),
    without building and serialising a tree per message.
    """

    def __init__(self, write: Callable[[HubHeader], etree._Element]) -> None:
        self._shapes = {with_cause: self._cut(write, with_cause) for with_cause in (True, False)}

    @staticmethod
    def _cut(write: Callable[[HubHeader], etree._Element], with_cause: bool) -> _Filled:
        marks = {name: f"lienthong-{name}-{uuid.uuid4().hex}" for name in _HEADER_FIELDS}
        if not with_cause:
            del marks["causation_id"]
        header = HubHeader(
            message_id=marks["message_id"],
            correlation_id=marks["correlation_id"],
            causation_id=marks.get("causation_id"),
            client=marks["client"],
            service=marks["service"],
        )
        head, tail = _around_body(write(header))
        by_mark = {mark.encode(): name for name, mark in marks.items()}
        parts = re.split(b"(" + b"|".join(re.escape(m) for m in by_mark) + b")", head)
        pieces, found = tuple(parts[0::2]), tuple(by_mark[m] for m in parts[1::2])
        if sorted(found) != sorted(marks):
            raise ValueError("the envelope does not carry each hub header value once as element text")
        return _Filled(pieces, found, tail)

    def render(self, header: HubHeader, payload: bytes) -> bytes:
        """The request bytes for ``header`` and the stored ``payload``; ValueError when the payload
        cannot travel byte for byte (see :func:`payload_element_bytes`) or a value is not XML text."""
        shape = self._shapes[header.causation_id is not None]
        out = [shape.pieces[0]]
        for name, piece in zip(shape.fields, shape.pieces[1:], strict=True):
            out.append(_text_bytes(getattr(header, name)))
            out.append(piece)
        out.append(payload_element_bytes(payload))
        out.append(shape.tail)
        return b"".join(out)


@dataclass(frozen=True)
class SoapFault:
    code: str  # local part: Client/Server (1.1) or Sender/Receiver (1.2)
    reason: str
    detail: str | None

    @property
    def is_sender_error(self) -> bool:
        """A fault blaming the request: resending the same bytes cannot help."""
        return fault_is_sender_error(self.code)


#: Fault codes that blame the request (SOAP 1.1 ``Client``, SOAP 1.2 ``Sender`` and the envelope-level
#: ones); ``Server`` / ``Receiver`` and anything unknown are worth retrying.
_SENDER_CODES = frozenset({"Client", "Sender", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"})


@dataclass(frozen=True)
class SoapResponse:
    header: dict[str, str]
    body: etree._Element | None
    fault: SoapFault | None


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return "".join(str(t) for t in el.itertext()).strip() or None


def _local(value: str | None) -> str:
    return (value or "").split(":")[-1].strip()


def hub_header_values(envelope: etree._Element, version: SoapVersion) -> dict[str, str]:
    """The hub's header blocks of a parsed envelope (``requestHash``…), by local name."""
    return header_block_values(envelope.find(qname(envelope_ns(version), "Header")))


_HUB_PREFIX = f"{{{HUB_NS}}}"


def header_block_values(head: etree._Element | None) -> dict[str, str]:
    """The hub's blocks in a Header element (None: no Header), by local name: ``hub_header_values``
    for a reader that has found the Header already."""
    header: dict[str, str] = {}
    if head is not None:
        for el in head:
            tag = el.tag
            if isinstance(tag, str) and tag.startswith(_HUB_PREFIX):
                header[tag[len(_HUB_PREFIX) :]] = (el.text or "").strip()
    return header


def envelope_parts(
    envelope: etree._Element, version: SoapVersion
) -> tuple[etree._Element | None, list[etree._Element]]:
    """An Envelope's first Header and all its Body children, in document order, in one pass over its
    children: what ``find("Header")`` and the paths ``Body/…`` look at, without ElementPath (a few
    microseconds a path, on every reply)."""
    ns = envelope_ns(version)
    header_tag, body_tag = f"{{{ns}}}Header", f"{{{ns}}}Body"
    header = None
    bodies = []
    for child in envelope:
        tag = child.tag
        if tag == body_tag:
            bodies.append(child)
        elif tag == header_tag and header is None:
            header = child
    return header, bodies


def fault_code_local(code: str | None) -> str:
    """A fault code without its prefix: ``soap:Client`` → ``Client``, ``env:Sender`` → ``Sender``."""
    return _local(code)


def fault_is_sender_error(code: str | None) -> bool:
    """Whether a fault code (``soap:Client``, ``env:Sender``, ``Client.Auth``…) blames the request."""
    return _local(code).split(".")[0] in _SENDER_CODES


def parse_envelope(data: bytes, version: SoapVersion) -> SoapResponse:
    """Read a SOAP envelope (raises XmlRefusedError when it is not XML the hub accepts)."""
    root = parse_xml(data, what="SOAP response")
    ns = envelope_ns(version)
    if root.tag != qname(ns, "Envelope"):
        raise ValueError(f"expected a {version} Envelope, got {root.tag}")
    header = hub_header_values(root, version)
    body_el = root.find(qname(ns, "Body"))
    children = [c for c in body_el if isinstance(c.tag, str)] if body_el is not None else []
    payload = children[0] if children else None
    fault = None
    if payload is not None and payload.tag == qname(ns, "Fault"):
        if version == "soap11":
            fault = SoapFault(
                code=_local(_text(payload.find("faultcode"))),
                reason=_text(payload.find("faultstring")) or "",
                detail=_text(payload.find("detail")),
            )
        else:
            code = payload.find(f"{{{ns}}}Code/{{{ns}}}Value")
            reason = payload.find(f"{{{ns}}}Reason/{{{ns}}}Text")
            fault = SoapFault(
                code=_local(_text(code)),
                reason=_text(reason) or "",
                detail=_text(payload.find(qname(ns, "Detail"))),
            )
        payload = None
    return SoapResponse(header=header, body=payload, fault=fault)


# ---------------------------------------------------------------- faults the hub answers with

#: A fault's code in SOAP 1.2 terms; SOAP 1.1 calls Sender ``Client`` and Receiver ``Server``.
FaultCode = Literal["VersionMismatch", "MustUnderstand", "Sender", "Receiver"]
_SOAP11_CODES: dict[FaultCode, str] = {
    "VersionMismatch": "VersionMismatch",
    "MustUnderstand": "MustUnderstand",
    "Sender": "Client",
    "Receiver": "Server",
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def fault_code_name(version: SoapVersion, code: FaultCode) -> str:
    """The local name of ``code`` in ``version``: ``Client`` / ``Server`` in SOAP 1.1."""
    return _SOAP11_CODES[code] if version == "soap11" else code


def fault_http_status(version: SoapVersion, code: FaultCode) -> int:
    """HTTP status of a response carrying a fault.

    SOAP 1.1 (section 6.2, WS-I Basic Profile R1126): always 500. SOAP 1.2 HTTP binding (Part 2,
    7.5.2.2, table 23): ``env:Sender`` is 400 Bad Request, every other fault 500.
    """
    return 400 if version == "soap12" and code == "Sender" else 500


@dataclass(frozen=True)
class FaultMessage:
    """A fault the hub sends, in version-neutral terms; :func:`build_fault` writes it in either version.

    The reason is a title in Vietnamese and English and the specifics (``text``, in English): SOAP 1.2
    gets one ``env:Text`` per language ("title: text"), SOAP 1.1 one ``faultstring`` ("vi / en:
    text"). ``subcode`` (an NCName such as ``schema-invalid``) becomes a SOAP 1.2 ``env:Subcode`` in
    the hub namespace; SOAP 1.1 has no subcodes, so it is only in the detail. ``about_header``
    obeys SOAP 1.1 section 4.4: detail about header entries must not go in ``<detail>``, so there it
    travels as a header block; SOAP 1.2 puts it in ``env:Detail``.
    """

    code: FaultCode
    title_vi: str
    title_en: str
    text: str
    subcode: str | None = None
    detail: etree._Element | None = None
    about_header: bool = False
    #: Clark names of mandatory header blocks not understood (SOAP 1.2 ``env:NotUnderstood``).
    not_understood: tuple[str, ...] = ()
    #: Add ``env:Upgrade`` listing the envelope versions the hub supports (VersionMismatch).
    upgrade: bool = False


def _upgrade_block() -> etree._Element:
    """SOAP 1.2 Part 1, 5.4.7: the envelopes this node supports, newest first."""
    upgrade = etree.Element(qname(SOAP12_NS, "Upgrade"), nsmap={"env": SOAP12_NS})
    for prefix, ns in (("s12", SOAP12_NS), ("s11", SOAP11_NS)):
        supported = etree.SubElement(upgrade, qname(SOAP12_NS, "SupportedEnvelope"), nsmap={prefix: ns})
        supported.set("qname", f"{prefix}:Envelope")
    return upgrade


def _not_understood_block(name: str) -> etree._Element:
    ns, local = name[1:].split("}", 1) if name.startswith("{") else ("", name)
    el = etree.Element(qname(SOAP12_NS, "NotUnderstood"), nsmap={"env": SOAP12_NS, "nu": ns} if ns else None)
    el.set("qname", f"nu:{local}" if ns else local)
    return el


def build_fault(version: SoapVersion, fault: FaultMessage, header: HubHeaderBlocks | None = None) -> bytes:
    """A whole response envelope holding ``fault``, with the hub header blocks given (requestHash…)."""
    ns = envelope_ns(version)
    prefix = "soap" if version == "soap11" else "env"
    env = etree.Element(qname(ns, "Envelope"), nsmap={prefix: ns, "lt": HUB_NS})
    head = etree.SubElement(env, qname(ns, "Header"))
    for el in header.elements() if header is not None else []:
        head.append(el)
    if fault.upgrade:
        head.append(_upgrade_block())
    if version == "soap12":
        for name in fault.not_understood:
            head.append(_not_understood_block(name))
    if fault.detail is not None and fault.about_header and version == "soap11":
        head.append(copy.deepcopy(fault.detail))
    if len(head) == 0:
        env.remove(head)
    body = etree.SubElement(env, qname(ns, "Body"))
    el = etree.SubElement(body, qname(ns, "Fault"))
    code = fault_code_name(version, fault.code)
    if version == "soap11":
        etree.SubElement(el, "faultcode").text = f"{prefix}:{code}"
        etree.SubElement(el, "faultstring").text = f"{fault.title_vi} / {fault.title_en}: {fault.text}"
        # Section 4.4: detail is for problems with the Body only, and never on MustUnderstand.
        if fault.detail is not None and not fault.about_header and fault.code != "MustUnderstand":
            etree.SubElement(el, "detail").append(copy.deepcopy(fault.detail))
    else:
        code_el = etree.SubElement(el, qname(ns, "Code"))
        etree.SubElement(code_el, qname(ns, "Value")).text = f"{prefix}:{code}"
        if fault.subcode is not None:
            sub = etree.SubElement(code_el, qname(ns, "Subcode"))
            etree.SubElement(sub, qname(ns, "Value")).text = f"lt:{fault.subcode}"
        reason = etree.SubElement(el, qname(ns, "Reason"))
        for lang, title in (("vi", fault.title_vi), ("en", fault.title_en)):
            etree.SubElement(reason, qname(ns, "Text"), {_XML_LANG: lang}).text = f"{title}: {fault.text}"
        if fault.detail is not None:
            etree.SubElement(el, qname(ns, "Detail")).append(copy.deepcopy(fault.detail))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------- reading a request sent to the hub


#: Header blocks without a role/actor, or with one of these, are meant for the hub (the ultimate receiver).
_OUR_ROLES = frozenset(
    {
        "",
        "http://schemas.xmlsoap.org/soap/actor/next",
        "http://www.w3.org/2003/05/soap-envelope/role/next",
        "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
    }
)


def read_request(root: etree._Element, version: SoapVersion) -> tuple[etree._Element | None, etree._Element]:
    """Check a parsed request the way SOAP says a receiver must; return its Header (if any) and its
    one body element. Raises :class:`SoapRequestError` naming the fault to answer with."""
    _check_version(root, version)
    ns = envelope_ns(version)
    header, entry = _header_and_entry(root, ns)
    _check_mandatory_blocks(header, version)
    return header, entry


def body_payload(entry: etree._Element) -> bytes:
    """The body element of a request as a document of its own: what the hub verifies and stores.

    lxml writes the element with every namespace declaration in scope at it (those of the Envelope
    included), so its prefixes keep their meaning, also in QName-valued text such as ``xsi:type``.
    Exclusive C14N, which a body signature uses, ignores the declarations the body does not use.
    """
    return serialize(entry, with_tail=False)


def foreign_header_blocks(header: etree._Element | None) -> list[str]:
    """The header blocks that are not the hub's: set apart (never stored, never acted on), named in
    the audit line. Clark names, in document order."""
    if header is None:
        return []
    return [el.tag for el in header if isinstance(el.tag, str) and not el.tag.startswith(f"{{{HUB_NS}}}")]


def _check_version(root: etree._Element, version: SoapVersion) -> None:
    """The Envelope must be the one the Content-Type announced (SOAP 1.1 section 4.1.2, SOAP 1.2 5.4.7)."""
    if root.tag == qname(envelope_ns(version), "Envelope"):
        return
    if version == "soap11":
        if etree.QName(root).localname == "Envelope":
            raise SoapVersionMismatchError(
                f"a SOAP 1.1 request (text/xml) needs an Envelope in {SOAP11_NS}, not {root.tag}"
            )
        raise SoapRequestError(f"the request is not a SOAP Envelope but {root.tag}")
    # SOAP 1.2 Part 1 appendix A: a SOAP 1.1 envelope is answered with a SOAP 1.1 VersionMismatch.
    reply: SoapVersion | None = "soap11" if root.tag == qname(SOAP11_NS, "Envelope") else None
    raise SoapVersionMismatchError(
        f"a SOAP 1.2 request (application/soap+xml) needs an Envelope in {SOAP12_NS}, not {root.tag}",
        reply_version=reply,
    )


def _header_and_entry(root: etree._Element, ns: str) -> tuple[etree._Element | None, etree._Element]:
    if (root.text or "").strip() or any((c.tail or "").strip() for c in root):
        raise SoapRequestError("the Envelope may hold only elements, no text")
    children = [c for c in root if isinstance(c.tag, str)]
    header = children[0] if children and children[0].tag == qname(ns, "Header") else None
    rest = children[1:] if header is not None else children
    if len(rest) != 1 or rest[0].tag != qname(ns, "Body"):
        raise SoapRequestError(
            "the Envelope must hold an optional Header, then one Body, and nothing else (WS-I BP R1011)"
        )
    body = rest[0]
    if (body.text or "").strip() or any((c.tail or "").strip() for c in body):
        raise SoapRequestError("the Body may hold only one element, no text")
    entries = [c for c in body if isinstance(c.tag, str)]
    if len(entries) != 1:
        raise SoapRequestError(f"the Body must hold exactly one element; it holds {len(entries)}")
    return header, entries[0]


def _check_mandatory_blocks(header: etree._Element | None, version: SoapVersion) -> None:
    """Refuse header blocks meant for the hub, marked mustUnderstand, that it does not understand.

    The hub understands its own blocks (namespace ``urn:lienthong:hub:1``) and no others."""
    if header is None:
        return
    ns = envelope_ns(version)
    role_attr = qname(ns, "actor" if version == "soap11" else "role")
    missed = []
    for block in header:
        if not isinstance(block.tag, str) or block.tag.startswith(f"{{{HUB_NS}}}"):
            continue
        if block.get(qname(ns, "mustUnderstand"), "0").strip() not in ("1", "true"):
            continue
        if block.get(role_attr, "").strip() in _OUR_ROLES:
            missed.append(block.tag)
    if missed:
        raise SoapMustUnderstandError(
            "mandatory header block(s) not understood: " + ", ".join(missed),
            not_understood=tuple(missed),
        )
