"""SOAP 1.1 / 1.2 envelopes as the hub writes and reads them, and what a fault means for delivery.

The hub's header blocks (namespace ``urn:lienthong:hub:1``) travel on every call:
``messageId``, ``correlationId``, ``causationId`` (optional), ``client`` (agency code of the caller)
and ``service`` (agency/adapter/operation called). Every response carries ``requestHash``: the
base64 SHA-256 of the exact request bytes it answers, so a response can never be matched to the
wrong request (the same idea as X-Road's requestHash).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from .xml import HUB_NS, SOAP11_NS, SOAP12_NS, parse_xml, qname

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
    request_hash: str | None = None

    def elements(self) -> list[etree._Element]:
        out = []
        for local, value in (
            ("messageId", self.message_id),
            ("correlationId", self.correlation_id),
            ("causationId", self.causation_id),
            ("client", self.client),
            ("service", self.service),
        ):
            if value is not None:
                el = etree.Element(qname(HUB_NS, local), nsmap={"lt": HUB_NS})
                el.text = value
                out.append(el)
        if self.request_hash is not None:
            el = etree.Element(qname(HUB_NS, "requestHash"), nsmap={"lt": HUB_NS}, algorithm=SHA256_URI)
            el.text = self.request_hash
            out.append(el)
        return out


def build_envelope(version: SoapVersion, header: HubHeader, body: etree._Element) -> bytes:
    ns = envelope_ns(version)
    env = etree.Element(qname(ns, "Envelope"), nsmap={"soap": ns, "lt": HUB_NS})
    head = etree.SubElement(env, qname(ns, "Header"))
    for el in header.elements():
        head.append(el)
    etree.SubElement(env, qname(ns, "Body")).append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class SoapFault:
    code: str  # local part: Client/Server (1.1) or Sender/Receiver (1.2)
    reason: str
    detail: str | None

    @property
    def is_sender_error(self) -> bool:
        """A fault blaming the request: resending the same bytes cannot help."""
        return self.code in {"Client", "Sender", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"}


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


def parse_envelope(data: bytes, version: SoapVersion) -> SoapResponse:
    """Read a SOAP envelope (raises XmlRefusedError when it is not XML the hub accepts)."""
    root = parse_xml(data, what="SOAP response")
    ns = envelope_ns(version)
    if root.tag != qname(ns, "Envelope"):
        raise ValueError(f"expected a {version} Envelope, got {root.tag}")
    header: dict[str, str] = {}
    head = root.find(qname(ns, "Header"))
    if head is not None:
        for el in head:
            if isinstance(el.tag, str) and el.tag.startswith(f"{{{HUB_NS}}}"):
                header[etree.QName(el).localname] = (el.text or "").strip()
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
