"""edXML signatures as real senders write them: ``<Signature>`` without prefix (so in edXML's namespace)
verifies as the XML Signature it is meant to be, reported as a quirk; SHA-1 only where the agency's legacy
policy allows; one changed byte refuses it; a truncated certificate is a clear error; the document speaks
for the agency that sent it, signer included; and ``signature_verdict`` says where a file stands."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from edxml_trust_support import (
    HEADER,
    INCLUSIVE_C14N,
    edxml_document,
    sign_unprefixed,
    strip_signature,
)
from lxml import etree
from test_signer_binding import agency_name
from test_verify_wrapping import Issued, make_ca, make_signer

from lienthong.config.models import SignerRule
from lienthong.errors import (
    TITLES,
    CertificateUnreadableError,
    InvalidMessageError,
    SenderMismatchError,
    SignatureInvalidError,
    SignaturePolicyError,
)
from lienthong.trust.keys import Keystore, create_dev_ca
from lienthong.trust.sender import check_edxml_sender
from lienthong.trust.sign import XmlSigner
from lienthong.trust.verdict import signature_verdict
from lienthong.trust.verify import AgencyPolicy, TrustStore, XmlVerifier, error_report, report
from lienthong.xml import EDXML_NS, XMLDSIG_NS, parse_xml

VPCP = "000.00.00.G22"  # the Government Office: signs with SHA-1 still (legacy policy)
MOJ = "000.00.00.G06"  # a ministry that signs with SHA-256 only
PROVINCE = "000.00.00.H49"
UNPREFIXED = "signature-unprefixed"
LEGACY = "legacy-signature-algorithm"
SAMPLES = ("dc0bdef0-c7a3-4aaf-b717-777303442973.edxml", "edoc_new.edxml", "edoc_update.edxml")


@pytest.fixture(scope="module")
def national_ca() -> Issued:
    return make_ca("Ban Co yeu Chinh phu (test)")


@pytest.fixture(scope="module")
def vpcp(national_ca: Issued) -> Issued:
    return make_signer(national_ca, "vpcp", subject=agency_name(VPCP, "Văn phòng Chính phủ"))


@pytest.fixture(scope="module")
def moj(national_ca: Issued) -> Issued:
    return make_signer(national_ca, "moj", subject=agency_name(MOJ, "Bộ Tư pháp"))


@pytest.fixture(scope="module")
def trust(national_ca: Issued) -> TrustStore:
    """One national CA for every agency; ``signers`` rules say which certificate speaks for whom."""
    anchors = (national_ca.cert,)
    return TrustStore(
        {
            VPCP: AgencyPolicy(
                anchors=anchors, legacy_sha1=True, signers=(SignerRule(subject={"OU": VPCP}),)
            ),
            MOJ: AgencyPolicy(anchors=anchors, signers=(SignerRule(subject={"OU": MOJ}),)),
        }
    )


@pytest.fixture(scope="module")
def verifier(trust: TrustStore) -> XmlVerifier:
    return XmlVerifier(trust)


def signed(by: Issued, sender: str, *, algorithm: str = "rsa-sha256", c14n: str | None = None) -> bytes:
    kwargs = {"c14n": c14n} if c14n else {}
    return sign_unprefixed(edxml_document(sender), by.key, [by.cert], algorithm=algorithm, **kwargs)


def one_byte_changed(data: bytes, before: bytes, after: bytes) -> bytes:
    assert len(before) == len(after) or len(after) == len(before) + 1
    assert data.count(before) >= 1
    return data.replace(before, after, 1)


# ---------------------------------------------------------------- the unprefixed signature verifies


def test_the_vectors_are_shaped_like_the_samples(vpcp: Issued) -> None:
    data = signed(vpcp, VPCP, algorithm="rsa-sha1", c14n=INCLUSIVE_C14N)
    assert b"<Signature>" in data and b"ds:" not in data and b'xmldsig#">' not in data
    header = parse_xml(data).find(HEADER)
    assert header is not None
    assert header[-1].tag == f"{{{EDXML_NS}}}Signature"  # in edXML's namespace, like the samples'
    assert header[-1].find(f"{{{EDXML_NS}}}SignedInfo") is not None


@pytest.mark.parametrize("c14n", [None, INCLUSIVE_C14N], ids=["exc-c14n", "c14n"])
def test_an_unprefixed_sha256_signature_verifies_and_is_reported(
    verifier: XmlVerifier, moj: Issued, c14n: str | None
) -> None:
    data = signed(moj, MOJ, c14n=c14n)
    verified = verifier.verify(data, agency=MOJ)
    assert verified.quirks == (UNPREFIXED,)
    assert (verified.algorithm, verified.legacy, verified.signer_agency) == ("rsa-sha256", False, MOJ)
    assert verified.signer_subject == moj.cert.subject.rfc4514_string()
    # What the hub acts on is the signed document, without the signature, renamed or not.
    assert verified.signed.tag == f"{{{EDXML_NS}}}edXML"
    assert not [e for e in verified.signed.iter() if etree.QName(e).localname == "Signature"]
    assert (
        verified.signed.findtext(f".//{{{EDXML_NS}}}Subject")
        == "Về việc triển khai liên thông văn bản điện tử"
    )
    assert ("Quirks", UNPREFIXED) in report(verified)


def test_the_intake_gate_accepts_it_and_leaves_the_callers_tree_alone(
    verifier: XmlVerifier, moj: Issued
) -> None:
    root = parse_xml(signed(moj, MOJ))
    before = etree.tostring(root)
    verified = verifier.check(
        root,
        MOJ,
        expect=lambda r: r.find(f"{HEADER}/{{{EDXML_NS}}}MessageHeader"),
    )
    assert verified is not None and verified.quirks == (UNPREFIXED,)
    assert verified.signed.tag == f"{{{EDXML_NS}}}MessageHeader"
    assert etree.tostring(root) == before  # renamed on a private copy only


def test_sha1_is_accepted_only_where_the_agency_has_the_legacy_policy(
    verifier: XmlVerifier, vpcp: Issued, moj: Issued
) -> None:
    verified = verifier.verify(signed(vpcp, VPCP, algorithm="rsa-sha1", c14n=INCLUSIVE_C14N), agency=VPCP)
    assert (verified.algorithm, verified.digest_algorithm, verified.legacy) == ("rsa-sha1", "sha1", True)
    assert verified.quirks == (UNPREFIXED, LEGACY)
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(signed(moj, MOJ, algorithm="rsa-sha1", c14n=INCLUSIVE_C14N), agency=MOJ)
    assert (refused.value.reason, refused.value.algorithm) == ("algorithm-refused", "rsa-sha1")


@pytest.mark.parametrize("algorithm", ["rsa-sha1", "rsa-sha256"])
@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("document", "digest-mismatch"),
        ("attachment", "digest-mismatch"),
        ("signed-info", "signature-mismatch"),
    ],
)
def test_one_changed_byte_refuses_it(
    verifier: XmlVerifier, vpcp: Issued, algorithm: str, where: str, reason: str
) -> None:
    data = signed(vpcp, VPCP, algorithm=algorithm)
    assert verifier.verify(data, agency=VPCP).quirks[0] == UNPREFIXED
    if where == "document":
        before, after = b"<edXML:CodeNumber>123<", b"<edXML:CodeNumber>124<"
    elif where == "attachment":  # one base64 character of the attachment
        encoded = data.split(b"<ContentTransferEncoded>")[1][:4]
        before, after = b">" + encoded, b">" + bytes([encoded[0] ^ 1]) + encoded[1:]
    else:  # one byte (a blank) added inside SignedInfo: its canonical form changes
        before, after = b"<SignedInfo>", b"<SignedInfo> "
    with pytest.raises(SignatureInvalidError) as refused:
        verifier.verify(one_byte_changed(data, before, after), agency=VPCP)
    assert refused.value.reason == reason


def test_a_changed_digest_value_in_signed_info_is_refused(verifier: XmlVerifier, vpcp: Issued) -> None:
    data = signed(vpcp, VPCP)
    value = data.split(b"<DigestValue>")[1].split(b"</DigestValue>")[0]
    flipped = (b"B" if value[:1] == b"A" else b"A") + value[1:]
    with pytest.raises(SignatureInvalidError) as refused:
        verifier.verify(data.replace(value, flipped, 1), agency=VPCP)
    assert refused.value.reason == "signature-mismatch"  # SignedInfo is what the signature value covers


def test_a_signature_in_some_other_namespace_is_still_refused(verifier: XmlVerifier, moj: Issued) -> None:
    data = signed(moj, MOJ).replace(b"<Signature>", b'<Signature xmlns="urn:example:not-a-signature">', 1)
    with pytest.raises(SignatureInvalidError) as refused:
        verifier.verify(data, agency=MOJ)
    assert refused.value.reason == "signature-namespace"


def test_an_unprefixed_and_a_ds_signature_side_by_side_are_two_signatures(
    verifier: XmlVerifier, moj: Issued
) -> None:
    root = parse_xml(signed(moj, MOJ))
    header = root.find(HEADER)
    assert header is not None
    etree.SubElement(header, f"{{{XMLDSIG_NS}}}Signature", nsmap={"ds": XMLDSIG_NS})
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(root, agency=MOJ)
    assert refused.value.reason == "several-signatures"


# ---------------------------------------------------------------- truncated certificates


def test_a_truncated_certificate_is_a_clear_error(verifier: XmlVerifier, vpcp: Issued) -> None:
    data = signed(vpcp, VPCP, algorithm="rsa-sha1")
    cert = data.split(b"<X509Certificate>")[1].split(b"</X509Certificate>")[0]
    with pytest.raises(CertificateUnreadableError) as refused:
        verifier.verify(data.replace(cert, cert[:11]), agency=VPCP)
    assert refused.value.reason == "certificate-unreadable"
    assert "truncated" in refused.value.message and "announces" in refused.value.message
    with pytest.raises(CertificateUnreadableError, match="not base64"):
        verifier.verify(data.replace(cert, b"not*a*certificate"), agency=VPCP)
    with pytest.raises(CertificateUnreadableError, match=r"not a DER-encoded X\.509 certificate"):
        verifier.verify(data.replace(cert, b"QUJDRA=="), agency=VPCP)


def test_certificate_unreadable_has_a_bilingual_title() -> None:
    title = TITLES["certificate-unreadable"]
    assert title.vi == "Không đọc được chứng thư số trong chữ ký"
    assert title.en == "Certificate in the signature unreadable"
    assert issubclass(CertificateUnreadableError, SignatureInvalidError)


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_vendor_samples_truncated_certificate_is_named(
    verifier: XmlVerifier, shared_dir: Path, sample: str
) -> None:
    data = (shared_dir / "testdata" / "edxml" / sample).read_bytes()
    assert b"<X509Certificate>MIIFqTCCBJG</X509Certificate>" in data
    with pytest.raises(CertificateUnreadableError) as refused:
        verifier.check(data, VPCP)
    error = refused.value
    assert (error.reason, error.code, error.http_status, error.agency) == (
        "certificate-unreadable",
        "certificate-unreadable",
        403,
        VPCP,
    )
    assert error.message.startswith(
        "the X509Certificate in the signature's KeyInfo cannot be read: it is truncated: "
        "11 base64 characters (8 bytes) of a DER certificate that announces 1453 bytes"
    )
    rows = dict(error_report(error))
    assert (rows["Algorithm"], rows["Reason"]) == ("rsa-sha1", "certificate-unreadable")
    assert rows["Verdict"] == "unverifiable: the signer's certificate cannot be read"  # hub verify's last row
    verdict = signature_verdict(parse_xml(data))
    assert (verdict.state, verdict.reason, verdict.algorithm) == (
        "unverifiable",
        "certificate-unreadable",
        "rsa-sha1",
    )
    assert verdict.quirks == (UNPREFIXED, LEGACY)


def test_an_unreadable_certificate_is_no_signature_where_the_agency_need_not_sign(
    national_ca: Issued, vpcp: Issued, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody can say who signed: the document is taken as an unsigned one where the policy allows
    unsigned ones (stripping the signature would do the same), refused where it requires a signature;
    a signature that can be checked and fails stays refused either way."""
    data = signed(vpcp, VPCP, algorithm="rsa-sha1")
    cert = data.split(b"<X509Certificate>")[1].split(b"</X509Certificate>")[0]
    truncated = data.replace(cert, cert[:11])
    anchors = (national_ca.cert,)

    def policy(required: bool) -> XmlVerifier:
        rules = (SignerRule(subject={"OU": VPCP}),)
        agency = AgencyPolicy(anchors=anchors, legacy_sha1=True, signers=rules, require_signature=required)
        return XmlVerifier(TrustStore({VPCP: agency}))

    with caplog.at_level("WARNING", "lienthong"):
        assert policy(required=False).check(truncated, VPCP) is None
    assert "accepted as unsigned" in caplog.text and "certificate-unreadable" in caplog.text
    with pytest.raises(CertificateUnreadableError):
        policy(required=True).check(truncated, VPCP)
    tampered = data.replace(b"</edXML:Subject>", b" </edXML:Subject>", 1)
    assert tampered != data
    with pytest.raises(SignatureInvalidError):
        policy(required=False).check(tampered, VPCP)


# ---------------------------------------------------------------- the sender is who sent it


def test_the_edxml_sender_must_be_the_sending_agency() -> None:
    check_edxml_sender(VPCP, VPCP)
    check_edxml_sender(f" {VPCP}\n", VPCP)
    with pytest.raises(SenderMismatchError) as refused:
        check_edxml_sender("000.00.00.G13", VPCP)
    error = refused.value
    assert isinstance(error, InvalidMessageError)
    assert (error.code, error.http_status) == ("edxml-sender-mismatch", 422)
    assert error.message == (
        "the edXML document names '000.00.00.G13' as its sender (From/OrganId), but it was sent by agency "
        "'000.00.00.G22': an agency may send only documents in its own name"
    )
    assert error.detail == {"declared_from": "000.00.00.G13", "agency": VPCP}
    assert str(TITLES["edxml-sender-mismatch"]) == (
        "Cơ quan gửi ghi trong văn bản không phải cơ quan đã gửi / edXML sender is not the sending agency"
    )
    with pytest.raises(SenderMismatchError, match="names no sender"):
        check_edxml_sender("  ", VPCP)
    with pytest.raises(SenderMismatchError):
        check_edxml_sender("000.00.00.g22", VPCP)  # two spellings, two agencies


def test_a_document_from_one_agency_signed_with_anothers_certificate_is_refused(
    verifier: XmlVerifier, moj: Issued, vpcp: Issued
) -> None:
    """From MOJ, sent by MOJ, but signed with VPCP's certificate (same national CA): the sender check
    passes, the signature does not speak for MOJ."""
    data = signed(vpcp, MOJ)
    from_ = parse_xml(data).findtext(
        f"{HEADER}/{{{EDXML_NS}}}MessageHeader/{{{EDXML_NS}}}From/{{{EDXML_NS}}}OrganId"
    )
    assert from_ == MOJ
    check_edxml_sender(from_, MOJ)
    with pytest.raises(SignatureInvalidError) as refused:
        verifier.check(data, MOJ)
    assert refused.value.reason == "signer-not-bound"
    assert "does not speak for agency 000.00.00.G06" in refused.value.message
    # Sent as VPCP instead, the signature would speak for VPCP, and the sender check refuses the From.
    assert verifier.verify(data, agency=VPCP).signer_agency == VPCP
    with pytest.raises(SenderMismatchError):
        check_edxml_sender(from_, VPCP)


# ---------------------------------------------------------------- the verdict, offline


def test_verdict_without_trust_checks_the_cryptography_only(vpcp: Issued) -> None:
    legacy = signature_verdict(parse_xml(signed(vpcp, VPCP, algorithm="rsa-sha1", c14n=INCLUSIVE_C14N)))
    assert (legacy.state, legacy.reason, legacy.algorithm) == ("valid-untrusted", None, "rsa-sha1")
    assert legacy.signer_subject == vpcp.cert.subject.rfc4514_string()
    assert legacy.quirks == (UNPREFIXED, LEGACY)
    data = signed(vpcp, VPCP)
    tampered = signature_verdict(parse_xml(data.replace(b">123<", b">124<", 1)))
    assert (tampered.state, tampered.reason) == ("invalid", "digest-mismatch")
    assert tampered.quirks == (UNPREFIXED,)
    assert signature_verdict(strip_signature(data)).state == "unsigned"


def test_verdict_with_trust_is_intakes_answer(trust: TrustStore, vpcp: Issued, moj: Issued) -> None:
    data = parse_xml(signed(vpcp, VPCP))
    valid = signature_verdict(data, trust, VPCP)
    assert (valid.state, valid.signer_agency, valid.quirks) == ("valid", VPCP, (UNPREFIXED,))
    assert signature_verdict(data, trust).state == "valid"  # no agency named: any that trusts it
    wrong = signature_verdict(data, trust, MOJ)
    assert (wrong.state, wrong.reason) == ("invalid", "signer-not-bound")
    sha1 = signature_verdict(parse_xml(signed(moj, MOJ, algorithm="rsa-sha1")), trust, MOJ)
    assert (sha1.state, sha1.reason, sha1.algorithm) == ("invalid", "algorithm-refused", "rsa-sha1")
    stranger = make_signer(make_ca("Stranger CA"), "stranger", subject=agency_name(VPCP, "Giả mạo"))
    untrusted = signature_verdict(parse_xml(signed(stranger, VPCP)), trust, VPCP)
    assert (untrusted.state, untrusted.reason) == ("invalid", "untrusted-issuer")
    assert signature_verdict(parse_xml(signed(stranger, VPCP))).state == "valid-untrusted"


# ---------------------------------------------------------------- the hub re-signs in the standard form


def test_hub_signing_replaces_an_unprefixed_signature_with_a_ds_one_last_in_the_header(
    tmp_path: Path, vpcp: Issued
) -> None:
    dev = create_dev_ca(tmp_path, PROVINCE, {})
    key = Keystore.load(dev.key_references(), Path("/")).get(dev.RSA_KEY_ID)
    old = parse_xml(signed(vpcp, VPCP, algorithm="rsa-sha1"))
    out = parse_xml(etree.tostring(XmlSigner("edxml", "rsa-sha256", key).sign(old)))
    header = out.find(HEADER)
    assert header is not None
    signatures = [e for e in out.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "Signature"]
    assert signatures == [header[-1]]
    assert (header[-1].tag, header[-1].prefix) == (f"{{{XMLDSIG_NS}}}Signature", "ds")
    method = header[-1].find(f"{{{XMLDSIG_NS}}}SignedInfo/{{{XMLDSIG_NS}}}SignatureMethod")
    assert (
        method is not None and method.get("Algorithm") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    anchors = tuple(x509.load_pem_x509_certificates(dev.ca_certificate.read_bytes()))
    verified = XmlVerifier(TrustStore({PROVINCE: AgencyPolicy(anchors=anchors)})).verify(out, agency=PROVINCE)
    assert (verified.algorithm, verified.quirks) == ("rsa-sha256", ())
