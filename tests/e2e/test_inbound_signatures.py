"""Inbound signatures over the real intake paths: an agency whose trust policy requires signatures
gets its unsigned or tampered messages refused (problem+json over REST, a Client/Sender fault over
SOAP), nothing is stored, an audit line is written; correctly signed messages go through. One CA (the
dev CA) issues both the province's and the land registry's certificates, as one national CA does for
every state body: each certificate speaks for its own agency only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from soap_support import (
    HUB_ENVIRON,
    LAND,
    PROVINCE,
    envelope,
    fault,
    fault_detail,
    post,
    row_counts,
    status_update,
)
from support import agencies_signing_under_one_ca

from lienthong.config.models import KeyReference, SigningPolicyConfig
from lienthong.devtools.demo import dossier_body
from lienthong.trust.keys import DevCa, Keystore, create_dev_ca
from lienthong.trust.sign import build_signer
from lienthong.xml import HUB_NS, parse_xml


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {LAND: "Đăng ký đất đai"})


def sign(xml: bytes, ca: DevCa, agency: str = PROVINCE) -> bytes:
    """Signed with the province's (the hub's) certificate, or with another agency's from the dev CA."""
    refs = ca.key_references()
    if agency != PROVINCE:
        certificate, key = ca.agencies[agency]
        refs = [KeyReference(id=f"agency-{agency}", key_file=key, certificate_file=certificate)]
    signer = build_signer(SigningPolicyConfig(policy="xmldsig"), Keystore.load(refs, Path("/")))
    assert signer is not None
    return etree.tostring(signer.sign(parse_xml(xml)), xml_declaration=True, encoding="UTF-8")


@pytest.fixture
def strict_hub(
    hub_factory: Callable[..., Any], project_factory: Callable[..., Any], land_sim: Any, dev_ca: DevCa
) -> Any:
    """Both the province and the land registry must sign, with certificates from the one dev CA; each
    binds its own certificates by the agency code in their OU, as the 'hub keys dev-ca' snippet does."""
    project = project_factory(land_sim.url)
    project.update("hub.yaml", agencies_signing_under_one_ca(dev_ca.ca_certificate, PROVINCE, LAND))
    return hub_factory(project, environ=HUB_ENVIRON)


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def test_rest_unsigned_dossier_is_refused_when_the_province_must_sign(strict_hub: Any, audit: Any) -> None:
    from lienthong.devtools.samples import sample_dossiers

    s = sample_dossiers(1)[0]
    r = strict_hub.client.post("/api/v1/messages", json=dossier_body(s.dossier_code, s.procedure_code, s.xml))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("signature-missing")
    assert "Thiếu chữ ký số" in r.json()["title"]
    assert row_counts(strict_hub.project.database)["messages"] == 0
    assert any("signature refused" in m and PROVINCE in m for m in audit.messages)


def test_rest_non_xml_payload_cannot_pass_for_an_agency_that_must_sign(strict_hub: Any) -> None:
    body = {
        "sender_message_id": "motcua-json-1",
        "kind": "status",
        "sender": PROVINCE,
        "content_type": "application/json",
        "payload": '{"MaHoSo": "000.00.00.H49-261121-0001", "TrangThaiHoSo": 4}',
    }
    r = strict_hub.client.post("/api/v1/messages", json=body)
    assert r.status_code == 403
    assert r.json()["type"].endswith("signature-missing")
    assert "application/json payload cannot carry an XML signature" in r.json()["detail"]
    assert row_counts(strict_hub.project.database)["messages"] == 0


def test_rest_signed_dossier_is_accepted_and_a_tampered_one_refused(
    strict_hub: Any, dev_ca: DevCa, land_sim: Any
) -> None:
    from lienthong.devtools.samples import sample_dossiers

    first, second = sample_dossiers(2)
    signed = sign(first.xml, dev_ca)
    r = strict_hub.client.post(
        "/api/v1/messages", json=dossier_body(first.dossier_code, first.procedure_code, signed)
    )
    assert r.status_code == 202, r.text
    assert strict_hub.wait(r.json()["message_id"])["deliveries"][0]["state"] == "delivered"

    tampered = sign(second.xml, dev_ca).replace(b"<DienTich>", b"<DienTich>1", 1)
    assert tampered != sign(second.xml, dev_ca)
    r = strict_hub.client.post(
        "/api/v1/messages", json=dossier_body(second.dossier_code, second.procedure_code, tampered)
    )
    assert r.status_code == 403
    assert r.json()["type"].endswith("signature-invalid")
    assert row_counts(strict_hub.project.database)["messages"] == 1


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_soap_unsigned_status_push_is_a_sender_fault_and_a_signed_one_is_acknowledged(
    strict_hub: Any, dev_ca: DevCa, version: str, audit: Any
) -> None:
    unsigned = post(strict_hub.client, version, envelope(version, status_update()))  # type: ignore[arg-type]
    assert fault(unsigned).code in {"Client", "Sender"}
    assert "must be signed" in fault(unsigned).reason
    assert "signature-missing" in (fault(unsigned).detail or "")
    assert row_counts(strict_hub.project.database)["messages"] == 0
    assert any("signature" in m and LAND in m for m in audit.messages)

    body = sign(status_update().encode(), dev_ca, LAND).split(b"?>", 1)[1].strip().decode()
    signed = post(strict_hub.client, version, envelope(version, body, message_id="dkdd-signed"))  # type: ignore[arg-type]
    assert signed.status_code == 200, signed.text
    assert row_counts(strict_hub.project.database)["messages"] == 1


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_soap_body_signed_with_the_provinces_certificate_is_refused_at_the_land_endpoint(
    strict_hub: Any, dev_ca: DevCa, version: str, audit: Any
) -> None:
    """Same CA, valid signature, wrong agency: the province's certificate cannot speak for the registry."""
    body = sign(status_update().encode(), dev_ca).split(b"?>", 1)[1].strip().decode()
    refused = post(strict_hub.client, version, envelope(version, body, message_id="dkdd-province"))  # type: ignore[arg-type]
    assert fault(refused).code in {"Client", "Sender"}
    assert f"is trusted, but does not speak for agency {LAND}" in fault(refused).reason
    assert "signature-invalid" in (fault(refused).detail or "")
    assert row_counts(strict_hub.project.database)["messages"] == 0
    assert any("signature refused" in m and "signer-not-bound" in m and LAND in m for m in audit.messages)


def test_rest_dossier_signed_with_the_registrys_certificate_is_refused_as_the_provinces(
    strict_hub: Any, dev_ca: DevCa, audit: Any
) -> None:
    from lienthong.devtools.samples import sample_dossiers

    s = sample_dossiers(1)[0]
    signed = sign(s.xml, dev_ca, LAND)
    r = strict_hub.client.post(
        "/api/v1/messages", json=dossier_body(s.dossier_code, s.procedure_code, signed)
    )
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("signature-invalid")
    assert f"does not speak for agency {PROVINCE}" in r.json()["detail"]
    assert row_counts(strict_hub.project.database)["messages"] == 0
    assert any("signer-not-bound" in m and PROVINCE in m for m in audit.messages)


def _fault_titles(response: Any) -> str:
    """The fault's title as ``vi / en``, read off its Reason (SOAP 1.2: one text per language)."""
    root = etree.fromstring(response.content)
    faultstring = root.findtext(".//faultstring")
    if faultstring is not None:  # SOAP 1.1: "vi / en: text"
        return faultstring.split(": ", 1)[0]
    texts = {t.get("{http://www.w3.org/XML/1998/namespace}lang"): t.text or "" for t in root.iter("{*}Text")}
    return f"{texts['vi'].split(': ', 1)[0]} / {texts['en'].split(': ', 1)[0]}"


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_a_signature_refusal_has_the_same_title_and_reason_over_rest_and_soap(
    strict_hub: Any, dev_ca: DevCa, version: str
) -> None:
    """A certificate speaking for another agency, over each path: one code, one bilingual title, and
    the rule that refused it (``signer-not-bound``) in the problem and in the fault's lt:faultDetail."""
    from lienthong.devtools.samples import sample_dossiers

    s = sample_dossiers(1)[0]
    rest = strict_hub.client.post(
        "/api/v1/messages", json=dossier_body(s.dossier_code, s.procedure_code, sign(s.xml, dev_ca, LAND))
    ).json()
    body = sign(status_update().encode(), dev_ca).split(b"?>", 1)[1].strip().decode()
    soap = post(strict_hub.client, version, envelope(version, body, message_id="dkdd-titles"))  # type: ignore[arg-type]

    detail = fault_detail(soap)
    assert rest["type"] == "urn:lienthong:problem:signature-invalid"
    assert detail.findtext(f"{{{HUB_NS}}}code") == "signature-invalid"
    assert rest["title"] == _fault_titles(soap) == "Chữ ký số không hợp lệ / Invalid signature"
    assert rest["reason"] == detail.findtext(f"{{{HUB_NS}}}reason") == "signer-not-bound"
