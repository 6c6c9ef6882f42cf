"""Every third-party XML-Signature vector in ../shared/testdata/xmldsig/ through the hub's verifier.

Each vector's ``params`` become an :class:`AgencyPolicy` for one agency; the hub's outcome must match
``expected`` (MANIFEST.md legend). The hub may be stricter than "cryptographically valid" only where the
legend allows it, and these tests show where and why:

* ``allow_legacy_sha1``: valid under the agency's legacy policy; the same vector under the default
  policy must be refused by policy whenever it really uses SHA-1 (``Verified.legacy``).
* ``valid-legacy`` (DSA-SHA1): the hub's legacy policy covers RSA-SHA1 only, so DSA stays refused by
  policy even there; with ``allow_dsa`` (code only, no configuration can set it) it verifies.
* HMAC: no configured agency accepts shared-secret signatures (refused by policy: there is no way to
  configure a secret); a policy built in code may carry a key, which is how the HMAC vectors run.
  Truncated HMAC outputs are invalid whatever the policy.
* ``relaxed_cert_extension_policies``: the xmlsec test certificates lack KeyUsage; only these vectors
  use the relaxed extension policy, and the strict default refuses the same chain.
* ``excise_empty_xmlns_declarations``: not a parameter of the hub; it applies the work-around itself to
  default-namespace signatures, and the test checks that those are exactly the vectors marked so.
* ``x509_cert_from_document`` (XAdES samples): the test pins the certificates found in the document,
  standing in for an agency whose anchors hold them.
* Key size and certificate hashes: some vectors (phaos, WSE) sign with 1024-bit RSA keys certified with
  MD5. The hub refuses keys under 2048 bits and MD5-signed certificates whatever the policy
  (``legacy_sha1`` included); only code may relax that, and these tests do so to run those vectors,
  then show that the hub's own floor refuses them (``weak-key``, ``weak-certificate-signature``).
* ``reject``: refused before any cryptography (DTD); ``reject-policy`` / unsupported: SignaturePolicyError,
  and nothing from the document reaches the error.
"""

from __future__ import annotations

import json
from base64 import b64decode
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree

from lienthong.errors import (
    HubError,
    SignatureError,
    SignatureInvalidError,
    SignaturePolicyError,
    XmlRefusedError,
)
from lienthong.trust.verify import AgencyPolicy, TrustStore, Verified, XmlVerifier, locate_signature
from lienthong.xml import XMLDSIG_NS, parse_xml

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "xmldsig"
AGENCY = "000.00.00.G99"
NOW = datetime.now(UTC)


def _vectors() -> list[dict[str, Any]]:
    path = VECTORS / "expected.json"
    if not path.is_file():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return entries


def _certs_in_document(data: bytes) -> tuple[x509.Certificate, ...]:
    root = parse_xml(data)
    texts = root.iter(f"{{{XMLDSIG_NS}}}X509Certificate")
    return tuple(x509.load_der_x509_certificate(b64decode("".join((t.text or "").split()))) for t in texts)


def policy_for(vector: dict[str, Any], **overrides: Any) -> AgencyPolicy:
    params: dict[str, Any] = vector["params"]
    data = (VECTORS / vector["file"]).read_bytes()
    anchors: tuple[x509.Certificate, ...] = ()
    for key in ("x509_cert_file", "ca_pem_file"):
        if key in params:
            anchors += tuple(x509.load_pem_x509_certificates((VECTORS / params[key]).read_bytes()))
    if params.get("x509_cert_from_document"):
        anchors += _certs_in_document(data)
    hmac_key: bytes | None = None
    if "hmac_key_ascii" in params:
        hmac_key = params["hmac_key_ascii"].encode("ascii")
    if "hmac_key_file" in params:
        hmac_key = (VECTORS / params["hmac_key_file"]).read_bytes()
    fields: dict[str, Any] = {
        "anchors": anchors,
        "legacy_sha1": bool(params.get("allow_legacy_sha1", False)),
        "require_x509": bool(params.get("require_x509", True)),
        "hmac_key": hmac_key,
        "relaxed_extensions": bool(params.get("relaxed_cert_extension_policies", False)),
        # Several vectors date from when 1024-bit RSA and MD5-signed certificates were usual (see below).
        "min_key_bits": 1024,
        "allow_md5_certificates": True,
    }
    fields.update(overrides)
    return AgencyPolicy(**fields)


def verify(vector: dict[str, Any], *, at: datetime | None = None, **overrides: Any) -> Verified:
    params: dict[str, Any] = vector["params"]
    if at is None and "verification_time" in params:
        at = datetime.fromisoformat(params["verification_time"])
    trust = TrustStore({AGENCY: policy_for(vector, **overrides)})
    data = (VECTORS / vector["file"]).read_bytes()
    return XmlVerifier(trust).verify(data, agency=AGENCY, at=at, what=vector["file"])


def _no_leak(error: HubError, data: bytes) -> None:
    """A refusal names the problem, never the unsigned content."""
    text = f"{error.message} {error.detail}"
    assert "999999 (EVIL)" not in text
    for el in parse_xml(data).iter():
        if isinstance(el.tag, str) and el.text and len(el.text.strip()) > 20 and "Signature" not in el.tag:
            assert el.text.strip() not in text


def test_every_vector_file_is_listed(shared_dir: Path) -> None:
    listed = {v["file"] for v in _vectors()}
    on_disk = {p.name for p in VECTORS.glob("*.xml")}
    assert listed == on_disk
    assert len(listed) == 26


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["file"])
def test_vector(vector: dict[str, Any], shared_dir: Path) -> None:
    expected: str = vector["expected"]
    params: dict[str, Any] = vector["params"]
    data = (VECTORS / vector["file"]).read_bytes()

    if expected == "valid":
        verified = verify(vector)
        assert verified.signer_agency == AGENCY
        if "expect_references" in params:
            assert len(verified.covered) == params["expect_references"]
        if params.get("require_x509", True):
            assert verified.certificate is not None and verified.signer_subject
        if verified.legacy:
            assert params.get("allow_legacy_sha1")
            with pytest.raises(SignaturePolicyError) as refused:
                verify(vector, legacy_sha1=False)
            assert refused.value.reason == "algorithm-refused"
        if vector.get("xades"):
            assert verified.signing_time is not None
            assert verified.signing_time == datetime.fromisoformat(params["verification_time"])
    elif expected == "invalid":
        with pytest.raises(SignatureInvalidError):
            verify(vector)
    elif expected == "valid-legacy":
        for legacy in (False, True):  # the hub's legacy policy covers RSA-SHA1, not DSA
            with pytest.raises(SignaturePolicyError) as refused:
                verify(vector, legacy_sha1=legacy)
            assert refused.value.reason == "algorithm-refused"
        verified = verify(vector, allow_dsa=True)
        assert verified.legacy and verified.algorithm == "dsa-sha1"
    elif expected == "reject":
        with pytest.raises((XmlRefusedError, SignaturePolicyError)) as rejected:
            verify(vector)
        _no_leak(rejected.value, data.split(b"]>", 1)[1] if b"<!DOCTYPE" in data else data)
    elif expected == "reject-policy":
        with pytest.raises(SignaturePolicyError) as rejected:
            verify(vector)
        _no_leak(rejected.value, data)
    elif expected.startswith("valid (xmlsec) / unsupported"):
        with pytest.raises(SignaturePolicyError) as rejected:
            verify(vector)
        assert rejected.value.reason == "algorithm-unsupported"
    else:
        pytest.fail(f"unknown expectation {expected!r}")


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["file"])
def test_default_namespace_workaround_matches_the_vectors(vector: dict[str, Any], shared_dir: Path) -> None:
    """The hub excises spurious xmlns="" exactly for unprefixed signatures under inclusive C14N."""
    data = (VECTORS / vector["file"]).read_bytes()
    if b"<!DOCTYPE" in data:
        return
    sig = locate_signature(parse_xml(data))
    assert sig is not None
    c14n = sig.find(f"{{{XMLDSIG_NS}}}SignedInfo/{{{XMLDSIG_NS}}}CanonicalizationMethod")
    assert c14n is not None
    inclusive = "xml-exc-c14n" not in c14n.get("Algorithm", "")
    if vector["params"].get("excise_empty_xmlns_declarations"):
        assert not sig.prefix and inclusive


def _by_name(name: str) -> dict[str, Any]:
    return next(v for v in _vectors() if v["file"] == name)


def test_expired_pinned_certificate_is_invalid_now(shared_dir: Path) -> None:
    vector = _by_name("phaos3-rsa-enveloped.xml")
    with pytest.raises(SignatureInvalidError) as invalid:
        verify(vector, at=NOW)
    assert invalid.value.reason == "certificate-not-valid-at-time"


def test_expired_chain_certificate_is_valid_inside_its_validity(shared_dir: Path) -> None:
    vector = _by_name("aleksey01-enveloping-expired-cert.xml")
    verified = verify(vector, at=datetime(2026, 3, 15, tzinfo=UTC))
    assert verified.certificate is not None


@pytest.mark.parametrize("name", ["phaos3-rsa-enveloped.xml", "wsjs-valid-wss-resp.xml"])
def test_weak_keys_and_md5_certificates_are_refused_even_under_the_legacy_policy(
    name: str, shared_dir: Path
) -> None:
    vector = _by_name(name)
    assert verify(vector).certificate is not None  # cryptographically valid, with the floor relaxed
    with pytest.raises(SignaturePolicyError) as refused:
        verify(vector, min_key_bits=2048, legacy_sha1=True)
    assert refused.value.reason == "weak-key" and "RSA key of 1024 bits" in refused.value.message
    with pytest.raises(SignaturePolicyError) as refused:
        verify(vector, allow_md5_certificates=False, legacy_sha1=True)
    assert refused.value.reason == "weak-certificate-signature" and "MD5" in refused.value.message


def test_chain_needs_its_trust_anchor_and_the_relaxed_profile(shared_dir: Path) -> None:
    vector = _by_name("aleksey01-enveloping-sha256-rsa-sha256.xml")
    with pytest.raises(SignatureInvalidError):
        verify(vector, anchors=())
    with pytest.raises(SignatureInvalidError) as strict:
        verify(vector, relaxed_extensions=False)
    assert strict.value.reason == "untrusted-signer"


def test_hmac_is_refused_by_policy_without_a_configured_secret(shared_dir: Path) -> None:
    vector = _by_name("aleksey01-enveloping-sha256-hmac-sha256.xml")
    with pytest.raises(SignaturePolicyError) as refused:
        verify(vector, hmac_key=None)
    assert refused.value.reason == "hmac-refused"


def test_complex_signature_is_refused_by_policy_even_without_its_dtd(shared_dir: Path) -> None:
    """Under the DTD sit XSLT, XPath here(), RetrievalMethod and external URIs: each is refused."""
    data = (VECTORS / "merlin23-signature-complex.xml").read_bytes()
    body = data.split(b"]>", 1)[1]
    trust = TrustStore({AGENCY: AgencyPolicy(legacy_sha1=True, allow_dsa=True, require_x509=False)})
    with pytest.raises(SignaturePolicyError) as refused:
        XmlVerifier(trust).verify(body, agency=AGENCY)
    assert refused.value.reason in {
        "transform-refused",
        "manifest-refused",
        "retrievalmethod-refused",
        "reference-refused",
    }


def test_ws_security_response_body_is_what_the_hub_acts_on(shared_dir: Path) -> None:
    vector = _by_name("wsjs-valid-wss-resp.xml")
    verified = verify(vector)
    assert etree.QName(verified.signed).localname == "Body"
    trust = TrustStore({AGENCY: policy_for(vector)})
    data = (VECTORS / vector["file"]).read_bytes()
    body = XmlVerifier(trust).verify(data, agency=AGENCY, expect="/soap:Envelope/soap:Body/*")
    assert body.signed.findtext("{http://tempuri.org/}GetDataResult") == "You entered: 123"


def test_real_edxml_with_a_truncated_certificate_is_refused(shared_dir: Path) -> None:
    data = (VECTORS.parent / "edxml" / "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml").read_bytes()
    trust = TrustStore({"000.00.00.G22": AgencyPolicy(legacy_sha1=True)})
    with pytest.raises(SignatureError) as refused:
        XmlVerifier(trust).check(data, "000.00.00.G22")
    assert isinstance(refused.value, SignatureInvalidError)
