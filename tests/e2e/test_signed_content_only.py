"""The hub acts only on what a signature covers (issue 7, item 2), over real HTTP.

A validly signed request can carry content no signature covers: a copy of the status element in the
SOAP Header, an element slipped into the enveloped ``ds:Signature`` (a ``ds:Object``, which the
enveloped-signature transform takes out of the digest), a signed Body moved into a header and an
unsigned one put in its place. None of it may be stored as the message, matched by a route, read
as the dossier code or reported valid by ``hub verify``.
"""

from __future__ import annotations

import copy
import logging
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from land_support import LAND_NS
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.signer import XMLSigner
from soap_support import (
    DOSSIER,
    HUB_ENVIRON,
    LAND,
    PROVINCE,
    STATUS_ACTION,
    VERSIONS,
    Version,
    ack,
    envelope,
    fault,
    fault_detail,
    hub_header,
    post,
    row_counts,
    status_update,
)
from support import agencies_signing_under_one_ca

from lienthong.config.models import KeyReference, SigningPolicyConfig
from lienthong.devtools.demo import dossier_body
from lienthong.trust.keys import DevCa, Keystore, create_dev_ca
from lienthong.trust.sign import build_signer
from lienthong.trust.verify import TrustStore, verify_file
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, XMLDSIG_NS, parse_xml

LT = f"{{{HUB_NS}}}"
DS = f"{{{XMLDSIG_NS}}}"
HOSO_NS = "urn:lienthong:province:hoso:1"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
FORGED_DOSSIER = "000.00.00.H49-261121-9999"


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {LAND: "Đăng ký đất đai"})


def sign_as(agency: str | None, xml: bytes, ca: DevCa) -> bytes:
    """An enveloped XMLDSig over the whole document (``URI=""``), by the agency's own key (None: the
    province's, the hub's dev key)."""
    references = ca.key_references()
    if agency is not None:
        chain, key = ca.agencies[agency]
        references = [KeyReference(id="land-dev", key_file=key, certificate_file=chain)]
    signer = build_signer(SigningPolicyConfig(policy="xmldsig"), Keystore.load(references, Path("/")))
    assert signer is not None
    return etree.tostring(signer.sign(parse_xml(xml)), xml_declaration=True, encoding="UTF-8")


def signed_status(ca: DevCa, dossier: str = DOSSIER, state: str = "4") -> str:
    """The land registry's status update, signed by the registry, ready to go into a Body."""
    return sign_as(LAND, status_update(dossier, state).encode(), ca).split(b"?>", 1)[1].strip().decode()


def smuggle_into_signature(signed: str | bytes, element: str) -> str:
    """Put ``element`` in a ds:Object of the enveloped signature: the signature stays valid, since the
    enveloped-signature transform removes the whole ds:Signature before digesting."""
    text = signed if isinstance(signed, str) else signed.decode()
    head, _, tail = text.rpartition("</ds:Signature>")
    assert head, "the signer writes a ds: prefix"
    return f"{head}<ds:Object>{element}</ds:Object></ds:Signature>{tail}"


@pytest.fixture
def strict_hub(
    hub_factory: Callable[..., Any], project_factory: Callable[..., Any], land_sim: Any, dev_ca: DevCa
) -> Any:
    """Both the province and the land registry must sign, with certificates from the dev CA; the first
    route would take any message with a state-10 ('returned') status element anywhere in it, as a
    route written with ``//dd:…`` does."""
    project = project_factory(
        land_sim.url,
        routes=[
            {
                "name": "returned-anywhere",
                "match": {
                    "xpath": "boolean(//dd:TrangThai[. = '10'] | //h:Forged)",
                    "namespaces": {"dd": LAND_NS, "h": HOSO_NS},
                },
                "targets": ["land"],
            },
            {
                "name": "land-transfer",
                "match": {
                    "kind": "dossier",
                    "xpath": "boolean(/h:HoSo/h:ThongTinThuaDat)",
                    "namespaces": {"h": HOSO_NS},
                },
                "targets": ["land"],
            },
        ],
    )
    project.update("hub.yaml", agencies_signing_under_one_ca(dev_ca.ca_certificate, PROVINCE, LAND))
    return hub_factory(project, environ=HUB_ENVIRON)


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="lienthong.audit")
    return caplog


def soap_envelope(version: Version, body: str, header: str = "", message_id: str = "dkdd-signed-1") -> bytes:
    return envelope(version, body, message_id=message_id, header=header)


# ---------------------------------------------------------------- SOAP: the header is not the message


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unsigned_copy_of_the_status_in_the_soap_header_is_refused(
    strict_hub: Any, dev_ca: DevCa, version: Version, audit: pytest.LogCaptureFixture
) -> None:
    forged = status_update(FORGED_DOSSIER, "10")  # not signed: a copy with another dossier and state
    data = soap_envelope(version, signed_status(dev_ca), header=forged)
    response = post(strict_hub.client, version, data, action=STATUS_ACTION)

    assert response.status_code == (500 if version == "soap11" else 400), response.text
    assert fault(response).code in {"Client", "Sender"}
    assert fault_detail(response).findtext(f"{LT}code") == "header-invalid"
    assert "business data in the Header is refused" in fault(response).reason
    assert row_counts(strict_hub.project.database)["messages"] == 0
    refusals = [r.getMessage() for r in audit.records if r.name == "lienthong.audit"]
    assert any("reason=header-invalid" in line and f"agency={LAND}" in line for line in refusals), refusals


@pytest.mark.parametrize("version", VERSIONS)
def test_a_signed_status_is_stored_routed_and_filed_by_its_signed_body_alone(
    strict_hub: Any, dev_ca: DevCa, version: Version, audit: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A state-10 element inside the body's own signature (a ds:Object: valid signature, covered by
    nothing) must not be matched by ``//dd:TrangThai``; WS-Addressing blocks are set apart."""
    smuggled = f'<dd:TrangThai xmlns:dd="{LAND_NS}">10</dd:TrangThai>'
    body = smuggle_into_signature(signed_status(dev_ca), smuggled)
    addressing = (
        f'<wsa:To xmlns:wsa="{WSA}">https://hub.example.vn/soap/land</wsa:To>'
        f'<wsa:MessageID xmlns:wsa="{WSA}">urn:uuid:6b1f0a4e-1c8e-4a53-9f1e-1f3c2b5d7a90</wsa:MessageID>'
    )
    data = soap_envelope(version, body, header=addressing)
    response = post(strict_hub.client, version, data, action=STATUS_ACTION)

    assert response.status_code == 200, response.text
    answer = ack(response)
    assert answer["routeStatus"] == "unroutable"  # the smuggled state 10 matched no route
    view = strict_hub.status(answer["messageId"])
    assert view["route"]["status"] == "unroutable"
    assert view["dossier_code"] == DOSSIER
    stored = strict_hub.client.get(f"/api/v1/messages/{answer['messageId']}/payload").content
    root = etree.fromstring(stored)
    assert root.tag == f"{{{LAND_NS}}}CapNhatTrangThaiHoSo"  # the body element, not the envelope
    assert WSA.encode() not in stored and b"messageId" not in stored
    record = strict_hub.hub.store.get_message(uuid.UUID(answer["messageId"]))
    assert record.envelope.headers["soap.request_hash"] == hub_header(response)["requestHash"]
    # What is stored still verifies: it is exactly the bytes the gateway verified.
    (tmp_path / "stored.xml").write_bytes(stored)
    trust = TrustStore.from_settings(strict_hub.hub.config.hub.trust, strict_hub.hub.config.root)
    verified = verify_file(tmp_path / "stored.xml", trust, LAND, None)
    assert verified.signed.findtext(f"{{{LAND_NS}}}TrangThai") == "4"
    if shutil.which("xmlsec1"):  # and so does an independent implementation, as docs/signing.md shows
        xmlsec = subprocess.run(
            [
                "xmlsec1",
                "--verify",
                "--trusted-pem",
                str(dev_ca.ca_certificate),
                "--enabled-reference-uris",
                "empty",
                str(tmp_path / "stored.xml"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert xmlsec.returncode == 0, xmlsec.stderr
    accepted = [r.getMessage() for r in audit.records if r.getMessage().startswith("accepted service=soap:")]
    assert any(f"{{{WSA}}}To,{{{WSA}}}MessageID" in line for line in accepted), accepted
    assert any(f"request_hash={hub_header(response)['requestHash']}" in line for line in accepted), accepted


def test_the_same_body_under_the_same_id_in_a_regenerated_envelope_is_a_repeat(
    strict_hub: Any, dev_ca: DevCa
) -> None:
    """Idempotency is about the message (id and signed body), not the header blocks a SOAP stack
    regenerates on each send."""
    body = signed_status(dev_ca)
    first = soap_envelope(
        "soap11", body, header=f'<wsa:MessageID xmlns:wsa="{WSA}">urn:uuid:1</wsa:MessageID>'
    )
    again = soap_envelope(
        "soap11", body, header=f'<wsa:MessageID xmlns:wsa="{WSA}">urn:uuid:2</wsa:MessageID>'
    )
    one = post(strict_hub.client, "soap11", first)
    two = post(strict_hub.client, "soap11", again)
    assert ack(one)["duplicate"] == "false" and ack(two)["duplicate"] == "true", two.text
    assert ack(one)["messageId"] == ack(two)["messageId"]
    assert hub_header(one)["requestHash"] != hub_header(two)["requestHash"]  # each answer: its request

    other = soap_envelope("soap11", signed_status(dev_ca, state="5"))
    conflict = post(strict_hub.client, "soap11", other)
    assert fault_detail(conflict).findtext(f"{LT}code") == "idempotency-conflict"
    assert row_counts(strict_hub.project.database)["messages"] == 1


# ---------------------------------------------------------------- REST: routes see the signed copy


def test_a_rest_route_does_not_match_content_smuggled_into_the_signature(
    strict_hub: Any, dev_ca: DevCa
) -> None:
    from lienthong.devtools.samples import sample_dossiers

    sample = sample_dossiers(1)[0]
    signed = sign_as(None, sample.xml, dev_ca)
    smuggled = smuggle_into_signature(signed, f'<h:Forged xmlns:h="{HOSO_NS}"/>').encode()
    r = strict_hub.submit(dossier_body(sample.dossier_code, sample.procedure_code, smuggled))
    assert r.status_code == 202, r.text
    assert r.json()["route"]["rule"] == "land-transfer"  # the signed dossier decides, not h:Forged
    assert strict_hub.wait(r.json()["message_id"])["deliveries"][0]["state"] == "delivered"


# ---------------------------------------------------------------- hub verify: signature wrapping


def ws_security_envelope(version: Version, ca: DevCa) -> etree._Element:
    """A WS-Security style request: a detached signature in wsse:Security over the Body (wsu:Id)."""
    ns = SOAP11_NS if version == "soap11" else SOAP12_NS
    root = parse_xml(
        (
            f'<soap:Envelope xmlns:soap="{ns}" xmlns:wsu="{WSU}">'
            f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}"/></soap:Header>'
            f'<soap:Body wsu:Id="body-1">{status_update()}</soap:Body></soap:Envelope>'
        ).encode()
    )
    chain_path, key_path = ca.agencies[LAND]
    chain = x509.load_pem_x509_certificates(chain_path.read_bytes())
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    signature = XMLSigner(
        method=SignatureConstructionMethod.detached,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(root, key=key, cert=chain, reference_uri=["#body-1"])
    security = root.find(f"{{{ns}}}Header/{{{WSSE}}}Security")
    assert security is not None
    security.append(signature)
    return parse_xml(etree.tostring(root))


def wrap(signed: etree._Element) -> bytes:
    """The signed Body moved into a header block, an unsigned Body (another dossier, state 10) in its
    place: the signature still verifies over the element it references."""
    ns = etree.QName(signed).namespace
    attacked = copy.deepcopy(signed)
    body = attacked.find(f"{{{ns}}}Body")
    header = attacked.find(f"{{{ns}}}Header")
    assert body is not None and header is not None
    attacked.remove(body)
    etree.SubElement(header, "{urn:attacker}Wrapper").append(body)
    evil = etree.SubElement(attacked, f"{{{ns}}}Body")
    evil.append(etree.fromstring(status_update(FORGED_DOSSIER, "10")))
    return etree.tostring(attacked)


@pytest.mark.parametrize("version", VERSIONS)
def test_hub_verify_refuses_a_wrapped_soap_envelope(
    version: Version,
    dev_ca: DevCa,
    tmp_path: Path,
    pristine_project: Any,
    hub_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    signed = ws_security_envelope(version, dev_ca)
    (tmp_path / "signed.xml").write_bytes(etree.tostring(signed))
    (tmp_path / "wrapped.xml").write_bytes(wrap(signed))
    trusting = (
        "--agency",
        LAND,
        "--anchor",
        str(dev_ca.ca_certificate),
        "-c",
        str(pristine_project.config_dir),
    )

    wrapped = hub_cli("verify", tmp_path / "wrapped.xml", *trusting)
    assert wrapped.returncode == 1, wrapped.stdout + wrapped.stderr
    assert "NOT VALID" in wrapped.stdout and "not-covered" in wrapped.stdout

    good = hub_cli("verify", tmp_path / "signed.xml", *trusting)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "NOT VALID" not in good.stdout
    assert f"{{{LAND_NS}}}CapNhatTrangThaiHoSo" in good.stdout  # the element the hub acts on


@pytest.mark.parametrize("version", VERSIONS)
def test_hub_verify_judges_a_gateway_style_envelope_by_its_body_element(
    version: Version,
    dev_ca: DevCa,
    tmp_path: Path,
    pristine_project: Any,
    hub_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """The envelope a ministry sends to /soap/<adapter> (the body element signed as its own document)
    verifies as the gateway verifies it; the same signed element moved into the Header does not."""
    signed = soap_envelope(version, signed_status(dev_ca))
    (tmp_path / "request.xml").write_bytes(signed)
    moved = soap_envelope(version, status_update(FORGED_DOSSIER, "10"), header=signed_status(dev_ca))
    (tmp_path / "moved.xml").write_bytes(moved)
    trusting = (
        "--agency",
        LAND,
        "--anchor",
        str(dev_ca.ca_certificate),
        "-c",
        str(pristine_project.config_dir),
    )

    good = hub_cli("verify", tmp_path / "request.xml", *trusting)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"{{{LAND_NS}}}CapNhatTrangThaiHoSo" in good.stdout

    bad = hub_cli("verify", tmp_path / "moved.xml", *trusting)
    assert bad.returncode == 1 and "NOT VALID" in bad.stdout, bad.stdout
