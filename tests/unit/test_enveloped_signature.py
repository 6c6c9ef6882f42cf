"""Policy xmldsig signed in place (lienthong.trust._enveloped): the bytes signxml writes for the same
document and key, byte for byte with RSA (PKCS#1 v1.5 is deterministic), and signxml itself wherever
it would treat a document otherwise. xmlsec1 checks these signatures in tests/integration."""

from __future__ import annotations

import copy
import re
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from lienthong.devtools.samples import sample_dossiers
from lienthong.trust.keys import DevCa, Keystore, SigningKey, create_dev_ca
from lienthong.trust.sign import EXC_C14N, SIGNATURE_METHODS, Algorithm, XmlSigner
from lienthong.trust.verify import AgencyPolicy, TrustStore, XmlVerifier
from lienthong.xml import XMLDSIG_NS, parse_xml, serialize

ROOT = Path(__file__).resolve().parents[2]
PROVINCE = "000.00.00.H49"
DENY_ALL: etree.XSLTAccessControl = cast(Any, etree.XSLTAccessControl).DENY_ALL
SIGNATURE_VALUE = re.compile(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    ca = create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {})
    return Keystore.load(ca.key_references(), Path("/"))


def key_for(keystore: Keystore, algorithm: Algorithm) -> SigningKey:
    return keystore.get(DevCa.RSA_KEY_ID if algorithm == "rsa-sha256" else DevCa.EC_KEY_ID)


def translations(count: int) -> list[etree._Element]:
    """Land requests as the land adapter makes them: sample dossiers through the XSLT."""
    xslt = etree.XSLT(
        etree.parse(str(ROOT / "mappings/land/hoso-to-tiepnhanhoso.xsl")), access_control=DENY_ALL
    )
    out = []
    for sample in sample_dossiers(count, day=date(2026, 11, 21)):
        root = xslt(parse_xml(sample.xml)).getroot()
        assert root is not None
        out.append(root)
    return out


def by_signxml(root: etree._Element, key: SigningKey, algorithm: Algorithm) -> bytes:
    """What the hub wrote before: signxml's enveloped signer with the hub's settings, serialised."""
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SIGNATURE_METHODS[algorithm],
        digest_algorithm="sha256",
        c14n_algorithm=EXC_C14N,
    )
    return serialize(signer.sign(root, key=key.private_key, cert=list(key.chain), always_add_key_value=False))


def test_rsa_signatures_are_signxmls_bytes(keystore: Keystore) -> None:
    key = key_for(keystore, "rsa-sha256")
    signer = XmlSigner("xmldsig", "rsa-sha256", key)
    for root in translations(12):
        before = serialize(root)
        expected = by_signxml(root, key, "rsa-sha256")
        assert signer.sign_to_bytes(root) == expected
        assert serialize(root) == before  # keep_input: the input is as it was
        assert serialize(signer.sign(root)) == expected
        assert serialize(root) == before
        assert signer.sign_to_bytes(root, keep_input=False) == expected


def test_ecdsa_signatures_have_signxmls_shape_and_verify(keystore: Keystore) -> None:
    key = key_for(keystore, "ecdsa-sha256")
    signer = XmlSigner("xmldsig", "ecdsa-sha256", key)
    for root in translations(3):
        expected = by_signxml(root, key, "ecdsa-sha256")
        signed = signer.sign_to_bytes(root)
        assert SIGNATURE_VALUE.sub(b"", signed) == SIGNATURE_VALUE.sub(b"", expected)
        config = SignatureConfiguration(require_x509=True, location="./", expect_references=True)
        XMLVerifier().verify(signed, x509_cert=key.certificate, expect_config=config)


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ecdsa-sha256"])
def test_the_hubs_own_verifier_accepts_them(keystore: Keystore, algorithm: Algorithm) -> None:
    key = key_for(keystore, algorithm)
    verifier = XmlVerifier(TrustStore({PROVINCE: AgencyPolicy(anchors=(key.chain[-1],))}))
    signed = XmlSigner("xmldsig", algorithm, key).sign_to_bytes(translations(1)[0], keep_input=False)
    verified = verifier.check(signed, PROVINCE)
    assert verified is not None and verified.signer_subject


def _with_pi_before_the_root(root: etree._Element) -> etree._Element:
    new = copy.deepcopy(root)
    new.addprevious(etree.ProcessingInstruction("keep", "me"))
    assert new.getprevious() is not None
    return new


def _with_placeholder(root: etree._Element) -> etree._Element:
    new = copy.deepcopy(root)
    etree.SubElement(new[0], f"{{{XMLDSIG_NS}}}Signature", Id="placeholder", nsmap={"ds": XMLDSIG_NS})
    return new


def _with_id(root: etree._Element) -> etree._Element:
    new = copy.deepcopy(root)
    new.set("Id", "request-1")
    return new


def _with_comment_and_tail_texts(root: etree._Element) -> etree._Element:
    new = copy.deepcopy(root)
    new.insert(0, etree.Comment(" trước "))
    new[0].tail = "\r\n  "
    new.set("ghi-chu", "dòng 1\ndòng\t2")
    return new


def _with_cdata(root: etree._Element) -> etree._Element:
    """As libxslt makes it for an ``xsl:output cdata-section-elements``."""
    xslt = etree.XSLT(
        etree.XML(
            b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            b'<xsl:output cdata-section-elements="GhiChu"/>'
            b'<xsl:template match="/*"><xsl:copy><xsl:copy-of select="*"/>'
            b"<GhiChu>gi\xe1\xba\xa5y t\xe1\xbb\x9d</GhiChu></xsl:copy></xsl:template></xsl:stylesheet>"
        )
    )
    new = xslt(root).getroot()
    assert new is not None and b"<![CDATA[" in etree.tostring(new, encoding="UTF-8")
    return new


def _declaring(nsmap: dict[str | None, str]) -> Any:
    """The document with ``nsmap`` declared on its root (the signature's namespace under its own
    prefix, another one, as the default, or ``ds`` bound elsewhere): where the signature's
    declarations go depends on them."""

    def shape(root: etree._Element) -> etree._Element:
        new = etree.Element(root.tag, nsmap={**root.nsmap, **nsmap})  # type: ignore[dict-item]
        new.extend(list(copy.deepcopy(root)))
        new.text = root.text
        return etree.fromstring(etree.tostring(new))

    shape.__name__ = f"declaring {nsmap}"
    return shape


NAMESPACE_SHAPES = [
    _declaring({"ds": XMLDSIG_NS}),
    _declaring({"dsig": XMLDSIG_NS}),
    _declaring({"ds": "urn:other", "sig": XMLDSIG_NS}),
    _declaring({"ds": "urn:other"}),
    _declaring({"ds": XMLDSIG_NS, "dsig": XMLDSIG_NS}),
]


@pytest.mark.parametrize(
    "shape",
    [
        _with_pi_before_the_root,
        _with_placeholder,
        _with_id,
        _with_comment_and_tail_texts,
        _with_cdata,
        *NAMESPACE_SHAPES,
    ],
)
def test_documents_signxml_treats_otherwise_get_signxmls_signature(keystore: Keystore, shape: Any) -> None:
    """A processing instruction beside the root (signxml signs the root alone), signxml's placeholder,
    an Id (the Reference names it), comments and CDATA sections with Vietnamese text (signxml's copy
    turns it into character references there), carriage returns and tabs: the same bytes either way."""
    key = key_for(keystore, "rsa-sha256")
    root = shape(translations(1)[0])
    expected = by_signxml(root, key, "rsa-sha256")
    signer = XmlSigner("xmldsig", "rsa-sha256", key)
    assert signer.sign_to_bytes(root) == expected
    assert serialize(signer.sign(root)) == expected


def test_a_name_outside_ascii_fails_as_signxml_fails(keystore: Keystore) -> None:
    """signxml cannot read back its ASCII copy of such a document; the hub's signer fails as it did."""
    key = key_for(keystore, "rsa-sha256")
    root = etree.fromstring("<HoSo><Tên>x</Tên></HoSo>".encode())
    with pytest.raises(etree.XMLSyntaxError):
        by_signxml(root, key, "rsa-sha256")
    with pytest.raises(etree.XMLSyntaxError):
        XmlSigner("xmldsig", "rsa-sha256", key).sign_to_bytes(root)


@pytest.mark.parametrize(
    ("text", "ascii"),
    [
        ("<HoSo><Tên>x</Tên></HoSo>", "<HoSo><Ten>x</Ten></HoSo>"),
        ('<HoSo><Ten ghi-chú="ờ">x</Ten></HoSo>', '<HoSo><Ten ghi-chu="ờ">x</Ten></HoSo>'),
        (
            '<HoSo xmlns:tờ="urn:x"><tờ:Ten>x</tờ:Ten></HoSo>',
            '<HoSo xmlns:to="urn:x"><to:Ten>ờ</to:Ten></HoSo>',
        ),
    ],
)
def test_a_name_outside_ascii_is_left_to_signxml(text: str, ascii: str) -> None:
    """An element's or attribute's name or an element's prefix outside ASCII: not a plain document
    (the text beside them may be anything)."""
    from lienthong.trust._enveloped import plain_document

    assert not plain_document(etree.fromstring(text.encode()))
    assert plain_document(etree.fromstring(ascii.encode()))
