"""edXML documents signed the way real senders sign them, for the trust tests.

The VNPT SDK's documents (``../shared/testdata/edxml``) carry ``<Signature>`` without prefix or ``xmlns``
under edXML's default namespace, and a truncated certificate, so none of them can prove that such a
signature verifies. These helpers make verifiable ones: sign with a key of the test's own, the signature
unprefixed in xmldsig (as the sender's library makes it), then drop its ``xmlns`` exactly as the samples
show it — leaving it in edXML's namespace.
"""

from __future__ import annotations

import base64
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner
from signxml.util import namespaces

from lienthong.xml import EDXML_NS, XMLDSIG_NS, parse_xml

INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"  # what the samples' SignedInfo names
EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
HEADER = f"{{{EDXML_NS}}}edXMLEnvelope/{{{EDXML_NS}}}edXMLHeader"
WITH_XMLNS = b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'
#: signxml types ``namespaces`` as dict[str, str], yet documents a None key for the default namespace.
_DEFAULT_DS = cast(dict[str, str], {None: namespaces.ds})


class LegacySigner(XMLSigner):
    """signxml refuses to *make* SHA-1 signatures; real senders still do."""

    def check_deprecated_methods(self) -> None:
        return None


def edxml_document(sender: str = "000.00.00.G22", *, attachment: bytes = b"PK\x03\x04 test zip") -> bytes:
    """A new document (BussinessDocType 0) shaped like the samples: default namespace edXML on the root,
    ``edXML:`` prefixes inside the envelope, an unprefixed attachment block."""
    encoded = base64.b64encode(attachment).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{EDXML_NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{EDXML_NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>{sender}</edXML:OrganId>
          <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
        </edXML:From>
        <edXML:To>
          <edXML:OrganId>000.00.00.H49</edXML:OrganId>
          <edXML:OrganName>UBND tỉnh Quảng Ninh</edXML:OrganName>
        </edXML:To>
        <edXML:DocumentId>{sender},2026/11/30,123/VPCP-TTĐT</edXML:DocumentId>
        <edXML:Code>
          <edXML:CodeNumber>123</edXML:CodeNumber>
          <edXML:CodeNotation>VPCP-TTĐT</edXML:CodeNotation>
        </edXML:Code>
        <edXML:Subject>Về việc triển khai liên thông văn bản điện tử</edXML:Subject>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader>
          <edXML:OrganId>{sender}</edXML:OrganId>
          <edXML:Timestamp>2026/11/30 08:00:00</edXML:Timestamp>
        </edXML:TraceHeader>
        <edXML:Bussiness>
          <edXML:BussinessDocType>0</edXML:BussinessDocType>
        </edXML:Bussiness>
      </edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference>
          <edXML:ContentId>cid:1</edXML:ContentId>
          <edXML:ContentType>application/zip</edXML:ContentType>
          <edXML:AttachmentName>vanban.zip</edXML:AttachmentName>
        </edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:1</ContentId>
      <AttachmentName>vanban.zip</AttachmentName>
      <ContentType>application/zip</ContentType>
      <ContentTransferEncoded>{encoded}</ContentTransferEncoded>
    </Attachment>
  </AttachmentEncoded>
</edXML>
""".encode()


def strip_signature(data: bytes) -> etree._Element:
    """The document with any Signature in its edXMLHeader removed (by local name, prefixed or not)."""
    root = parse_xml(data)
    header = root.find(HEADER)
    assert header is not None
    for old in [c for c in header if isinstance(c.tag, str) and etree.QName(c).localname == "Signature"]:
        header.remove(old)
    return root


def sign_unprefixed(
    data: bytes,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey,
    certs: list[x509.Certificate],
    *,
    algorithm: str = "rsa-sha256",
    c14n: str = EXCLUSIVE_C14N,
) -> bytes:
    """``data`` signed (enveloped, ``URI=""``, last child of edXMLHeader) with the Signature written as
    the samples write it: ``<Signature>``, no prefix, no xmlns — hence in edXML's namespace."""
    root = strip_signature(data)
    header = root.find(HEADER)
    assert header is not None
    etree.SubElement(header, f"{{{XMLDSIG_NS}}}Signature", Id="placeholder", nsmap=_DEFAULT_DS)
    legacy = "sha1" in algorithm
    signer = (LegacySigner if legacy else XMLSigner)(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=algorithm,
        digest_algorithm="sha1" if legacy else "sha256",
        c14n_algorithm=c14n,
    )
    signer.namespaces = _DEFAULT_DS
    signed = signer.sign(root, key=key, cert=certs, always_add_key_value=False)
    produced = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    assert produced.count(WITH_XMLNS) == 1, "signxml wrote the signature differently than expected"
    rewritten = produced.replace(WITH_XMLNS, b"<Signature>")
    assert parse_xml(rewritten).find(f"{HEADER}/{{{EDXML_NS}}}Signature") is not None
    return rewritten
