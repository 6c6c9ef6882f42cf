"""The verifier on documents signed here, with throwaway keys and CAs: the hub acts only on what the
signature covers (wrapping refused), trusts only the sending agency's anchors, and applies its
algorithm and time policies."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.signer import XMLSigner
from signxml.util import namespaces

from lienthong.config.models import AgencyTrust, SignerRule, TrustSettings
from lienthong.errors import (
    ConfigError,
    SignatureError,
    SignatureInvalidError,
    SignatureMissingError,
    SignaturePolicyError,
)
from lienthong.trust.verify import (
    AgencyPolicy,
    TrustStore,
    Verified,
    XmlVerifier,
    error_report,
    report,
    verify_file,
)
from lienthong.xml import EDXML_NS, SOAP11_NS, XMLDSIG_NS, parse_xml

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
LAND = "000.00.00.G13"
TAX = "000.00.18.G12"
EVIL = "999999 (EVIL)"
NOW = datetime.now(UTC)
BODY = "/soap:Envelope/soap:Body"
BODY_CHILD = f"{BODY}/*"
ExcC14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey


# ---------------------------------------------------------------- a throwaway PKI


@dataclass(frozen=True)
class Issued:
    key: PrivateKey
    cert: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def make_ca(cn: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=365))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def make_signer(
    ca: Issued,
    cn: str,
    *,
    key: PrivateKey | None = None,
    valid: tuple[datetime, datetime] | None = None,
    usage: x509.KeyUsage | None = None,
    subject: x509.Name | None = None,
) -> Issued:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    not_before, not_after = valid or (NOW - timedelta(days=1), NOW + timedelta(days=90))
    usage = usage or x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject or _name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key, cert)


@pytest.fixture(scope="module")
def land_ca() -> Issued:
    return make_ca("Land CA")


@pytest.fixture(scope="module")
def tax_ca() -> Issued:
    return make_ca("Tax CA")


@pytest.fixture(scope="module")
def land(land_ca: Issued) -> Issued:
    return make_signer(land_ca, "So Tai nguyen va Moi truong")


@pytest.fixture(scope="module")
def trust(land_ca: Issued, tax_ca: Issued) -> TrustStore:
    return TrustStore(
        {
            LAND: AgencyPolicy(anchors=(land_ca.cert,)),
            TAX: AgencyPolicy(anchors=(tax_ca.cert,), legacy_sha1=True),
        }
    )


@pytest.fixture(scope="module")
def verifier(trust: TrustStore) -> XmlVerifier:
    return XmlVerifier(trust)


class _LegacySigner(XMLSigner):
    """signxml refuses to *make* SHA-1 signatures; real senders still do."""

    def check_deprecated_methods(self) -> None:
        return None


# ---------------------------------------------------------------- documents


def soap_request(amount: str = "1000") -> etree._Element:
    return parse_xml(
        f"""<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:wsu="{WSU}">
  <soap:Header><wsse:Security xmlns:wsse="{WSSE}"/></soap:Header>
  <soap:Body wsu:Id="body-1"><m:NopThue xmlns:m="urn:test:thue"><m:MaHoSo>000.00.00.H49-261121-0001</m:MaHoSo>
    <m:SoTien>{amount}</m:SoTien></m:NopThue></soap:Body>
</soap:Envelope>""".encode()
    )


def sign_body(
    signer: Issued,
    *,
    algorithm: str = "rsa-sha256",
    digest: str = "sha256",
    chain: list[x509.Certificate] | None = None,
) -> etree._Element:
    """WS-Security style: a detached signature over soap:Body, placed in wsse:Security."""
    envelope = soap_request()
    sig_cls = _LegacySigner if "sha1" in (algorithm + digest) else XMLSigner
    xml_signer = sig_cls(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=algorithm,
        digest_algorithm=digest,
        c14n_algorithm=ExcC14N,
    )
    signature = xml_signer.sign(
        envelope, key=signer.key, cert=chain or [signer.cert], reference_uri=["#body-1"]
    )
    child(envelope, f"{{{SOAP11_NS}}}Header/{{{WSSE}}}Security").append(signature)
    return reparse(envelope)


#: An unprefixed ds:Signature. signxml types ``namespaces`` as dict[str, str], yet documents (and
#: itself casts to) a None key for the default namespace.
_DEFAULT_DS = cast(dict[str, str], {None: namespaces.ds})


def child(el: etree._Element, path: str) -> etree._Element:
    """``el.find(path)``, which the test needs to be there."""
    found = el.find(path)
    assert found is not None, path
    return found


def reparse(el: etree._Element) -> etree._Element:
    return parse_xml(etree.tostring(el))


def body(envelope: etree._Element) -> etree._Element:
    found = envelope.find(f"{{{SOAP11_NS}}}Body")
    assert found is not None
    return found


# ---------------------------------------------------------------- what the hub acts on


def test_signed_soap_body_verifies_and_is_what_the_hub_acts_on(verifier: XmlVerifier, land: Issued) -> None:
    envelope = sign_body(land)
    verified = verifier.verify(envelope, agency=LAND, expect=BODY)
    assert verified.signed.tag == f"{{{SOAP11_NS}}}Body"
    assert verified.signed.findtext(".//{urn:test:thue}SoTien") == "1000"
    assert verified.signer_agency == LAND
    assert verified.signer_subject == land.cert.subject.rfc4514_string()
    assert verified.certificate == land.cert
    assert (verified.algorithm, verified.digest_algorithm, verified.legacy) == ("rsa-sha256", "sha256", False)
    child = verifier.verify(envelope, agency=LAND, expect=BODY_CHILD)
    assert child.signed.tag == "{urn:test:thue}NopThue"
    by_callable = verifier.verify(envelope, agency=LAND, expect=lambda root: body(root)[0])
    assert by_callable.signed.tag == "{urn:test:thue}NopThue"


def test_signed_body_moved_into_the_header_and_replaced_is_refused(
    verifier: XmlVerifier, land: Issued
) -> None:
    envelope = sign_body(land)
    signed_body = body(envelope)
    wrapper = etree.SubElement(child(envelope, f"{{{SOAP11_NS}}}Header"), "{urn:attacker}Wrapper")
    envelope.remove(signed_body)
    wrapper.append(signed_body)
    evil = copy.deepcopy(signed_body)
    del evil.attrib[f"{{{WSU}}}Id"]
    child(evil, ".//{urn:test:thue}SoTien").text = EVIL
    envelope.append(evil)
    attacked = etree.tostring(envelope)

    for expect in (BODY, BODY_CHILD):
        with pytest.raises(SignaturePolicyError) as refused:
            verifier.verify(attacked, agency=LAND, expect=expect)
        assert refused.value.reason == "not-covered"
        assert EVIL not in f"{refused.value.message} {refused.value.detail}"
    # Without ``expect`` the signature is still good, and what comes back is the signed body only.
    verified = verifier.verify(attacked, agency=LAND)
    assert EVIL not in etree.tostring(verified.signed).decode()
    assert verified.signed.findtext(".//{urn:test:thue}SoTien") == "1000"


def test_duplicate_ids_are_refused(verifier: XmlVerifier, land: Issued) -> None:
    envelope = sign_body(land)
    signed_body = body(envelope)
    evil = copy.deepcopy(signed_body)
    child(evil, ".//{urn:test:thue}SoTien").text = EVIL
    child(envelope, f"{{{SOAP11_NS}}}Header").append(signed_body)  # moves it
    envelope.append(evil)  # same wsu:Id
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(etree.tostring(envelope), agency=LAND, expect=BODY)
    assert refused.value.reason == "duplicate-id"
    # The same id under another attribute name (ID instead of wsu:Id) is no way around it.
    del evil.attrib[f"{{{WSU}}}Id"]
    evil.set("ID", "body-1")
    with pytest.raises(SignaturePolicyError, match="occurs 2 times"):
        verifier.verify(etree.tostring(envelope), agency=LAND)


def test_comments_inserted_into_signed_text_do_not_truncate_what_the_hub_reads(
    verifier: XmlVerifier, land: Issued
) -> None:
    data = etree.tostring(sign_body(land)).replace(b"<m:SoTien>1000<", b"<m:SoTien>1<!---->000<")
    verified = verifier.verify(data, agency=LAND, expect=f"{BODY_CHILD}/*[local-name()='SoTien']")
    assert verified.signed.text == "1000"


def test_two_signatures_where_one_is_expected_are_refused(verifier: XmlVerifier, land: Issued) -> None:
    envelope = sign_body(land)
    security = child(envelope, f".//{{{WSSE}}}Security")
    security.append(copy.deepcopy(security[0]))
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(envelope, agency=LAND)
    assert refused.value.reason == "several-signatures"


def test_tampered_body_is_invalid(verifier: XmlVerifier, land: Issued) -> None:
    data = etree.tostring(sign_body(land)).replace(b">1000<", b">9000<")
    with pytest.raises(SignatureInvalidError) as invalid:
        verifier.verify(data, agency=LAND, expect=BODY)
    assert invalid.value.reason == "digest-mismatch"


# ---------------------------------------------------------------- required or not


def test_unsigned_message_is_refused_only_where_the_policy_requires_a_signature(
    verifier: XmlVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    unsigned = etree.tostring(soap_request())
    with pytest.raises(SignatureMissingError) as missing:
        verifier.check(unsigned, LAND, BODY)
    assert missing.value.http_status == 403 and missing.value.detail["agency"] == LAND
    assert any("signature refused" in r.getMessage() and LAND in r.getMessage() for r in caplog.records)
    relaxed = XmlVerifier(TrustStore({LAND: AgencyPolicy(require_signature=False)}))
    assert relaxed.check(unsigned, LAND, BODY) is None
    assert relaxed.check(unsigned, "000.00.00.H22", BODY) is None  # default policy: not required
    with pytest.raises(SignatureMissingError):
        relaxed.verify(unsigned, agency=LAND)  # verify() always wants a signature


def test_check_returns_the_verified_signature(verifier: XmlVerifier, land: Issued) -> None:
    verified = verifier.check(etree.tostring(sign_body(land)), LAND, BODY_CHILD)
    assert isinstance(verified, Verified) and verified.signed.tag == "{urn:test:thue}NopThue"


# ---------------------------------------------------------------- algorithms


def test_rsa_sha1_is_refused_by_default_and_accepted_for_a_legacy_agency(
    verifier: XmlVerifier, land_ca: Issued, tax_ca: Issued
) -> None:
    old_land = sign_body(make_signer(land_ca, "old land"), algorithm="rsa-sha1", digest="sha1")
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(old_land, agency=LAND, expect=BODY)
    assert (refused.value.reason, refused.value.algorithm) == ("algorithm-refused", "rsa-sha1")
    old_tax = sign_body(make_signer(tax_ca, "old tax"), algorithm="rsa-sha1", digest="sha1")
    verified = verifier.verify(old_tax, agency=TAX, expect=BODY)
    assert verified.legacy and verified.algorithm == "rsa-sha1" and verified.digest_algorithm == "sha1"
    assert ("Verdict", "valid, under the legacy SHA-1 policy") in report(verified)


def test_sha256_signature_over_a_sha1_digest_is_refused_by_default(
    verifier: XmlVerifier, land: Issued
) -> None:
    with pytest.raises(SignaturePolicyError, match="sha1"):
        verifier.verify(sign_body(land, digest="sha1"), agency=LAND)


def test_dsa_is_refused_even_for_a_legacy_agency(verifier: XmlVerifier, tax_ca: Issued) -> None:
    dsa_signer = make_signer(tax_ca, "dsa", key=dsa.generate_private_key(key_size=2048))
    envelope = sign_body(dsa_signer, algorithm="dsa-sha256")
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(envelope, agency=TAX)
    assert refused.value.reason == "algorithm-refused" and refused.value.algorithm == "dsa-sha256"


def test_ecdsa_signer_verifies(verifier: XmlVerifier, land_ca: Issued) -> None:
    signer = make_signer(land_ca, "ec", key=ec.generate_private_key(ec.SECP384R1()))
    verified = verifier.verify(sign_body(signer, algorithm="ecdsa-sha384", digest="sha384"), agency=LAND)
    assert verified.algorithm == "ecdsa-sha384"


# ---------------------------------------------------------------- certificates and time


def test_expired_signer_is_invalid_now_and_valid_inside_its_validity(
    verifier: XmlVerifier, land_ca: Issued
) -> None:
    expired = make_signer(land_ca, "expired", valid=(NOW - timedelta(days=30), NOW - timedelta(days=10)))
    envelope = sign_body(expired)
    with pytest.raises(SignatureInvalidError) as invalid:
        verifier.verify(envelope, agency=LAND)
    assert invalid.value.reason == "certificate-not-valid-at-time"
    verified = verifier.verify(envelope, agency=LAND, at=NOW - timedelta(days=20))
    assert verified.certificate == expired.cert


def test_signer_of_another_agency_is_refused_for_this_one(verifier: XmlVerifier, tax_ca: Issued) -> None:
    envelope = sign_body(make_signer(tax_ca, "Cuc Thue"))
    with pytest.raises(SignatureInvalidError) as invalid:
        verifier.verify(envelope, agency=LAND, expect=BODY)
    # Reported as what it is: the Tax CA is no anchor of the land registry's (not "path length…").
    assert invalid.value.reason == "untrusted-issuer"
    assert "issued by CN=Tax CA,O=Test, which is not a trust anchor" in invalid.value.message
    # Without a claimed agency (CLI), the trust store says whose signer it is.
    assert verifier.verify(envelope, agency=None).signer_agency == TAX


def test_unknown_agency_has_no_anchors(verifier: XmlVerifier, land: Issued) -> None:
    with pytest.raises(SignatureInvalidError):
        verifier.verify(sign_body(land), agency="000.00.00.H56")


def test_certificate_that_may_not_sign_is_refused(verifier: XmlVerifier, land_ca: Issued) -> None:
    encipher_only = x509.KeyUsage(False, False, True, False, False, False, False, False, False)
    envelope = sign_body(make_signer(land_ca, "tls only", usage=encipher_only))
    with pytest.raises(SignatureInvalidError) as invalid:
        verifier.verify(envelope, agency=LAND)
    assert invalid.value.reason == "untrusted-signer"


def test_pinned_self_signed_certificate(land: Issued) -> None:
    pinned = XmlVerifier(TrustStore({LAND: AgencyPolicy(anchors=(land.cert,))}))
    assert pinned.verify(sign_body(land), agency=LAND).certificate == land.cert


# ---------------------------------------------------------------- namespaces and edXML


def test_signature_without_the_ds_prefix_verifies(verifier: XmlVerifier, land: Issued) -> None:
    """Default-namespace Signature and inclusive C14N, as some real senders write it."""
    doc = parse_xml(
        '<HoSo xmlns="urn:test:hoso"><MaHoSo>1</MaHoSo><ChuHoSo>Nguyễn Văn A</ChuHoSo></HoSo>'.encode()
    )
    xml_signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    xml_signer.namespaces = _DEFAULT_DS
    signed = reparse(xml_signer.sign(doc, key=land.key, cert=[land.cert]))
    sig = signed.find(f"{{{XMLDSIG_NS}}}Signature")
    assert sig is not None and not sig.prefix  # lxml says None; its stubs type prefix as str
    verified = verifier.verify(signed, agency=LAND, expect="/*")
    assert verified.signed.findtext("{urn:test:hoso}ChuHoSo") == "Nguyễn Văn A"
    assert verified.signed.find(f"{{{XMLDSIG_NS}}}Signature") is None


def test_default_namespace_signature_over_a_real_xmlns_undeclaration_is_refused(
    verifier: XmlVerifier, land: Issued
) -> None:
    """The xmlns="" work-around must never hide a change of namespace in signed content."""
    doc = parse_xml(b'<HoSo xmlns="urn:test:hoso"><MaHoSo xmlns="">1</MaHoSo></HoSo>')
    xml_signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    xml_signer.namespaces = _DEFAULT_DS
    signed = reparse(xml_signer.sign(doc, key=land.key, cert=[land.cert]))
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(signed, agency=LAND)
    assert refused.value.reason == "ambiguous-namespaces"


def test_wcf_style_default_namespace_signature_with_exclusive_c14n(
    verifier: XmlVerifier, land: Issued
) -> None:
    """.NET writes xmlns="" in bodies and an unprefixed Signature; exclusive C14N needs no work-around."""
    envelope = soap_request()
    body(envelope)[0].append(etree.fromstring(b'<GhiChu xmlns="">ok</GhiChu>'))
    xml_signer = XMLSigner(method=SignatureConstructionMethod.detached, c14n_algorithm=ExcC14N)
    xml_signer.namespaces = _DEFAULT_DS
    signature = xml_signer.sign(envelope, key=land.key, cert=[land.cert], reference_uri=["#body-1"])
    child(envelope, f".//{{{WSSE}}}Security").append(signature)
    verified = verifier.verify(reparse(envelope), agency=LAND, expect=BODY_CHILD)
    assert verified.signed.findtext("GhiChu") == "ok"


def edxml_document() -> etree._Element:
    return parse_xml(
        f"""<edXML xmlns="{EDXML_NS}"><edXMLEnvelope><edXMLHeader>
  <MessageHeader><From><OrganId>{LAND}</OrganId></From><Subject>Công văn</Subject></MessageHeader>
  <TraceHeaderList><TraceHeader><OrganId>{LAND}</OrganId>
    <Timestamp>2026/11/21 10:00:00</Timestamp></TraceHeader></TraceHeaderList>
  <ds:Signature xmlns:ds="{XMLDSIG_NS}" Id="placeholder"/>
</edXMLHeader><edXMLBody><edXMLManifest/></edXMLBody></edXMLEnvelope></edXML>""".encode()
    )


def test_edxml_enveloped_signature_in_the_header_covers_the_whole_document(
    verifier: XmlVerifier, land: Issued
) -> None:
    xml_signer = XMLSigner(c14n_algorithm=ExcC14N)
    signed = reparse(xml_signer.sign(edxml_document(), key=land.key, cert=[land.cert]))
    header = signed.find(f"{{{EDXML_NS}}}edXMLEnvelope/{{{EDXML_NS}}}edXMLHeader")
    assert header is not None and header[-1].tag == f"{{{XMLDSIG_NS}}}Signature"
    verified = verifier.verify(signed, agency=LAND, expect="/edxml:edXML")
    assert verified.signed.tag == f"{{{EDXML_NS}}}edXML"
    assert verified.signed.findtext(f".//{{{EDXML_NS}}}Subject") == "Công văn"
    assert verifier.verify(signed, agency=LAND).signed.tag == f"{{{EDXML_NS}}}edXML"
    tampered = etree.tostring(signed, encoding="utf-8").replace("Công văn".encode(), b"Quyet dinh")
    with pytest.raises(SignatureInvalidError):
        verifier.verify(tampered, agency=LAND)


def test_element_the_hub_acts_on_must_exist_exactly_once(verifier: XmlVerifier, land: Issued) -> None:
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(sign_body(land), agency=LAND, expect="//soap:Missing")
    assert refused.value.reason == "expected-element-not-unique"


# ---------------------------------------------------------------- configuration and the CLI's helpers


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def test_trust_store_from_settings(tmp_path: Path, land_ca: Issued, tax_ca: Issued, land: Issued) -> None:
    _pem(tmp_path / "land.pem", land_ca.cert)
    _pem(tmp_path / "tax.pem", tax_ca.cert)
    settings = TrustSettings(
        agencies={
            LAND: AgencyTrust(anchors=[Path("land.pem")], signers=[SignerRule(subject={"CN": "So Tai*"})]),
            TAX: AgencyTrust(
                anchors=[tmp_path / "tax.pem", Path("land.pem")],
                legacy_sha1=True,
                signers=[SignerRule(subject={"CN": "Cuc Thue"})],
            ),
        }
    )
    trust = TrustStore.from_settings(settings, tmp_path)
    assert trust.anchors_for(LAND) == [land_ca.cert]
    assert trust.anchors_for(TAX) == [tax_ca.cert, land_ca.cert]
    assert trust.policy_for(TAX).legacy_sha1 and not trust.policy_for(LAND).legacy_sha1
    assert trust.policy_for("unknown").require_signature is False
    assert trust.policy_for(TAX).hmac_key is None and not trust.policy_for(TAX).relaxed_extensions

    path = tmp_path / "signed.xml"
    path.write_bytes(etree.tostring(sign_body(land)))
    verified = verify_file(path, trust, LAND, None)
    rows = dict(report(verified))
    assert rows["Agency"] == LAND and rows["Algorithm"] == "rsa-sha256" and rows["Verdict"] == "valid"
    assert rows["Signer"] == land.cert.subject.rfc4514_string() and rows["Signing time"] == "not stated"


def test_trust_store_reports_every_bad_anchor(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    settings = TrustSettings(
        agencies={
            LAND: AgencyTrust(anchors=[Path("missing.pem")]),
            TAX: AgencyTrust(anchors=[Path("junk.pem")]),
        }
    )
    with pytest.raises(ConfigError) as error:
        TrustStore.from_settings(settings, tmp_path)
    assert len(error.value.issues) == 2


def test_error_report_names_verdict_and_reason(verifier: XmlVerifier, land_ca: Issued) -> None:
    envelope = sign_body(make_signer(land_ca, "old"), algorithm="rsa-sha1", digest="sha1")
    with pytest.raises(SignatureError) as refused:
        verifier.verify(envelope, agency=LAND)
    rows = dict(error_report(refused.value))
    assert rows["Verdict"] == "refused by policy" and rows["Reason"] == "algorithm-refused"
