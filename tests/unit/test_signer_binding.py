"""A certificate speaks for one agency only: two agencies under one CA (one national CA for all state
bodies) are each refused as the other, whatever path the verifier takes; weak keys and MD5-signed
certificates are refused even under the legacy policy; a stranger's CA is reported as such."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from test_verify_wrapping import BODY, LAND, NOW, Issued, make_ca, make_signer, sign_body

from lienthong.config.models import AgencyTrust, SignerRule, TrustSettings
from lienthong.errors import ConfigError, SignatureInvalidError, SignaturePolicyError
from lienthong.trust.verify import AgencyPolicy, TrustStore, XmlVerifier

PROVINCE = "000.00.00.H49"
UNLISTED = "000.00.00.G05"


def agency_name(code: str, organisation: str, *, uid: str | None = None) -> x509.Name:
    """As a Vietnamese national-CA certificate for a state body reads: the code in OU, a tax or budget
    id in UID."""
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, code),
    ]
    if uid is not None:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, uid))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, organisation))
    return x509.Name(attributes)


@pytest.fixture(scope="module")
def national_ca() -> Issued:
    return make_ca("Ban Co yeu Chinh phu (test)")


@pytest.fixture(scope="module")
def land(national_ca: Issued) -> Issued:
    name = agency_name(LAND, "Văn phòng đăng ký đất đai", uid="MNS:1234567")
    return make_signer(national_ca, "land", subject=name)


@pytest.fixture(scope="module")
def province(national_ca: Issued) -> Issued:
    return make_signer(national_ca, "province", subject=agency_name(PROVINCE, "UBND tỉnh Quảng Ninh"))


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def bound(anchor: x509.Certificate) -> TrustStore:
    return TrustStore(
        {
            LAND: AgencyPolicy(anchors=(anchor,), signers=(SignerRule(subject={"OU": LAND}),)),
            PROVINCE: AgencyPolicy(
                anchors=(anchor,),
                signers=(SignerRule(subject={"O": "ubnd TỈNH  quảng ninh"}),),
            ),
        }
    )


# ---------------------------------------------------------------- binding


def test_each_agency_under_one_ca_is_refused_as_the_other(
    national_ca: Issued, land: Issued, province: Issued
) -> None:
    verifier = XmlVerifier(bound(national_ca.cert))
    assert verifier.verify(sign_body(land), agency=LAND, expect=BODY).signer_agency == LAND
    assert verifier.verify(sign_body(province), agency=PROVINCE, expect=BODY).signer_agency == PROVINCE
    for signer, claimed in ((province, LAND), (land, PROVINCE)):
        with pytest.raises(SignatureInvalidError) as refused:
            verifier.verify(sign_body(signer), agency=claimed, expect=BODY)
        assert refused.value.reason == "signer-not-bound"
        assert refused.value.http_status == 403
        assert f"is trusted, but does not speak for agency {claimed}" in refused.value.message
        assert signer.cert.subject.rfc4514_string() in refused.value.message
    # The intake gate refuses it the same way.
    with pytest.raises(SignatureInvalidError, match="does not speak for"):
        verifier.check(sign_body(province), LAND, BODY)
    # With no agency claimed (``hub verify`` without --agency), each certificate finds its own agency.
    assert verifier.verify(sign_body(province), agency=None).signer_agency == PROVINCE
    assert verifier.verify(sign_body(land), agency=None).signer_agency == LAND


def test_a_shared_anchor_without_rules_is_not_enough(national_ca: Issued, province: Issued) -> None:
    """Before binding existed, the province's certificate passed as the land registry's."""
    shared = TrustStore(
        {LAND: AgencyPolicy(anchors=(national_ca.cert,)), PROVINCE: AgencyPolicy(anchors=(national_ca.cert,))}
    )
    with pytest.raises(SignatureInvalidError) as refused:
        XmlVerifier(shared).verify(sign_body(province), agency=LAND)
    assert refused.value.reason == "signer-not-bound"
    assert f"also trusted for {PROVINCE}, and it has no signers rules" in refused.value.message
    # An anchor this agency alone trusts needs no rule: its certificates are the agency's.
    alone = TrustStore({PROVINCE: AgencyPolicy(anchors=(national_ca.cert,))})
    assert XmlVerifier(alone).verify(sign_body(province), agency=PROVINCE).signer_agency == PROVINCE


def test_an_intermediate_of_a_trusted_root_counts_as_shared(national_ca: Issued, province: Issued) -> None:
    intermediate = make_signer(
        national_ca,
        "sub-CA",
        usage=x509.KeyUsage(False, False, False, False, False, True, True, False, False),
    )
    trust = TrustStore(
        {
            LAND: AgencyPolicy(anchors=(national_ca.cert,)),
            PROVINCE: AgencyPolicy(anchors=(intermediate.cert,)),
        }
    )
    assert trust.shared_with(LAND) == (PROVINCE,) and trust.shared_with(PROVINCE) == (LAND,)


def test_rules_match_wildcards_uid_and_pinned_fingerprints(
    national_ca: Issued, land: Issued, province: Issued
) -> None:
    def verifier(*rules: SignerRule) -> XmlVerifier:
        policy = AgencyPolicy(anchors=(national_ca.cert,), signers=rules)
        return XmlVerifier(TrustStore({LAND: policy, PROVINCE: AgencyPolicy(anchors=(national_ca.cert,))}))

    accepted = [
        SignerRule(subject={"UID": "MNS:*", "o": "Văn phòng đăng ký*"}),
        SignerRule(subject={"0.9.2342.19200300.100.1.1": "mns:1234567"}),  # dotted OID, any case
        SignerRule(certificate_sha256=land.cert.fingerprint(hashes.SHA256()).hex(":").upper()),
        SignerRule(subject={"OU": "nothing"}, certificate_sha256=None),
    ]
    assert verifier(*accepted).verify(sign_body(land), agency=LAND).signer_agency == LAND
    refused = [
        SignerRule(
            subject={"UID": "MNS:1234567"},
            certificate_sha256=province.cert.fingerprint(hashes.SHA256()).hex(),  # both must hold
        ),
        SignerRule(subject={"UID": "MNS:123456"}),  # the whole value must match
        SignerRule(subject={"SERIALNUMBER": "*"}),  # an attribute the certificate lacks
    ]
    with pytest.raises(SignatureInvalidError) as error:
        verifier(*refused).verify(sign_body(land), agency=LAND)
    assert error.value.reason == "signer-not-bound"


def test_default_policy_speaks_for_an_unlisted_agency_only_through_rules(
    national_ca: Issued, land: Issued
) -> None:
    unbound = TrustStore(default=AgencyPolicy(anchors=(national_ca.cert,), require_signature=False))
    with pytest.raises(SignatureInvalidError) as refused:
        XmlVerifier(unbound).verify(sign_body(land), agency=UNLISTED)
    assert refused.value.reason == "signer-not-bound"
    assert "every agency not listed" in refused.value.message
    by_code = TrustStore(
        default=AgencyPolicy(anchors=(national_ca.cert,), signers=(SignerRule(subject={"OU": "{agency}"}),))
    )
    assert XmlVerifier(by_code).verify(sign_body(land), agency=LAND).signer_agency == LAND
    with pytest.raises(SignatureInvalidError, match=r"does not speak for agency 000\.00\.00\.G05"):
        XmlVerifier(by_code).verify(sign_body(land), agency=UNLISTED)


def test_configuration_refuses_a_shared_anchor_without_rules(
    tmp_path: Path, national_ca: Issued, land: Issued, province: Issued
) -> None:
    _pem(tmp_path / "national-ca.pem", national_ca.cert)
    shared = [Path("national-ca.pem")]
    with pytest.raises(ConfigError) as error:
        TrustStore.from_settings(
            TrustSettings(
                agencies={LAND: AgencyTrust(anchors=shared), PROVINCE: AgencyTrust(anchors=shared)}
            ),
            tmp_path,
        )
    keys = {issue.key for issue in error.value.issues}
    assert keys == {f"trust.agencies.{LAND}.signers", f"trust.agencies.{PROVINCE}.signers"}
    assert f"also trusted for {PROVINCE}: add signers rules" in str(error.value)

    settings = TrustSettings(
        agencies={
            code: AgencyTrust(anchors=shared, signers=[SignerRule(subject={"OU": code})])
            for code in (LAND, PROVINCE)
        }
    )
    verifier = XmlVerifier(TrustStore.from_settings(settings, tmp_path))
    assert verifier.verify(sign_body(land), agency=LAND).signer_agency == LAND
    with pytest.raises(SignatureInvalidError, match="signers rules"):
        verifier.verify(sign_body(land), agency=PROVINCE)


def test_signer_rules_are_checked_when_configuration_is_read() -> None:
    with pytest.raises(ValidationError, match="'ORG' is not a subject attribute"):
        SignerRule(subject={"ORG": "x"})
    with pytest.raises(ValidationError, match="needs subject attributes, certificate_sha256, or both"):
        SignerRule()
    with pytest.raises(ValidationError, match="64 hex digits"):
        SignerRule(certificate_sha256="abcd")
    with pytest.raises(ValidationError, match="write '\\*'"):
        SignerRule(subject={"OU": " "})


# ---------------------------------------------------------------- strength and issuers


def test_a_1024_bit_signer_is_refused_even_under_the_legacy_policy(national_ca: Issued) -> None:
    weak = make_signer(
        national_ca, "weak", key=rsa.generate_private_key(public_exponent=65537, key_size=1024)
    )
    for policy in (
        AgencyPolicy(anchors=(national_ca.cert,), legacy_sha1=True),  # through the chain
        AgencyPolicy(anchors=(weak.cert,), legacy_sha1=True),  # pinned
    ):
        with pytest.raises(SignaturePolicyError) as refused:
            XmlVerifier(TrustStore({LAND: policy})).verify(sign_body(weak), agency=LAND)
        assert refused.value.reason == "weak-key"
        assert "RSA key of 1024 bits; at least 2048 are required" in refused.value.message


def test_a_1024_bit_ca_in_the_chain_is_refused(land: Issued) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old CA")])
    old_ca = Issued(
        key,
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256()),
    )
    signer = make_signer(old_ca, "signer under an old CA")
    verifier = XmlVerifier(TrustStore({LAND: AgencyPolicy(anchors=(old_ca.cert,), legacy_sha1=True)}))
    with pytest.raises(SignaturePolicyError) as refused:
        verifier.verify(sign_body(signer), agency=LAND)  # the anchor is not in the signature
    assert refused.value.reason == "weak-key" and "CN=Old CA" in refused.value.message


def test_a_strangers_certificate_is_reported_as_an_untrusted_issuer(land: Issued) -> None:
    stranger_ca = make_ca("Stranger CA")
    stranger = make_signer(stranger_ca, "stranger")
    verifier = XmlVerifier(TrustStore({LAND: AgencyPolicy(anchors=(land.cert,))}))
    for chain in ([stranger.cert], [stranger.cert, stranger_ca.cert]):
        with pytest.raises(SignatureInvalidError) as refused:
            verifier.verify(sign_body(stranger, chain=chain), agency=LAND)
        assert refused.value.reason == "untrusted-issuer"
        assert "issued by CN=Stranger CA,O=Test, which is not a trust anchor" in refused.value.message
        assert "path length" not in refused.value.message and "exhausted" not in refused.value.message
