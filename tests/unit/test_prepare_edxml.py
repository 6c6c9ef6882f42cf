"""An operation with ``document: edxml``: what leaves the hub for the national axis is the sender's
document in the standard form, checked, then signed as policy ``edxml`` says — and verifiable."""

from __future__ import annotations

import logging
import re
import textwrap
from pathlib import Path

import pytest
from lxml import etree
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from lienthong.config.files import load_configuration
from lienthong.edxml.names import EDXML_NS, HEADER_ORDER, MESSAGE_HEADER_ORDER, STATUS_ORDER
from lienthong.envelope import Envelope, MessageKind, new_envelope
from lienthong.errors import ConfigError, EdxmlError, InvalidMessageError
from lienthong.pipeline.prepare import AdapterStages, Preparation, build_preparations
from lienthong.trust.keys import DevCa, Keystore, create_dev_ca
from lienthong.trust.sign import XmlSigner
from lienthong.xml import XMLDSIG_NS, parse_xml

NS = {"edXML": EDXML_NS, "ds": XMLDSIG_NS}
E = f"{{{EDXML_NS}}}"
HEADER_PATH = f"./{E}edXMLEnvelope/{E}edXMLHeader/"
AXIS = "000.00.00.G22"
#: The vendor samples the hub may send as they are once in the standard form, with their sender.
SENDABLE = {
    "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml": "000.00.00.G22",
    "edoc_revocation.edxml": "000.00.00.G22",
    "edoc_update.edxml": "000.00.00.G22",
    "edoc_replacement.edxml": "000.00.00.G22",
    "status.edxml": "000.00.00.H41",
    "status_inbox_01.edxml": "000.00.00.H41",
    "status_rejection_02.edxml": "000.00.00.H41",
    "status_acceptance_03.edxml": "000.00.00.H41",
    "status_assignment_04.edxml": "000.00.00.H41",
    "status_processing_05.edxml": "000.00.00.H41",
    "status_finish_06.edxml": "000.00.00.H41",
    "status_cancellation_13.edxml": "000.00.00.G22",
    "status_change-acceptance_15.edxml": "000.00.00.H41",
    "status_change-rejection_16.edxml": "000.00.00.H41",
}


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), "000.00.00.H49", {AXIS: "Văn phòng Chính phủ"})


@pytest.fixture(scope="module")
def signer(dev_ca: DevCa) -> XmlSigner:
    return XmlSigner("edxml", "rsa-sha256", Keystore.load(dev_ca.key_references(), Path("/")).current)


def sample(shared_dir: Path, name: str) -> bytes:
    return (shared_dir / "testdata" / "edxml" / name).read_bytes()


def envelope(payload: bytes, sender: str) -> Envelope:
    return new_envelope(
        kind=MessageKind.DOCUMENT,
        sender=sender,
        sender_message_id="qlvb-1",
        payload=payload,
        content_type="application/xml",
    )


def stages(hub_agency: str, signer: XmlSigner | None) -> Preparation:
    return Preparation(
        target="vpcp", target_agency=AXIS, hub_agency=hub_agency, signer=signer, document="edxml"
    )


def local_names(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el if isinstance(c.tag, str)]


def ranked(names: list[str], order: tuple[str, ...]) -> list[int]:
    return [order.index(n) if n in order else len(order) for n in names]


@pytest.mark.parametrize("name", sorted(SENDABLE))
def test_each_sendable_sample_leaves_in_the_standard_form_signed(
    shared_dir: Path, dev_ca: DevCa, signer: XmlSigner, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    sender = SENDABLE[name]
    with caplog.at_level(logging.WARNING, logger="lienthong.edxml"):
        prepared = stages(sender, signer).prepare(envelope(sample(shared_dir, name), sender), None)

    data = prepared.payload
    assert prepared.content_type == "application/xml"
    # one namespace declaration for the document (the signature brings its own ds: one)
    assert data.count(b'xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"') == 1
    assert data.count(b"xmlns=") == 0
    assert b"Business" not in data
    root = parse_xml(data)
    assert root.tag == f"{E}edXML" and root.prefix == "edXML"
    assert all(el.prefix == "edXML" for el in root.iter() if el.tag.startswith(E))
    header = root.find("edXML:edXMLEnvelope/edXML:edXMLHeader", NS)
    assert header is not None
    names = local_names(header)
    assert names[-1] == "Signature" and header[-1].tag == f"{{{XMLDSIG_NS}}}Signature"
    assert header[-1].prefix == "ds" and names.count("Signature") == 1  # the sender's is gone
    assert ranked(names, HEADER_ORDER) == sorted(ranked(names, HEADER_ORDER))
    if name.startswith("status"):
        assert names == ["Status", "Signature"]
        status = header.find("edXML:Status", NS)
        assert status is not None
        assert local_names(status) == list(STATUS_ORDER)
        assert "status-under-message-header: " in "\n".join(prepared.warnings)
        assert "code=status-under-message-header" in caplog.text
    else:
        message = header.find("edXML:MessageHeader", NS)
        assert message is not None
        message_names = local_names(message)
        assert ranked(message_names, MESSAGE_HEADER_ORDER) == sorted(
            ranked(message_names, MESSAGE_HEADER_ORDER)
        )
        assert message.findtext("edXML:From/edXML:OrganId", namespaces=NS) == sender
        assert header.find("edXML:TraceHeaderList/edXML:Bussiness", NS) is not None
    for stamp in root.iterfind(".//edXML:Timestamp", NS):
        assert len(stamp.text or "") == 19 and (stamp.text or "")[4] == "/"

    result = XMLVerifier().verify(
        data,
        ca_pem_file=str(dev_ca.ca_certificate),
        expect_config=SignatureConfiguration(location=HEADER_PATH),
    )
    assert isinstance(result, VerifyResult)
    assert result.signed_xml is not None and result.signed_xml.tag == f"{E}edXML"


def test_unsigned_when_the_policy_signs_nothing(shared_dir: Path) -> None:
    prepared = stages("000.00.00.H41", None).prepare(envelope(sample(shared_dir, "status.edxml"), "x"), None)
    assert b"Signature" not in prepared.payload
    assert prepared.payload.startswith(
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b'<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">\n'
        b"  <edXML:edXMLEnvelope>\n    <edXML:edXMLHeader>\n      <edXML:Status>\n"
        b"        <edXML:ResponseFor>\n"
    )


def test_a_document_with_a_nonconforming_agency_code_is_not_sent(shared_dir: Path, signer: XmlSigner) -> None:
    payload = sample(shared_dir, "edoc_new.edxml")  # To 28.22.H17
    with pytest.raises(EdxmlError) as caught:
        stages("000.00.00.A80", signer).prepare(envelope(payload, "x"), None)
    assert caught.value.detail["field"] == "To[1]/OrganId"
    assert "'28.22.H17' is not an agency code" in caught.value.message


def test_a_document_from_another_agency_is_not_sent_in_the_hub_s_name(shared_dir: Path) -> None:
    payload = sample(shared_dir, "edoc_update.edxml")  # from G22
    with pytest.raises(
        EdxmlError, match=re.escape("From/OrganId is 000.00.00.G22, but the hub sends as 000.00.00.H49")
    ):
        stages("000.00.00.H49", None).prepare(envelope(payload, "x"), None)


@pytest.mark.parametrize(
    ("payload", "content_type", "message"),
    [
        (b"<HoSo xmlns='urn:x'/>", "application/xml", "not an edXML document: the root is {urn:x}HoSo"),
        (b'{"a": 1}', "application/json", "sends edXML documents, but the payload is JSON"),
        (b"plain", "text/plain", "needs an XML or JSON payload"),
    ],
)
def test_what_is_not_edxml_is_refused(payload: bytes, content_type: str, message: str) -> None:
    env = new_envelope(
        kind=MessageKind.DOCUMENT,
        sender="x",
        sender_message_id="1",
        payload=payload,
        content_type=content_type,
    )
    with pytest.raises(InvalidMessageError, match=re.escape(message)):
        stages("000.00.00.H49", None).prepare(env, None)


# ---------------------------------------------------------------- from the YAML


def project(tmp_path: Path, adapter: str) -> Path:
    config = tmp_path / "config"
    (config / "adapters").mkdir(parents=True)
    (config / "hub.yaml").write_text("hub:\n  name: Test\n  agency: 000.00.00.H41\n", encoding="utf-8")
    (config / "routes.yaml").write_text("routes: []\n", encoding="utf-8")
    (config / "adapters" / "vpcp.yaml").write_text(textwrap.dedent(adapter), encoding="utf-8")
    return config


def test_document_edxml_in_yaml_is_the_operations_default(tmp_path: Path, shared_dir: Path) -> None:
    config = load_configuration(
        project(
            tmp_path,
            """\
            name: vpcp
            plugin: rest
            agency: 000.00.00.G22
            endpoint: http://127.0.0.1:9/axis
            document: edxml
            namespaces: {edXML: "http://www.mic.gov.vn/TBT/QCVN_102_2016"}
            operations:
              edoc:
                accepts: [edXML:edXML]
              other: {}
            """,
        ),
        environ={},
    )
    vpcp = build_preparations(config)["vpcp"]
    assert isinstance(vpcp, AdapterStages)
    assert [(s.operation, s.document) for s in vpcp.operations] == [("edoc", "edxml"), ("other", "edxml")]
    prepared = vpcp.prepare(envelope(sample(shared_dir, "status.edxml"), "x"), None)
    assert prepared.operation == "edoc" and b"<edXML:Status>" in prepared.payload


def test_document_edxml_takes_no_mapping(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        """\
        name: vpcp
        plugin: rest
        agency: 000.00.00.G22
        endpoint: http://127.0.0.1:9/axis
        document: edxml
        mapping: mappings/x.xsl
        """,
    )
    with pytest.raises(ConfigError, match="document edxml takes no mapping"):
        load_configuration(config, environ={})
