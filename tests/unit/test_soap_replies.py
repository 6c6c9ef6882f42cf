"""How the SOAP plugin reads replies with a WSDL, now that a reply is parsed once (by the hub's parser)
and zeep reads that tree: what zeep's own parse let through (comments) still passes, what it read as
a fault or an empty answer still is, and what it crashed on is an unreadable answer, not an internal
error. No socket: the registry is a handler answering exact bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from land_support import TIEPNHAN
from project_support import LAND_ADAPTER, adapter_configuration

from lienthong import MemoryTransport, TransportRequest, TransportResponse
from lienthong.adapter import build_adapters, discover_plugins
from lienthong.delivery.soap_adapter import SoapAdapter
from lienthong.devtools.samples import sample_dossiers
from lienthong.errors import PermanentDeliveryError, TransientDeliveryError
from lienthong.pipeline.prepare import build_preparations
from lienthong.soap import request_hash
from lienthong.store import Claim
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS

LAND_NS = "urn:lienthong:tnmt:dangkydatdai:1"
ENDPOINT = "http://registry.invalid/soap/land"
ANSWER = (
    f'<dd:TiepNhanHoSoResponse xmlns:dd="{LAND_NS}"><dd:MaHoSoMotCua>A</dd:MaHoSoMotCua>'
    "<dd:SoBienNhan>B</dd:SoBienNhan><dd:MaHoSoDatDai>C</dd:MaHoSoDatDai>"
    "<dd:TrangThai>DaTiepNhan</dd:TrangThai><dd:ThoiGianTiepNhan>2026-11-21T08:00:00+07:00"
    "</dd:ThoiGianTiepNhan></dd:TiepNhanHoSoResponse>"
)
Reply = Callable[[bytes], tuple[int, bytes]]


def envelope(request: bytes, body: str, *, ns: str = SOAP11_NS) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{ns}" xmlns:lt="{HUB_NS}"><s:Header>'
        f"<lt:requestHash>{request_hash(request)}</lt:requestHash></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


@pytest.fixture
def land() -> Iterator[Callable[[Reply], SoapAdapter]]:
    built: list[SoapAdapter] = []

    def make(reply: Reply) -> SoapAdapter:
        def handler(request: TransportRequest) -> TransportResponse:
            status, body = reply(request.body)
            return TransportResponse(status, body, {"content-type": "text/xml"})

        config = adapter_configuration(LAND_ADAPTER, environ={"LAND_ENDPOINT": ENDPOINT})
        config = config.model_copy(
            update={"adapters": {"land": config.adapters["land"].operation_config(TIEPNHAN)}}
        )
        adapter = build_adapters(config, discover_plugins(), transports={"land": MemoryTransport(handler)})[
            "land"
        ]
        assert isinstance(adapter, SoapAdapter)
        built.append(adapter)
        return adapter

    yield make
    for adapter in built:
        adapter.close()


def claim() -> Claim:
    config = adapter_configuration(LAND_ADAPTER, environ={"LAND_ENDPOINT": ENDPOINT})
    config = config.model_copy(
        update={"adapters": {"land": config.adapters["land"].operation_config(TIEPNHAN)}}
    )
    envelope_ = sample_dossiers(1)[0].envelope(sender="000.00.00.H49")
    prepared = build_preparations(config)["land"].prepare(envelope_, None)
    now = datetime.now(UTC)
    return Claim(
        delivery_id=1,
        target="land",
        attempt=1,
        round_attempt=1,
        first_attempt_at=now,
        payload=prepared.payload,
        content_type=prepared.content_type,
        envelope=envelope_.header(),
        worker="test",
        lease_until=now + timedelta(minutes=1),
    )


def test_comments_in_a_reply_are_read_past(land: Callable[[Reply], SoapAdapter]) -> None:
    commented = "<!-- before -->" + ANSWER.replace("<dd:SoBienNhan>", "<!-- inside --><dd:SoBienNhan>")
    adapter = land(lambda request: (200, envelope(request, commented)))

    delivered = adapter.deliver(claim())

    assert delivered.response_status == 200 and delivered.response is not None
    assert b"<!-- inside -->" in delivered.response  # the answer is kept as it came


def test_an_empty_202_is_an_answer(land: Callable[[Reply], SoapAdapter]) -> None:
    assert land(lambda request: (202, b"")).deliver(claim()).response_status == 202


def test_an_empty_answer_with_another_status_is_unreadable(land: Callable[[Reply], SoapAdapter]) -> None:
    with pytest.raises(TransientDeliveryError, match=r"unreadable response \(HTTP 204\)"):
        land(lambda request: (204, b"")).deliver(claim())


def test_an_empty_body_is_unreadable_not_an_internal_error(land: Callable[[Reply], SoapAdapter]) -> None:
    with pytest.raises(TransientDeliveryError, match=r"unreadable response.*no element in its Body"):
        land(lambda request: (200, envelope(request, ""))).deliver(claim())


def test_an_answer_in_the_other_soap_version_is_unreadable(land: Callable[[Reply], SoapAdapter]) -> None:
    with pytest.raises(TransientDeliveryError, match=r"unreadable response.*Envelope root element"):
        land(lambda request: (200, envelope(request, ANSWER, ns=SOAP12_NS))).deliver(claim())


def test_a_fault_without_a_code_is_an_error_status(land: Callable[[Reply], SoapAdapter]) -> None:
    fault = "<s:Fault><faultstring>no code</faultstring></s:Fault>"
    with pytest.raises(TransientDeliveryError, match=r"^HTTP 500 without a SOAP fault$"):
        land(lambda request: (500, envelope(request, fault))).deliver(claim())


def test_a_fault_s_detail_is_in_the_message(land: Callable[[Reply], SoapAdapter]) -> None:
    fault = (
        "<s:Fault><faultcode>s:Client.Parcel</faultcode><faultstring>refused</faultstring>"
        "<detail><reason> parcel   </reason><code>17</code></detail></s:Fault>"
    )
    with pytest.raises(PermanentDeliveryError) as caught:
        land(lambda request: (500, envelope(request, fault))).deliver(claim())

    assert caught.value.message == "SOAP fault Client.Parcel: refused: parcel 17"
    assert caught.value.response_status == 500
