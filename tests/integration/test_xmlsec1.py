"""An independent check: xmlsec1 (libxmlsec1 on OpenSSL, a different implementation from signxml) verifies
what the hub signs, trusting only the development CA, and refuses a tampered or untrusted document.

xmlsec1 is the Debian package ``xmlsec1``; ``.ci/run`` installs it. Without it these tests skip, except
under CI=true where they fail, so CI never silently drops the independent check.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from edxml_trust_support import (
    EXCLUSIVE_C14N,
    HEADER,
    INCLUSIVE_C14N,
    edxml_document,
    sign_unprefixed,
    strip_signature,
)
from land_support import MAPPING
from lxml import etree

from lienthong.devtools.samples import sample_dossiers
from lienthong.trust._unprefixed import as_xmldsig
from lienthong.trust.keys import DevCa, Keystore, create_dev_ca
from lienthong.trust.sign import Policy, XmlSigner
from lienthong.trust.verify import AgencyPolicy, TrustStore, XmlVerifier
from lienthong.xml import EDXML_NS, XMLDSIG_NS, parse_xml

PROVINCE = "000.00.00.H49"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"

#: lxml-stubs lack DENY_ALL (in lxml since 2.2): XSLTs here may read and write nothing.
DENY_ALL: etree.XSLTAccessControl = cast(Any, etree.XSLTAccessControl).DENY_ALL


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {})


@pytest.fixture(scope="module")
def keystore(dev_ca: DevCa) -> Keystore:
    return Keystore.load(dev_ca.key_references(), Path("/"))


def land_document() -> etree._Element:
    xslt = etree.XSLT(etree.parse(str(MAPPING)), access_control=DENY_ALL)
    root = xslt(parse_xml(sample_dossiers(1, day=date(2026, 11, 21))[0].xml)).getroot()
    assert root is not None
    return root


def run_xmlsec1(
    xmlsec1: str, document: Path, trusted: Path, *, xades: bool = False
) -> subprocess.CompletedProcess[str]:
    # Only same-document references: URI="" for the document, #Id for XAdES' signed properties.
    args = [xmlsec1, "--verify", "--trusted-pem", str(trusted)]
    if xades:
        args += ["--enabled-reference-uris", "empty,same-doc", "--id-attr:Id", f"{XADES_NS}:SignedProperties"]
    else:
        args += ["--enabled-reference-uris", "empty"]
    return subprocess.run([*args, str(document)], capture_output=True, text=True, timeout=60, check=False)


def sign_to_file(keystore: Keystore, policy: Policy, key_id: str, root: etree._Element, out: Path) -> Path:
    key = keystore.get(key_id)
    out.write_bytes(
        etree.tostring(
            XmlSigner(policy, key.algorithm, key).sign(root), xml_declaration=True, encoding="UTF-8"
        )
    )
    return out


CASES = [
    ("xmldsig", DevCa.RSA_KEY_ID, None),
    ("xmldsig", DevCa.EC_KEY_ID, None),
    ("xades-bes", DevCa.RSA_KEY_ID, None),
    ("edxml", DevCa.RSA_KEY_ID, "edoc_update.edxml"),
    ("edxml", DevCa.EC_KEY_ID, "status_inbox_01.edxml"),
]


@pytest.mark.parametrize(("policy", "key_id", "sample"), CASES, ids=str)
def test_xmlsec1_verifies_the_hubs_signature(
    xmlsec1: str,
    shared_dir: Path,
    keystore: Keystore,
    dev_ca: DevCa,
    tmp_path: Path,
    policy: Policy,
    key_id: str,
    sample: str | None,
) -> None:
    root = (
        land_document()
        if sample is None
        else parse_xml((shared_dir / "testdata" / "edxml" / sample).read_bytes())
    )
    signed = sign_to_file(keystore, policy, key_id, root, tmp_path / "signed.xml")
    result = run_xmlsec1(xmlsec1, signed, dev_ca.ca_certificate, xades=policy == "xades-bes")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr.splitlines()
    references = 3 if policy == "xades-bes" else 1
    assert f"SignedInfo References (ok/all): {references}/{references}" in result.stderr


@pytest.mark.parametrize("policy", ["xmldsig", "edxml"])
def test_xmlsec1_refuses_a_tampered_document(
    xmlsec1: str, shared_dir: Path, keystore: Keystore, dev_ca: DevCa, tmp_path: Path, policy: Policy
) -> None:
    if policy == "edxml":
        root = parse_xml((shared_dir / "testdata" / "edxml" / "status_finish_06.edxml").read_bytes())
        before, after = b"<edXML:StatusCode>06<", b"<edXML:StatusCode>02<"  # done → rejected
    else:
        root = land_document()
        before, after = b"<DienTich>", b"<DienTich>1"  # a larger parcel
    signed = sign_to_file(keystore, policy, DevCa.RSA_KEY_ID, root, tmp_path / "signed.xml")
    assert run_xmlsec1(xmlsec1, signed, dev_ca.ca_certificate).returncode == 0

    data = signed.read_bytes()
    assert before in data
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(data.replace(before, after, 1))
    result = run_xmlsec1(xmlsec1, tampered, dev_ca.ca_certificate)
    assert result.returncode != 0
    assert "FAIL" in result.stderr and "data and digest do not match" in result.stderr


def test_xmlsec1_refuses_a_signer_it_does_not_trust(xmlsec1: str, keystore: Keystore, tmp_path: Path) -> None:
    other = create_dev_ca(tmp_path / "other-ca", PROVINCE, {})
    signed = sign_to_file(keystore, "xmldsig", DevCa.RSA_KEY_ID, land_document(), tmp_path / "signed.xml")
    result = run_xmlsec1(xmlsec1, signed, other.ca_certificate)
    assert result.returncode != 0
    assert "certificate verification failed" in result.stderr


def documented_recipes() -> dict[str, list[str]]:
    """docs/signing.md's xmlsec1 commands, by the signing policies their comment line names."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "signing.md").read_text(encoding="utf-8")
    recipes: dict[str, list[str]] = {}
    for label, command in re.findall(r"^# ([a-z, -]+):.*\n(xmlsec1 --verify .+)$", text, flags=re.MULTILINE):
        for policy in label.split(","):
            recipes[policy.strip()] = shlex.split(command)
    return recipes


@pytest.mark.parametrize(("policy", "key_id", "sample"), CASES, ids=str)
def test_the_documented_xmlsec1_recipe_verifies_every_policy(
    xmlsec1: str,
    shared_dir: Path,
    keystore: Keystore,
    dev_ca: DevCa,
    tmp_path: Path,
    policy: Policy,
    key_id: str,
    sample: str | None,
) -> None:
    """What a ministry copies from docs/signing.md works on what the hub sends, XAdES included."""
    recipe = documented_recipes().get(policy)
    assert recipe is not None, f"docs/signing.md gives no xmlsec1 command for {policy}"
    root = (
        land_document()
        if sample is None
        else parse_xml((shared_dir / "testdata" / "edxml" / sample).read_bytes())
    )
    signed = sign_to_file(keystore, policy, key_id, root, tmp_path / "signed.xml")
    files = {"province-ca.pem": str(dev_ca.ca_certificate), "signed.xml": str(signed)}
    command = [xmlsec1, *(files.get(arg, arg) for arg in recipe[1:])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr.splitlines()


# ---------------------------------------------------------------- edXML: the standard form, whatever came in


def own_output(data: bytes) -> etree._Element:
    """The hub's own signed output, read back without libxml2's 10 MB text-node cap."""
    return etree.fromstring(data, parser=etree.XMLParser(huge_tree=True, resolve_entities=False))


def edxml_signatures(data: bytes) -> list[etree._Element]:
    root = own_output(data)
    return [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "Signature"]


def assert_standard_edxml_signature(data: bytes) -> None:
    """One signature, ``ds:``-prefixed, RSA-SHA256, the last child of edXMLHeader."""
    signatures = edxml_signatures(data)
    assert len(signatures) == 1
    sig = signatures[0]
    header = own_output(data).find(HEADER)
    assert header is not None and etree.QName(header[-1]).localname == "Signature"
    assert (sig.tag, sig.prefix) == (f"{{{XMLDSIG_NS}}}Signature", "ds")
    assert b"<ds:Signature " in data and b"<Signature>" not in data
    method = sig.find(f"{{{XMLDSIG_NS}}}SignedInfo/{{{XMLDSIG_NS}}}SignatureMethod")
    assert (
        method is not None and method.get("Algorithm") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )


@pytest.mark.parametrize("stripped", [False, True], ids=["old-signature-in", "old-signature-stripped"])
@pytest.mark.parametrize("sample", ["dc0bdef0-c7a3-4aaf-b717-777303442973.edxml", "edoc_new.edxml"])
def test_a_vendor_sample_re_signed_by_the_hub_is_in_the_standard_form(
    xmlsec1: str,
    shared_dir: Path,
    keystore: Keystore,
    dev_ca: DevCa,
    tmp_path: Path,
    sample: str,
    stripped: bool,
) -> None:
    """The samples carry an old unprefixed RSA-SHA1 signature (with a truncated certificate): the hub's
    edXML signature replaces it, or is added to the sample once it is stripped."""
    data = (shared_dir / "testdata" / "edxml" / sample).read_bytes()
    assert b"<Signature>" in data and b"xmldsig#rsa-sha1" in data
    root = strip_signature(data) if stripped else parse_xml(data)
    signed = sign_to_file(keystore, "edxml", DevCa.RSA_KEY_ID, root, tmp_path / "signed.edxml")
    assert_standard_edxml_signature(signed.read_bytes())
    result = run_xmlsec1(xmlsec1, signed, dev_ca.ca_certificate)
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 1/1" in result.stderr


def test_an_edxml_document_with_a_12_mib_attachment_verifies(
    xmlsec1: str, keystore: Keystore, dev_ca: DevCa, tmp_path: Path
) -> None:
    """Over libxml2's default cap of 10 MB in one text node (16 MB of base64): the hub signs it, and both
    xmlsec1 and the hub's verifier accept it; one changed byte deep in the attachment is caught."""
    root = parse_xml(edxml_document(PROVINCE))
    encoded = root.find(f".//{{{EDXML_NS}}}ContentTransferEncoded")
    assert encoded is not None
    encoded.text = base64.b64encode(os.urandom(12 * 1024 * 1024)).decode()
    signed = sign_to_file(keystore, "edxml", DevCa.RSA_KEY_ID, root, tmp_path / "big.edxml")
    data = signed.read_bytes()
    assert len(data) > 16_000_000
    assert_standard_edxml_signature(data)
    result = run_xmlsec1(xmlsec1, signed, dev_ca.ca_certificate)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr.splitlines()
    tree = own_output(data)
    anchors = tuple(x509.load_pem_x509_certificates(dev_ca.ca_certificate.read_bytes()))
    verified = XmlVerifier(TrustStore({PROVINCE: AgencyPolicy(anchors=anchors)})).verify(
        tree, agency=PROVINCE
    )
    assert verified.algorithm == "rsa-sha256"

    middle = data.index(b"<ContentTransferEncoded>") + 8_000_000
    flipped = data[:middle] + (b"A" if data[middle : middle + 1] != b"A" else b"B") + data[middle + 1 :]
    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(flipped)
    failed = run_xmlsec1(xmlsec1, tampered, dev_ca.ca_certificate)
    assert failed.returncode != 0 and "data and digest do not match" in failed.stderr


@pytest.mark.parametrize(
    ("algorithm", "c14n"),
    [("rsa-sha1", INCLUSIVE_C14N), ("rsa-sha256", EXCLUSIVE_C14N)],
    ids=["sha1", "sha256"],
)
def test_xmlsec1_agrees_with_the_renaming_of_an_unprefixed_signature(
    xmlsec1: str, keystore: Keystore, dev_ca: DevCa, tmp_path: Path, algorithm: str, c14n: str
) -> None:
    """The copy the hub verifies an unprefixed edXML signature on (the subtree renamed into xmldsig) is a
    document xmlsec1 verifies too: the renaming reproduces what the sender's library signed."""
    key = keystore.get(DevCa.RSA_KEY_ID)
    data = sign_unprefixed(edxml_document(), key.private_key, list(key.chain), algorithm=algorithm, c14n=c14n)
    as_is = tmp_path / "unprefixed.edxml"
    as_is.write_bytes(data)
    assert run_xmlsec1(xmlsec1, as_is, dev_ca.ca_certificate).returncode != 0  # no xmldsig Signature there
    root = parse_xml(data)
    sig = edxml_signatures(data)
    header = root.find(HEADER)
    assert header is not None and len(sig) == 1
    private, _ = as_xmldsig(root, header[-1])
    renamed = tmp_path / "renamed.edxml"
    renamed.write_bytes(etree.tostring(private, xml_declaration=True, encoding="UTF-8"))
    result = run_xmlsec1(xmlsec1, renamed, dev_ca.ca_certificate)
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 1/1" in result.stderr
