"""Signing outbound XML: where the signature goes, what it says, that an independent verifier (signxml's
XMLVerifier, with the development CA as the only trust anchor) accepts it, and that a land dossier
sent through the hub with policy xmldsig reaches the registry signed."""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from land_support import LAND_NS, MAPPING, SIMULATOR
from lxml import etree
from project_support import assemble_project
from signxml.exceptions import InvalidDigest, InvalidSignature
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier
from signxml.xades.xades import XAdESSignatureConfiguration, XAdESVerifier

from lienthong.compose import build_hub
from lienthong.config.files import load_configuration
from lienthong.config.models import Configuration, KeyReference, RetryPolicyConfig, SigningPolicyConfig
from lienthong.devtools.samples import sample_dossiers
from lienthong.devtools.simulator import FaultPlan, SimulatorServer
from lienthong.errors import ConfigError, SigningConfigError, SigningError
from lienthong.soap import HubHeader, build_envelope
from lienthong.store import DeliveryState
from lienthong.trust.keys import DevCa, Keystore, SigningKey, create_dev_ca
from lienthong.trust.sign import EXC_C14N, Algorithm, XmlSigner, build_signer, check_signing
from lienthong.xml import EDXML_NS, SOAP11_NS, XMLDSIG_NS, XmlLimits, parse_xml

ROOT = Path(__file__).resolve().parents[2]
PROVINCE = "000.00.00.H49"
LAND = "000.00.00.G13"
DS = {"ds": XMLDSIG_NS}
E = f"{{{EDXML_NS}}}"
HEADER_PATH = f"./{E}edXMLEnvelope/{E}edXMLHeader/"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"

#: lxml-stubs lack DENY_ALL (in lxml since 2.2): XSLTs here may read and write nothing.
DENY_ALL: etree.XSLTAccessControl = cast(Any, etree.XSLTAccessControl).DENY_ALL


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {LAND: "Văn phòng đăng ký đất đai"})


@pytest.fixture(scope="module")
def keystore(dev_ca: DevCa) -> Keystore:
    return Keystore.load(dev_ca.key_references(), Path("/"))


@pytest.fixture(scope="module")
def land_document() -> etree._Element:
    """A TiepNhanHoSo request as the land adapter makes it: a sample dossier through the mapping."""
    xslt = etree.XSLT(etree.parse(str(MAPPING)), access_control=DENY_ALL)
    root = xslt(parse_xml(sample_dossiers(1, day=date(2026, 11, 21))[0].xml)).getroot()
    assert root is not None
    return root


def key_for(keystore: Keystore, algorithm: str) -> SigningKey:
    return keystore.get(DevCa.RSA_KEY_ID if algorithm == "rsa-sha256" else DevCa.EC_KEY_ID)


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def verify(data: bytes, dev_ca: DevCa, location: str = "./") -> VerifyResult:
    result = XMLVerifier().verify(
        data, ca_pem_file=str(dev_ca.ca_certificate), expect_config=SignatureConfiguration(location=location)
    )
    assert isinstance(result, VerifyResult)
    return result


def check_signature(signature: etree._Element, key: SigningKey, method: str) -> None:
    """Exclusive C14N, SHA-256, the algorithm asked for, URI="" with the two transforms, the chain."""
    signed_info = signature.find("ds:SignedInfo", DS)
    assert signed_info is not None
    assert signed_info.findall("ds:CanonicalizationMethod[@Algorithm]", DS)[0].get("Algorithm") == EXC_C14N
    assert signed_info.findall("ds:SignatureMethod[@Algorithm]", DS)[0].get("Algorithm") == method
    reference = signed_info.find("ds:Reference", DS)
    assert reference is not None and reference.get("URI") == ""
    transforms = [t.get("Algorithm") for t in reference.iterfind("ds:Transforms/ds:Transform", DS)]
    assert transforms == [ENVELOPED, EXC_C14N]
    assert reference.findall("ds:DigestMethod[@Algorithm]", DS)[0].get("Algorithm") == SHA256
    certificates = [c.text or "" for c in signature.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", DS)]
    expected = [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in key.chain]
    assert ["".join(c.split()) for c in certificates] == expected  # signer first, then the CA
    assert signature.find("ds:KeyInfo/ds:KeyValue", DS) is None  # no second, unauthenticated key


# ---------------------------------------------------------------- xmldsig


@pytest.mark.parametrize(
    ("algorithm", "method"), [("rsa-sha256", RSA_SHA256), ("ecdsa-sha256", ECDSA_SHA256)]
)
def test_xmldsig_enveloped_as_last_child_of_the_root(
    land_document: etree._Element, keystore: Keystore, dev_ca: DevCa, algorithm: Algorithm, method: str
) -> None:
    key = key_for(keystore, algorithm)
    before = serialise(land_document)
    signed = XmlSigner("xmldsig", algorithm, key).sign(land_document)
    assert serialise(land_document) == before  # the input is left as it was

    assert signed[-1].tag == f"{{{XMLDSIG_NS}}}Signature"
    assert len(signed.findall(".//ds:Signature", DS)) == 1
    check_signature(signed[-1], key, method)

    data = serialise(signed)
    result = verify(data, dev_ca)
    assert result.signed_xml is not None and result.signed_xml.tag == f"{{{LAND_NS}}}TiepNhanHoSo"
    assert result.signed_xml.find(f"{{{LAND_NS}}}MaHoSoMotCua") is not None


def test_tampered_document_fails_verification(
    land_document: etree._Element, keystore: Keystore, dev_ca: DevCa
) -> None:
    data = serialise(XmlSigner("xmldsig", "rsa-sha256", keystore.current).sign(land_document))
    code = land_document.findtext(f"{{{LAND_NS}}}MaHoSoMotCua") or ""
    assert code
    with pytest.raises(InvalidDigest):
        verify(data.replace(code.encode(), code[:-1].encode() + b"9", 1), dev_ca)


def test_untrusted_signer_fails_verification(
    land_document: etree._Element, keystore: Keystore, tmp_path: Path
) -> None:
    other = create_dev_ca(tmp_path / "other", PROVINCE, {})
    data = serialise(XmlSigner("xmldsig", "rsa-sha256", keystore.current).sign(land_document))
    with pytest.raises(InvalidSignature):
        verify(data, other)


def test_signature_survives_the_soap_envelope(
    land_document: etree._Element, keystore: Keystore, dev_ca: DevCa
) -> None:
    """Delivery puts the stored payload in a SOAP Body; taken out, it still verifies (exclusive C14N)."""
    payload = serialise(XmlSigner("xmldsig", "rsa-sha256", keystore.current).sign(land_document))
    header = HubHeader(
        message_id="m-1", correlation_id="c-1", client=PROVINCE, service="G13/land/TiepNhanHoSo"
    )
    request = parse_xml(build_envelope("soap11", header, parse_xml(payload)))
    body = request.find(f"{{{SOAP11_NS}}}Body")
    assert body is not None
    verify(etree.tostring(body[0]), dev_ca)


def test_one_signer_serves_many_threads(
    land_document: etree._Element, keystore: Keystore, dev_ca: DevCa
) -> None:
    """Intake signs from a pool of threads with the adapter's one signer."""
    signer = XmlSigner("xmldsig", "rsa-sha256", keystore.current)
    documents = [copy.deepcopy(land_document) for _ in range(8)]
    for index, document in enumerate(documents):
        code = document.find(f"{{{LAND_NS}}}SoBienNhan")
        assert code is not None
        code.text = f"BN-{index}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        signed = list(pool.map(lambda d: serialise(signer.sign(d)), documents * 5))
    for index, data in enumerate(signed):
        result = verify(data, dev_ca)
        assert result.signed_xml is not None
        assert result.signed_xml.findtext(f"{{{LAND_NS}}}SoBienNhan") == f"BN-{index % 8}"


# ---------------------------------------------------------------- XAdES-BES


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ecdsa-sha256"])
def test_xades_bes_signing_time_and_signing_certificate(
    land_document: etree._Element, keystore: Keystore, dev_ca: DevCa, algorithm: Algorithm
) -> None:
    key = key_for(keystore, algorithm)
    signer = XmlSigner("xades-bes", algorithm, key)
    signed = signer.sign(land_document)
    signature = signed[-1]
    assert signature.tag == f"{{{XMLDSIG_NS}}}Signature"
    references = signature.findall("ds:SignedInfo/ds:Reference", DS)
    assert len(references) == 3
    for reference in references:  # every digest names its canonicalisation
        assert EXC_C14N in [t.get("Algorithm") for t in reference.iterfind("ds:Transforms/ds:Transform", DS)]

    x = {"xades": XADES_NS, **DS}
    signing_time = signature.findtext(".//xades:SignedSignatureProperties/xades:SigningTime", namespaces=x)
    assert signing_time is not None
    assert abs(datetime.fromisoformat(signing_time) - datetime.now(UTC)) < timedelta(minutes=5)
    digest = signature.findtext(
        ".//xades:SigningCertificateV2/xades:Cert/xades:CertDigest/ds:DigestValue", namespaces=x
    )
    assert (
        digest
        == base64.b64encode(hashlib.sha256(key.certificate.public_bytes(Encoding.DER)).digest()).decode()
    )

    results = XAdESVerifier().verify(
        serialise(signed),
        ca_pem_file=str(dev_ca.ca_certificate),
        expect_config=XAdESSignatureConfiguration(location="./"),
    )
    assert results[0].signed_xml is not None and results[0].signed_xml.tag == f"{{{LAND_NS}}}TiepNhanHoSo"

    again = signer.sign(land_document)  # a fresh signature each time, with Ids of its own
    assert again[-1].get("Id") != signature.get("Id")


# ---------------------------------------------------------------- edXML (QCVN 102:2016)


def _header(root: etree._Element) -> etree._Element:
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    return header


@pytest.mark.parametrize(
    ("sample", "algorithm"),
    [
        ("edoc_update.edxml", "rsa-sha256"),  # carries the sender's unprefixed RSA-SHA1 Signature
        ("dc0bdef0-c7a3-4aaf-b717-777303442973.edxml", "ecdsa-sha256"),  # a truncated certificate in it
        ("status_inbox_01.edxml", "rsa-sha256"),  # a status packet with no signature
    ],
)
def test_edxml_signature_is_the_last_child_of_edxmlheader(
    shared_dir: Path, keystore: Keystore, dev_ca: DevCa, sample: str, algorithm: Algorithm
) -> None:
    original = parse_xml((shared_dir / "testdata" / "edxml" / sample).read_bytes())
    had_signature = [c for c in _header(original) if etree.QName(c).localname == "Signature"]
    key = key_for(keystore, algorithm)
    signed = XmlSigner("edxml", algorithm, key).sign(original)

    header = _header(signed)
    children = [c for c in header if isinstance(c.tag, str)]
    assert children[-1].tag == f"{{{XMLDSIG_NS}}}Signature"
    # one signature in the header: the sender's (verified at intake) is replaced by the hub's
    assert [etree.QName(c).localname for c in children].count("Signature") == 1
    assert signed[-1].tag != f"{{{XMLDSIG_NS}}}Signature"  # not at the root, where xmldsig would put it
    assert [etree.QName(c).localname for c in _header(original)].count("Signature") == len(had_signature)
    check_signature(children[-1], key, RSA_SHA256 if algorithm == "rsa-sha256" else ECDSA_SHA256)

    data = serialise(signed)
    result = verify(data, dev_ca, location=HEADER_PATH)
    assert result.signed_xml is not None and result.signed_xml.tag == f"{E}edXML"  # the whole document

    # The digest covers the whole document, body and attachments included, not just the header.
    sender = signed.findtext(f".//{E}MessageHeader/{E}From/{E}OrganId") or ""
    assert sender
    tampered = data.replace(f">{sender}<".encode(), b">000.00.00.H99<", 1)
    assert tampered != data
    with pytest.raises(InvalidDigest):
        verify(tampered, dev_ca, location=HEADER_PATH)


def test_edxml_attachments_are_covered(shared_dir: Path, keystore: Keystore, dev_ca: DevCa) -> None:
    original = parse_xml((shared_dir / "testdata" / "edxml" / "edoc_new.edxml").read_bytes())
    data = serialise(XmlSigner("edxml", "rsa-sha256", keystore.current).sign(original))
    verify(data, dev_ca, location=HEADER_PATH)
    attachment = parse_xml(data).findtext(f".//{E}ContentTransferEncoded") or ""
    assert len(attachment) > 1000
    flipped = attachment[:500] + ("A" if attachment[500] != "A" else "B") + attachment[501:]
    with pytest.raises(InvalidDigest):
        verify(data.replace(attachment.encode(), flipped.encode()), dev_ca, location=HEADER_PATH)


def test_edxml_policy_needs_an_edxml_document(land_document: etree._Element, keystore: Keystore) -> None:
    with pytest.raises(SigningError, match="needs an edXML document"):
        XmlSigner("edxml", "rsa-sha256", keystore.current).sign(land_document)


# ---------------------------------------------------------------- keys and policies


def test_key_type_must_match_the_algorithm(keystore: Keystore) -> None:
    with pytest.raises(SigningConfigError, match="ecdsa-sha256 needs an ECDSA key, but key 'hub-dev' is RSA"):
        XmlSigner("xmldsig", "ecdsa-sha256", keystore.get(DevCa.RSA_KEY_ID))
    with pytest.raises(SigningConfigError, match="needs an RSA key"):
        XmlSigner("xmldsig", "rsa-sha256", keystore.get(DevCa.EC_KEY_ID))


def test_build_signer_per_policy(keystore: Keystore) -> None:
    assert build_signer(SigningPolicyConfig(policy="none"), None) is None
    signer = build_signer(SigningPolicyConfig(policy="edxml"), keystore)
    assert isinstance(signer, XmlSigner) and signer.key.id == DevCa.RSA_KEY_ID
    chosen = build_signer(
        SigningPolicyConfig(policy="xmldsig", algorithm="ecdsa-sha256", key=DevCa.EC_KEY_ID), keystore
    )
    assert isinstance(chosen, XmlSigner) and chosen.key.kind == "ec"
    with pytest.raises(SigningConfigError, match=r"keys\.signing in hub\.yaml is empty"):
        build_signer(SigningPolicyConfig(policy="xmldsig"), None)


def test_an_expired_certificate_is_refused_at_startup(keystore: Keystore) -> None:
    signer = XmlSigner("xmldsig", "rsa-sha256", keystore.current)
    signer.check_validity()
    later = keystore.current.certificate.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(SigningConfigError, match="expired"):
        signer.check_validity(now=later)


# ---------------------------------------------------------------- configuration and the hub


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A test project (hub.yaml for tests, the land adapter and route), to edit."""
    assemble_project(tmp_path)
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _issues(config: Configuration) -> list[str]:
    return [str(issue) for issue in check_signing(config, environ={})]


def test_config_check_reports_signing_problems_with_file_and_line(project: Path, dev_ca: DevCa) -> None:
    land = project / "config" / "adapters" / "land.yaml"
    land.write_text(
        land.read_text(encoding="utf-8").replace("policy: none", "policy: xmldsig"), encoding="utf-8"
    )
    config = load_configuration(project / "config", environ={})
    line = next(n for n, text in enumerate(land.read_text().splitlines(), 1) if "policy: xmldsig" in text)
    assert _issues(config) == [
        f"config/adapters/land.yaml:{line}:3 [signing.policy]: signing policy xmldsig needs a signing key, "
        "but keys.signing in hub.yaml is empty ('hub keys dev-ca' makes development keys)"
    ]

    land.write_text(
        land.read_text(encoding="utf-8").replace("policy: xmldsig", "policy: xmldsig\n  key: hub-2030"),
        encoding="utf-8",
    )
    _append(
        project / "config" / "hub.yaml",
        "keys:\n  signing:\n"
        "    - id: hub-2026\n      key_file: var/keys/missing.key\n"
        f"      certificate_file: {dev_ca.hub_certificate}\n"
        f"    - id: hub-2025\n      key_file: {dev_ca.hub_key}\n"
        f"      certificate_file: {dev_ca.hub_certificate}\n"
        "      password_env: HUB_TEST_UNSET_PASSWORD\n",
    )
    config = load_configuration(project / "config", environ={})
    hub_lines = (project / "config" / "hub.yaml").read_text().splitlines()
    key_file_line = next(n for n, text in enumerate(hub_lines, 1) if "missing.key" in text)
    password_line = next(n for n, text in enumerate(hub_lines, 1) if "HUB_TEST_UNSET_PASSWORD" in text)
    assert _issues(config) == [
        f"config/adapters/land.yaml:{line + 1}:3 [signing.key]: unknown signing key 'hub-2030' "
        "(keys.signing in hub.yaml has: hub-2026, hub-2025)",
        f"config/hub.yaml:{key_file_line}:7 [keys.signing[0].key_file]: key 'hub-2026': file not found: "
        "var/keys/missing.key",
        f"config/hub.yaml:{password_line}:7 [keys.signing[1].password_env]: key 'hub-2025': environment "
        "variable HUB_TEST_UNSET_PASSWORD is not set",
    ]


def test_keys_are_not_required_while_no_adapter_signs(project: Path) -> None:
    _append(
        project / "config" / "hub.yaml",
        "keys:\n  signing:\n    - id: hub-2026\n      key_file: var/keys/not-made-yet.key\n",
    )
    assert _issues(load_configuration(project / "config", environ={})) == []


def _signing_hub_config(
    project: Path, dev_ca: DevCa, endpoint: str, policy: SigningPolicyConfig
) -> Configuration:
    config = load_configuration(project / "config", environ={})
    land = config.adapters["land"].model_copy(
        update={
            "endpoint": endpoint,
            "signing": policy,
            "retry": RetryPolicyConfig(initial_backoff=timedelta(milliseconds=100), jitter=timedelta(0)),
        }
    )
    keys = config.hub.keys.model_copy(update={"signing": dev_ca.key_references()})
    hub = config.hub.model_copy(
        update={
            "keys": keys,
            "database": config.hub.database.model_copy(
                update={"url": f"sqlite:///{project / 'var' / 'hub.db'}"}
            ),
            "workers": config.hub.workers.model_copy(update={"poll_interval": timedelta(milliseconds=50)}),
        }
    )
    return config.model_copy(update={"hub": hub, "adapters": {**config.adapters, "land": land}})


def test_wrong_key_for_the_algorithm_is_a_startup_error_with_a_line(project: Path, dev_ca: DevCa) -> None:
    policy = SigningPolicyConfig(policy="xmldsig", algorithm="ecdsa-sha256")
    config = _signing_hub_config(project, dev_ca, "http://127.0.0.1:9/", policy)
    with pytest.raises(ConfigError) as caught:
        build_hub(config)
    (issue,) = caught.value.issues
    assert issue.file == "config/adapters/land.yaml" and issue.key == "signing.algorithm"
    assert "set signing.key to one of: hub-dev-ec" in issue.message


def test_a_bad_key_file_is_a_startup_error_pointing_at_hub_yaml(
    project: Path, dev_ca: DevCa, tmp_path: Path
) -> None:
    config = _signing_hub_config(
        project, dev_ca, "http://127.0.0.1:9/", SigningPolicyConfig(policy="xmldsig")
    )
    broken = tmp_path / "broken.key"
    broken.write_text("not a key\n")
    refs = [KeyReference(id="hub-broken", key_file=broken, certificate_file=dev_ca.hub_certificate)]
    config = config.model_copy(
        update={
            "hub": config.hub.model_copy(
                update={"keys": config.hub.keys.model_copy(update={"signing": refs})}
            )
        }
    )
    with pytest.raises(ConfigError) as caught:
        build_hub(config)
    (issue,) = caught.value.issues
    assert issue.file == "config/hub.yaml" and issue.key == "keys.signing.0.key_file"
    assert "holds no PEM private key" in issue.message


@pytest.fixture
def land_registry() -> Iterator[SimulatorServer]:
    with SimulatorServer(SIMULATOR, FaultPlan(seed=1)) as server:
        yield server


def _wait_delivered(hub: Any, message_id: uuid.UUID, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        record = hub.store.get_message(message_id)
        if record.deliveries and all(d.state is DeliveryState.DELIVERED for d in record.deliveries):
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"not delivered after {timeout}s: {record.deliveries}")
        time.sleep(0.05)


def test_a_land_dossier_reaches_the_registry_signed(
    project: Path, dev_ca: DevCa, land_registry: SimulatorServer
) -> None:
    config = _signing_hub_config(project, dev_ca, land_registry.url, SigningPolicyConfig(policy="xmldsig"))
    hub = build_hub(config)
    hub.workers.start()
    try:
        sample = sample_dossiers(1, day=date(2026, 11, 21))[0]
        envelope = sample.envelope(sender=PROVINCE, message_id=f"motcua-{sample.dossier_code}")
        accepted = hub.intake.submit(envelope)
        assert accepted.route.targets == ("land",)
        (delivery,) = _wait_delivered(hub, accepted.message_id).deliveries
    finally:
        hub.close()

    # What was stored is signed, and verifies against the development CA alone.
    stored = parse_xml(delivery.payload)
    assert stored.tag == f"{{{LAND_NS}}}TiepNhanHoSo" and stored[-1].tag == f"{{{XMLDSIG_NS}}}Signature"
    verify(delivery.payload, dev_ca)
    # What went over the wire carried exactly that document in its SOAP Body, and the registry
    # (which validates every body against its XSD) took it in and answered with a case id.
    (attempt,) = delivery.history
    assert attempt.request is not None
    body = parse_xml(attempt.request).find(f"{{{SOAP11_NS}}}Body")
    assert body is not None
    verify(etree.tostring(body[0]), dev_ca)
    assert delivery.response is not None
    assert (parse_xml(delivery.response).findtext(f".//{{{LAND_NS}}}MaHoSoDatDai") or "").startswith("DD-")
    assert land_registry.stats()["unique"] == 1


# ---------------------------------------------------------------- the command line


def test_cli_dev_ca_then_sign(project: Path, shared_dir: Path, tmp_path: Path) -> None:
    """``hub keys dev-ca`` prints a snippet that, pasted into hub.yaml, lets ``hub sign`` sign edXML."""
    hub = Path(sys.executable).parent / "hub"
    env = {"PATH": os.environ.get("PATH", ""), "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(hub), *args], cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    made = run("keys", "dev-ca", "-c", "config")
    assert made.returncode == 0, made.stderr
    assert "wrote var/keys/hub.key" in made.stdout
    assert stat.S_IMODE((project / "var" / "keys" / "hub.key").stat().st_mode) == 0o600
    snippet = made.stdout[made.stdout.index("keys:\n") :]
    assert '"000.00.00.G13":' in snippet and "anchors: [var/keys/ca.pem]" in snippet
    # One dev CA for the province and the registry: each agency binds its own certificates.
    assert 'signers: [{subject: {OU: "000.00.00.G13"}}]' in snippet
    assert f'signers: [{{subject: {{OU: "{PROVINCE}"}}}}]' in snippet
    _append(project / "config" / "hub.yaml", "\n" + snippet)
    assert run("keys", "dev-ca", "-c", "config").stdout.count("kept ") == 8  # idempotent

    sample = shared_dir / "testdata" / "edxml" / "status_rejection_02.edxml"
    signed = run("sign", str(sample), "-o", str(tmp_path / "signed.edxml"), "-c", "config")
    assert signed.returncode == 0, signed.stderr
    assert "(edxml, rsa-sha256, key hub-dev)" in signed.stderr
    ca = create_dev_ca(project / "var" / "keys", PROVINCE, {})  # the same files, read back
    data = (tmp_path / "signed.edxml").read_bytes()
    verify(data, ca, location=HEADER_PATH)

    stdout = run("sign", str(sample), "--policy", "xades-bes", "--key", DevCa.EC_KEY_ID, "-c", "config")
    assert stdout.returncode == 0, stdout.stderr
    assert parse_xml(stdout.stdout.encode())[-1].tag == f"{{{XMLDSIG_NS}}}Signature"

    unknown = run("sign", str(sample), "--key", "hub-1999", "-c", "config")
    assert unknown.returncode == 1
    assert "unknown signing key 'hub-1999' (configured: hub-dev, hub-dev-ec)" in unknown.stderr

    # ``hub verify`` under the hub's trust policy, with the province's anchor given on the command line.
    trusting = ("--agency", PROVINCE, "--anchor", "var/keys/ca.pem", "-c", "config")
    good = run("verify", str(tmp_path / "signed.edxml"), *trusting)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OU=000.00.00.H49" in good.stdout and "rsa-sha256" in good.stdout and "VALID" in good.stdout
    # The snippet trusts the dev CA for both agencies, but the province's certificate speaks for the
    # province only: claimed for the land registry, it is refused.
    assert run("config", "check", "-c", "config").returncode == 0
    as_land = run("verify", str(tmp_path / "signed.edxml"), "--agency", "000.00.00.G13", "-c", "config")
    assert as_land.returncode == 1 and "NOT VALID" in as_land.stdout, as_land.stdout + as_land.stderr
    assert "signer-not-bound" in as_land.stdout and "does not speak for agency" in as_land.stdout
    anyone = run("verify", str(tmp_path / "signed.edxml"), "-c", "config")
    assert anyone.returncode == 0 and PROVINCE in anyone.stdout and "000.00.00.G13" not in anyone.stdout
    untrusted = run("verify", str(tmp_path / "signed.edxml"), "--agency", "000.00.00.G05", "-c", "config")
    assert untrusted.returncode == 1 and "NOT VALID" in untrusted.stdout
    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(
        data.replace(b"<edXML:StatusCode>02<", b"<edXML:StatusCode>03<", 1)
    )  # rejected → accepted
    bad = run("verify", str(tampered), *trusting)
    assert bad.returncode == 1
    assert "digest-mismatch" in bad.stdout and "NOT VALID" in bad.stdout


def test_an_edxml_document_with_an_attachment_over_10_mb_is_signed(keystore: Keystore, dev_ca: DevCa) -> None:
    """signxml parses what it signs again; an attachment's base64 text node over libxml2's 10 MB cap
    is signed all the same (issue 10: attachments up to 50 MB), and verifies."""
    big = "QUJD" * 3_000_000  # 12 MB of base64 in one text node
    data = (
        f'<edXML:edXML xmlns:edXML="{EDXML_NS}"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageHeader>'
        "<edXML:DocumentId>000.00.00.H49,2026/11/30,1/UBND</edXML:DocumentId></edXML:MessageHeader>"
        "</edXML:edXMLHeader><edXML:edXMLBody/></edXML:edXMLEnvelope><AttachmentEncoded><Attachment>"
        f"<edXML:ContentTransferEncoded>{big}</edXML:ContentTransferEncoded></Attachment></AttachmentEncoded>"
        "</edXML:edXML>"
    ).encode()
    original = parse_xml(data, limits=XmlLimits.for_documents(20 * 1024 * 1024))
    signed = serialise(XmlSigner("edxml", "rsa-sha256", keystore.current).sign(original))
    huge = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    result = XMLVerifier().verify(
        signed,
        ca_pem_file=str(dev_ca.ca_certificate),
        parser=huge,
        expect_config=SignatureConfiguration(location=HEADER_PATH),
    )
    assert isinstance(result, VerifyResult)
    assert big.encode() in signed


def test_signed_bytes_are_the_signed_tree_written_and_leave_the_input_as_asked(
    keystore: Keystore, dev_ca: DevCa
) -> None:
    """``sign_to_bytes`` (the prepare stage's path: the signed copy written small, its large texts
    spliced in) gives the bytes ``sign`` then ``serialize`` give, a signature that verifies, and the
    input whole again unless the caller said it drops it."""
    big = "UEsDBA" + "QUJD" * 2_000_000  # 8 MB of base64: set apart as a large text
    data = (
        f'<edXML:edXML xmlns:edXML="{EDXML_NS}"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageHeader>'
        "<edXML:DocumentId>000.00.00.H49,2026/11/30,2/UBND</edXML:DocumentId></edXML:MessageHeader>"
        "</edXML:edXMLHeader><edXML:edXMLBody/></edXML:edXMLEnvelope><AttachmentEncoded><Attachment>"
        f"<edXML:ContentTransferEncoded>{big}</edXML:ContentTransferEncoded></Attachment></AttachmentEncoded>"
        "</edXML:edXML>"
    ).encode()
    signer = XmlSigner("edxml", "rsa-sha256", keystore.current)
    kept = parse_xml(data, limits=XmlLimits.for_documents(20 * 1024 * 1024))
    written = signer.sign_to_bytes(kept)
    assert kept.findtext(".//{*}ContentTransferEncoded") == big  # put back: the caller keeps it
    result = XMLVerifier().verify(
        written,
        ca_pem_file=str(dev_ca.ca_certificate),
        parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True),
        expect_config=SignatureConfiguration(location=HEADER_PATH),
    )
    assert isinstance(result, VerifyResult)
    assert written.count(big.encode()) == 1
    # RSA PKCS#1 v1.5 with the same key over the same document: the same bytes as sign, then serialise.
    assert written == serialise(
        signer.sign(parse_xml(data, limits=XmlLimits.for_documents(20 * 1024 * 1024)))
    )
    dropped = parse_xml(data, limits=XmlLimits.for_documents(20 * 1024 * 1024))
    assert signer.sign_to_bytes(dropped, keep_input=False) == written
