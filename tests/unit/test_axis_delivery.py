"""The national axis's delivery plugin (``edxml-axis``) with no socket: a MemoryTransport plays the axis,
so what the workers see is checked as it is — the bytes and headers of ``sendEdoc``, what is kept
from the answer (the axis's DocId), and which refusals are worth trying again."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lienthong import MemoryTransport, TransportRequest, TransportResponse
from lienthong.adapter import AdapterContext, discover_plugins
from lienthong.config.models import AdapterConfig
from lienthong.delivery.axis_adapter import AXIS_PLUGIN, AxisAdapter
from lienthong.delivery.axis_client import AxisOptions
from lienthong.delivery.axis_facts import axis_facts
from lienthong.envelope import MessageKind, new_envelope
from lienthong.errors import PermanentDeliveryError, TransientDeliveryError, XmlRefusedError
from lienthong.store import Claim

ENDPOINT = "http://axis.invalid/axis"  # never resolved: the transport is in memory
HUB_AGENCY = "000.00.00.H49"
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

DOCUMENT = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="{NS}"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageHeader>
<edXML:From><edXML:OrganId>000.00.00.H49</edXML:OrganId>
<edXML:OrganName>UBND tỉnh Quảng Ninh</edXML:OrganName></edXML:From>
<edXML:To><edXML:OrganId>000.00.00.G01</edXML:OrganId></edXML:To>
<edXML:To><edXML:OrganId>000.00.00.G09</edXML:OrganId></edXML:To>
<edXML:DocumentId>000.00.00.H49,2026/11/30,125/UBND-VP</edXML:DocumentId>
<edXML:Code><edXML:CodeNumber>125</edXML:CodeNumber><edXML:CodeNotation>UBND-VP</edXML:CodeNotation></edXML:Code>
<edXML:PromulgationInfo><edXML:Place>Quảng Ninh</edXML:Place>
<edXML:PromulgationDate>2026/11/30</edXML:PromulgationDate></edXML:PromulgationInfo>
<edXML:Subject>Về việc báo cáo tình hình kinh tế - xã hội</edXML:Subject>
</edXML:MessageHeader></edXML:edXMLHeader></edXML:edXMLEnvelope>
<edXML:AttachmentEncoded><edXML:Attachment><edXML:ContentId>cid:1</edXML:ContentId>
<edXML:ContentTransferEncoded>JVBERi0xLjQK</edXML:ContentTransferEncoded></edXML:Attachment></edXML:AttachmentEncoded>
</edXML:edXML>""".encode()

#: A status package as the standard writes it: under edXMLHeader/Status, answering a ministry's document.
STATUS = f"""<edXML:edXML xmlns:edXML="{NS}"><edXML:edXMLEnvelope><edXML:edXMLHeader>
<edXML:MessageHeader><edXML:From><edXML:OrganId>000.00.00.H49</edXML:OrganId></edXML:From></edXML:MessageHeader>
<edXML:Status><edXML:ResponseFor><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:Code>7816/VPCP-TTĐT</edXML:Code>
<edXML:PromulgationDate>2015/09/30</edXML:PromulgationDate>
<edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP-TTĐT</edXML:DocumentId></edXML:ResponseFor>
<edXML:From><edXML:OrganId>000.00.00.H49</edXML:OrganId></edXML:From>
<edXML:StatusCode>03</edXML:StatusCode></edXML:Status>
</edXML:edXMLHeader></edXML:edXMLEnvelope></edXML:edXML>""".encode()


def answer(status: int, body: Any) -> TransportResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return TransportResponse(status, data, {"content-type": "application/json"})


OK = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": "AXIS-2026-000123"}


def fail(code: str, desc: str = "") -> dict[str, str]:
    return {"status": "FAIL", "ErrorCode": code, "ErrorDesc": desc, "DocId": ""}


def claim(payload: bytes = DOCUMENT, *, round_attempt: int = 1) -> Claim:
    env = new_envelope(
        kind=MessageKind.DOCUMENT,
        sender=HUB_AGENCY,
        sender_message_id="qlvb-125",
        payload=payload,
        content_type="application/xml",
    )
    now = datetime.now(UTC)
    return Claim(
        delivery_id=1,
        target="vpcp",
        attempt=round_attempt,
        round_attempt=round_attempt,
        first_attempt_at=now,
        payload=payload,
        content_type="application/xml",
        envelope=env.header(),
        worker="w-1",
        lease_until=now,
    )


def adapter(handler: Any, **options: Any) -> tuple[AxisAdapter, MemoryTransport]:
    transport = MemoryTransport(handler)
    config = AdapterConfig(name="vpcp", plugin="edxml-axis", agency="000.00.00.G22", endpoint=ENDPOINT)
    ctx = AdapterContext(
        config=config,
        options=AxisOptions.model_validate(options),
        hub_agency=HUB_AGENCY,
        root=Path(__file__).parent,
        transport=transport,
    )
    return AxisAdapter(ctx), transport


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPCP_API_KEY", "test-axis-key-not-a-secret")


def test_edxml_axis_is_a_built_in_plugin() -> None:
    assert discover_plugins()["edxml-axis"] is AXIS_PLUGIN


def test_send_edoc_carries_the_exact_bytes_their_hash_and_the_header_parameters() -> None:
    axis, transport = adapter(lambda r: answer(200, OK), api_key_env="VPCP_API_KEY")

    delivered = axis.deliver(claim())

    [request] = transport.requests
    assert request.method == "POST" and request.url == f"{ENDPOINT}/sendEdoc"
    assert request.body == DOCUMENT
    assert request.headers["hash-file"] == hashlib.sha256(DOCUMENT).hexdigest()
    assert request.headers["from"] == "000.00.00.H49"
    assert request.headers["to"] == "000.00.00.G01,000.00.00.G09"
    assert request.headers["servicetype"] == "eDoc"
    assert request.headers["messagetype"] == "edoc"
    assert request.headers["X-API-Key"] == "test-axis-key-not-a-secret"
    assert request.headers["Content-Type"] == "application/xml"
    # The axis's id of the document is kept with the delivery (the attempt's answer bytes).
    assert delivered.response is not None and json.loads(delivered.response)["DocId"] == "AXIS-2026-000123"
    assert delivered.request == DOCUMENT and delivered.response_status == 200


def test_a_status_package_goes_to_the_agency_it_answers() -> None:
    axis, transport = adapter(lambda r: answer(200, OK), api_key_env="VPCP_API_KEY")

    axis.deliver(claim(STATUS))

    [request] = transport.requests
    assert request.headers["messagetype"] == "status"
    assert request.headers["to"] == "000.00.00.G22"
    assert request.headers["from"] == "000.00.00.H49"


def test_the_vendor_sdk_status_shape_is_read_too(shared_dir: Path) -> None:
    """Status fields directly under MessageHeader (the real samples): the To is ResponseFor's agency."""
    sample = (shared_dir / "testdata" / "edxml" / "status_inbox_01.edxml").read_bytes()
    facts = axis_facts(sample)
    assert facts.message_type == "status"
    assert facts.sender == "000.00.00.H41"
    assert facts.axis_recipients == ("000.00.00.G22",)
    assert facts.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


def test_the_header_is_read_without_parsing_the_attachments() -> None:
    """The facts come from the header alone: bytes after edXMLHeader (even broken ones) are not read."""
    cut = DOCUMENT.index(b"<edXML:AttachmentEncoded>")
    truncated = DOCUMENT[:cut] + b"<edXML:AttachmentEncoded><broken"
    facts = axis_facts(truncated)
    assert facts.recipients == ("000.00.00.G01", "000.00.00.G09")
    assert facts.code == "125/UBND-VP"


def test_a_payload_that_is_not_edxml_is_refused_for_good() -> None:
    axis, transport = adapter(lambda r: answer(200, OK))
    with pytest.raises(PermanentDeliveryError, match="not edXML"):
        axis.deliver(claim(b"<HoSo xmlns='urn:x'/>"))
    assert transport.requests == []
    with pytest.raises(XmlRefusedError, match="DOCTYPE"):
        axis_facts(b'<!DOCTYPE x [<!ENTITY a "b">]><edXML/>')


def test_an_unset_key_makes_deliveries_wait_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPCP_API_KEY")
    axis, transport = adapter(lambda r: answer(200, OK), api_key_env="VPCP_API_KEY")
    with pytest.raises(TransientDeliveryError, match="VPCP_API_KEY is not set"):
        axis.deliver(claim())
    assert transport.requests == []


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (503, b"<html>maintenance</html>", TransientDeliveryError, "HTTP 503"),
        (429, OK, TransientDeliveryError, "HTTP 429"),
        (200, b"not json", TransientDeliveryError, "unreadable answer"),
        (200, fail("BUSY", "hệ thống bận"), TransientDeliveryError, "BUSY: hệ thống bận: try later"),
        (400, fail("INVALID_TO", "không có đơn vị nhận"), PermanentDeliveryError, "refused the message"),
        (200, fail("SIGNATURE_INVALID"), PermanentDeliveryError, "SIGNATURE_INVALID"),
        (401, b"", PermanentDeliveryError, "HTTP 401"),
    ],
)
def test_answers_are_classified(status: int, body: Any, error: type[Exception], message: str) -> None:
    axis, _ = adapter(lambda r: answer(status, body))
    with pytest.raises(error, match=message) as raised:
        axis.deliver(claim())
    assert getattr(raised.value, "response_status", None) == status
    assert getattr(raised.value, "request", None) == DOCUMENT


def test_a_hash_mismatch_is_tried_again_once_then_refused() -> None:
    axis, _ = adapter(lambda r: answer(400, fail("HASH_MISMATCH", "hash-file sai")))
    with pytest.raises(TransientDeliveryError, match="sent again once"):
        axis.deliver(claim(round_attempt=1))
    with pytest.raises(PermanentDeliveryError, match="altered on the way"):
        axis.deliver(claim(round_attempt=2))


def test_transient_codes_are_configurable() -> None:
    axis, _ = adapter(lambda r: answer(200, fail("QUOTA")), transient_codes=["QUOTA"])
    with pytest.raises(TransientDeliveryError, match="QUOTA"):
        axis.deliver(claim())


def test_no_answer_at_all_is_transient() -> None:
    def down(request: TransportRequest) -> TransportResponse:
        raise TransientDeliveryError(f"cannot reach {request.url}: connection refused")

    axis, _ = adapter(down)
    with pytest.raises(TransientDeliveryError, match="connection refused"):
        axis.deliver(claim())
