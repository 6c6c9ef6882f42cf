"""The SOAP plugin's delivery logic and the workers around it, with no socket: the adapter talks
through a MemoryTransport whose handler plays the land registry (its answer mapping, its faults).

What is checked here is what the plugin makes of an answer: which HTTP statuses and SOAP faults are
worth retrying, the ``requestHash`` an answer must echo, and what the workers record for each; the
real-socket path is covered by tests/integration/test_zeep_outbound.py and the end-to-end tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from land_support import TIEPNHAN
from lxml import etree
from project_support import LAND_ADAPTER, adapter_configuration, base_routes

from lienthong import MemoryTransport, TransportRequest, TransportResponse
from lienthong.adapter import build_adapters, discover_plugins
from lienthong.compose import Hub, build_hub
from lienthong.config.models import Configuration, RetryPolicyConfig
from lienthong.delivery.soap_adapter import SoapAdapter
from lienthong.devtools.samples import sample_dossiers
from lienthong.errors import PermanentDeliveryError, TransientDeliveryError
from lienthong.soap import HubHeader, request_hash
from lienthong.store import (
    AttemptOutcome,
    Claim,
    DeliveryState,
    MessageFilter,
    PreparedDelivery,
    RouteDecision,
    RouteStatus,
)
from lienthong.store.memory import MemoryStore
from lienthong.trust.keys import Keystore, create_dev_ca
from lienthong.trust.sign import XmlSigner
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, XMLDSIG_NS, parse_xml, serialize

ROOT = Path(__file__).resolve().parents[2]
LAND_NS = "urn:lienthong:tnmt:dangkydatdai:1"
ENDPOINT = "http://registry.invalid/soap/land"  # never resolved: the transport is in memory
_ANSWER = etree.XSLT(etree.parse(str(ROOT / "mappings" / "land" / "simulator" / "tiepnhanhoso-response.xsl")))
Handler = Callable[[TransportRequest], TransportResponse]


def configuration(**options: Any) -> Configuration:
    """The land adapter and route in a configuration of their own, land pointed at ENDPOINT, with
    changed soap ``options`` and retries that are due at once."""
    config = adapter_configuration(LAND_ADAPTER, environ={"LAND_ENDPOINT": ENDPOINT}, routes=base_routes())
    land = config.adapters["land"].operation_config(TIEPNHAN)  # the dossier operation, alone
    land = land.model_copy(
        update={
            "options": {**land.options, **options},
            "retry": RetryPolicyConfig(initial_backoff=timedelta(0), jitter=timedelta(0), max_attempts=3),
        }
    )
    return config.model_copy(update={"adapters": {"land": land}})


def _version(envelope: etree._Element) -> str:
    return SOAP11_NS if envelope.tag == f"{{{SOAP11_NS}}}Envelope" else SOAP12_NS


def reply(
    request: TransportRequest, body: etree._Element, *, status: int = 200, echo: bytes | None = None
) -> TransportResponse:
    """An answer in the request's SOAP version, echoing the hash of ``echo`` (default: the request)."""
    ns = _version(parse_xml(request.body))
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"s": ns, "lt": HUB_NS})
    header = etree.SubElement(env, f"{{{ns}}}Header")
    etree.SubElement(header, f"{{{HUB_NS}}}requestHash").text = request_hash(
        request.body if echo is None else echo
    )
    etree.SubElement(env, f"{{{ns}}}Body").append(body)
    media = "text/xml" if ns == SOAP11_NS else "application/soap+xml"
    return TransportResponse(status, etree.tostring(env), {"content-type": media})


def registry(request: TransportRequest, *, echo: bytes | None = None) -> TransportResponse:
    """The land registry's answer, made by the simulator's answer mapping from the request body."""
    envelope = parse_xml(request.body)
    [entry] = envelope.find(f"{{{_version(envelope)}}}Body")  # type: ignore[misc]
    answer = _ANSWER(
        etree.ElementTree(copy.deepcopy(entry)),
        message_id=etree.XSLT.strparam("m-1"),
        received_at=etree.XSLT.strparam("2026-11-21T09:00:00+07:00"),
        sequence="1",
    ).getroot()
    assert answer is not None
    return reply(request, answer, echo=echo)


def fault(request: TransportRequest, *, sender: bool) -> TransportResponse:
    ns = _version(parse_xml(request.body))
    el = etree.Element(f"{{{ns}}}Fault")
    if ns == SOAP11_NS:
        etree.SubElement(el, "faultcode").text = "s:Client" if sender else "s:Server"
        etree.SubElement(el, "faultstring").text = "thửa đất không tồn tại"
    else:
        code = etree.SubElement(etree.SubElement(el, f"{{{ns}}}Code"), f"{{{ns}}}Value")
        code.text = "s:Sender" if sender else "s:Receiver"
        reason = etree.SubElement(el, f"{{{ns}}}Reason")
        text = etree.SubElement(reason, f"{{{ns}}}Text", {"{http://www.w3.org/XML/1998/namespace}lang": "vi"})
        text.text = "thửa đất không tồn tại"
    return reply(request, el, status=500)


def plain(status: int, body: bytes = b"Service Unavailable") -> Handler:
    return lambda request: TransportResponse(status, body, {"content-type": "text/plain"})


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[SoapAdapter, MemoryTransport]]]:
    built: list[SoapAdapter] = []

    def build(handler: Handler, **options: Any) -> tuple[SoapAdapter, MemoryTransport]:
        transport = MemoryTransport(handler)
        adapters = build_adapters(
            configuration(**options), discover_plugins(), transports={"land": transport}
        )
        adapter = adapters["land"]
        assert isinstance(adapter, SoapAdapter)
        built.append(adapter)
        return adapter, transport

    yield build
    for adapter in built:
        adapter.close()


def claim(*, signer: XmlSigner | None = None, payload: bytes | None = None) -> Claim:
    """A claim for the first sample dossier, prepared by the hub's intake stages (signed by ``signer``),
    or holding ``payload`` instead, as if some other path had stored it."""
    from datetime import UTC, datetime

    from lienthong.pipeline.prepare import build_preparations

    envelope = sample_dossiers(1)[0].envelope(sender="000.00.00.H49")
    signers = {"land": signer} if signer is not None else None
    if payload is None:
        payload = build_preparations(configuration(), signers=signers)["land"].prepare(envelope, None).payload
    now = datetime.now(UTC)
    return Claim(
        delivery_id=1,
        target="land",
        attempt=1,
        round_attempt=1,
        first_attempt_at=now,
        payload=payload,
        content_type="application/xml",
        envelope=envelope.header(),
        worker="test",
        lease_until=now + timedelta(minutes=1),
    )


# ---------------------------------------------------------------- the plugin alone


@pytest.mark.parametrize(("transport", "wsdl"), [("soap11", True), ("soap12", True), ("soap11", False)])
def test_an_answer_echoing_the_request_is_delivered(
    make: Callable[..., tuple[SoapAdapter, MemoryTransport]], transport: str, wsdl: bool
) -> None:
    options: dict[str, Any] = {"transport": transport} | ({} if wsdl else {"wsdl": None})
    adapter, wire = make(registry, **options)
    c = claim()

    delivered = adapter.deliver(c)

    [sent] = wire.requests
    assert sent.url == ENDPOINT and sent.method == "POST"
    assert delivered.request == sent.body and delivered.response_status == 200
    assert c.payload.split(b"?>", 1)[1].strip() in sent.body  # the stored bytes travel as they are
    if transport == "soap11":
        assert sent.headers["SOAPAction"] == f'"{LAND_NS}/TiepNhanHoSo"'
    else:
        assert f'action="{LAND_NS}/TiepNhanHoSo"' in sent.headers["Content-Type"]
    assert delivered.response is not None and b"MaHoSoDatDai" in delivered.response


@pytest.mark.parametrize("wsdl", [True, False], ids=["wsdl", "plain"])
@pytest.mark.parametrize(
    ("handler", "error", "message"),
    [
        (plain(503), TransientDeliveryError, "HTTP 503"),
        (plain(429), TransientDeliveryError, "HTTP 429"),
        (plain(408), TransientDeliveryError, "HTTP 408"),
        (plain(400, b"Bad Request"), PermanentDeliveryError, "HTTP 400"),
        (lambda r: fault(r, sender=True), PermanentDeliveryError, "thửa đất không tồn tại"),
        (lambda r: fault(r, sender=False), TransientDeliveryError, "SOAP fault"),
        (lambda r: registry(r, echo=b"other bytes"), TransientDeliveryError, "requestHash does not match"),
        (plain(200, b"<not-soap/>"), TransientDeliveryError, "unreadable response"),
    ],
    ids=["503", "429", "408", "400", "sender-fault", "server-fault", "wrong-hash", "not-soap"],
)
def test_each_answer_is_classified(
    make: Callable[..., tuple[SoapAdapter, MemoryTransport]],
    handler: Handler,
    error: type[Exception],
    message: str,
    wsdl: bool,
) -> None:
    adapter, wire = make(handler, **({} if wsdl else {"wsdl": None}))

    with pytest.raises(error, match=message) as caught:
        adapter.deliver(claim())

    [sent] = wire.requests
    assert getattr(caught.value, "request", None) == sent.body  # the attempt keeps what was sent


def test_no_answer_at_all_is_left_to_the_transport_s_verdict(
    make: Callable[..., tuple[SoapAdapter, MemoryTransport]],
) -> None:
    def unreachable(request: TransportRequest) -> TransportResponse:
        raise TransientDeliveryError(f"cannot reach {request.url}: connection refused", request=request.body)

    adapter, _ = make(unreachable)
    with pytest.raises(TransientDeliveryError, match="connection refused"):
        adapter.deliver(claim())


def test_closing_the_adapter_closes_its_transport(
    make: Callable[..., tuple[SoapAdapter, MemoryTransport]],
) -> None:
    adapter, wire = make(registry)
    adapter.close()
    assert wire.closed


def _signer(keys: Path) -> XmlSigner:
    """The land registry's signing as ``bench/e2e.py`` has it: xmldsig, RSA-SHA256, a development key."""
    ca = create_dev_ca(keys, "000.00.00.H49", {})
    return XmlSigner("xmldsig", "rsa-sha256", Keystore.load(ca.key_references(), Path("/")).current)


@pytest.mark.parametrize("wsdl", [True, False], ids=["wsdl", "plain"])
def test_a_signed_dossier_travels_byte_for_byte(
    make: Callable[..., tuple[SoapAdapter, MemoryTransport]], wsdl: bool, tmp_path: Path
) -> None:
    """The request is the envelope zeep (or the plain path) writes around an empty Body, with the
    stored bytes, less lxml's XML declaration, between the Body tags: worked out here by hand, without
    the hub's template or its payload check."""
    adapter, wire = make(registry, **({} if wsdl else {"wsdl": None}))
    c = claim(signer=_signer(tmp_path / "keys"))
    declaration = b"<?xml version='1.0' encoding='UTF-8'?>\n"
    assert c.payload.startswith(declaration) and parse_xml(c.payload)[-1].tag == f"{{{XMLDSIG_NS}}}Signature"

    adapter.deliver(c)

    [sent] = wire.requests
    env = c.envelope
    header = HubHeader(
        message_id=str(env.message_id),
        correlation_id=str(env.correlation_id),
        client="000.00.00.H49",
        service=adapter.service,
    )
    if adapter.wsdl is not None:
        bodiless = copy.copy(adapter.wsdl.operation.input)
        bodiless.body = None
        envelope = bodiless.serialize(_soapheaders=header.elements()).content
    else:
        from lienthong.soap import envelope_skeleton

        envelope = envelope_skeleton("soap11", header)
    empty = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    head, tail = empty.split(b"<soap-env:Body/>" if wsdl else b"<soap:Body/>")
    body = b"<soap-env:Body>" if wsdl else b"<soap:Body>"
    expected = head + body + c.payload[len(declaration) :] + body.replace(b"<", b"</") + tail
    assert sent.body == expected


def _unescaped() -> bytes:
    """A translation whose mapping disables output escaping: the tree holds the text ``x < y``, which
    an output schema may well accept, but its bytes are not XML. What intake prepared is not, by
    itself, proof that the bytes can travel; the delivery's check is."""
    xslt = etree.XSLT(
        etree.XML(
            b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            b'<xsl:template match="/"><a><xsl:value-of select="\'x &lt; y\'" disable-output-escaping="yes"/>'
            b"</a></xsl:template></xsl:stylesheet>"
        )
    )
    root = xslt(etree.XML(b"<in/>")).getroot()
    assert root is not None and root.text == "x < y"
    return serialize(root)


DECLARED = b"<?xml version='1.0' encoding='UTF-8'?>\n"
#: Stored payloads that cannot travel byte for byte, and what the attempt says (the same words as before).
UNSENDABLE = [
    (
        b"<?xml version='1.0' encoding='ISO-8859-1'?>\n<a>\xe9</a>",
        "the stored payload is iso-8859-1, not UTF-8; it cannot be sent byte for byte",
    ),
    (DECLARED + b"<a/><b/>", "stored payload is not well-formed XML: Extra content at the end of the"),
    (DECLARED + b"<!-- note --><a/>", "the stored payload must be one element, without comments or PIs"),
    (DECLARED + b"<?pi x?><a/>", "stored payload: processing instructions are not accepted"),
    (b"\x00\x01 garbage", "stored payload is not well-formed XML: Document is empty"),
    (b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "stored payload: DOCTYPE declarations are not accepted"),
    (b"<a><?pi x?></a>", "stored payload: processing instructions are not accepted"),
    (b"<a>&e;</a>", "stored payload is not well-formed XML: Entity 'e' not defined"),
    (_unescaped(), "stored payload is not well-formed XML: StartTag: invalid element name"),
]
UNSENDABLE_IDS = [
    "latin-1",
    "two-roots",
    "comment-first",
    "pi-first",
    "garbage",
    "doctype",
    "pi-inside",
    "undefined-entity",
    "unescaped-translation",
]


@pytest.mark.parametrize("wsdl", [True, False], ids=["wsdl", "plain"])
@pytest.mark.parametrize(("payload", "message"), UNSENDABLE, ids=UNSENDABLE_IDS)
def test_a_stored_payload_that_cannot_travel_byte_for_byte_is_refused(
    make: Callable[..., tuple[SoapAdapter, MemoryTransport]], wsdl: bool, payload: bytes, message: str
) -> None:
    adapter, wire = make(registry, **({} if wsdl else {"wsdl": None}))

    with pytest.raises(PermanentDeliveryError) as caught:
        adapter.deliver(claim(payload=payload))

    assert caught.value.message.startswith(f"the stored payload cannot be sent: {message}")
    assert wire.requests == []  # nothing went out


def test_markup_with_an_exclamation_mark_still_travels(
    make: Callable[..., tuple[SoapAdapter, MemoryTransport]],
) -> None:
    """Comments and CDATA inside the element (and a "!" in its text) are the stored bytes too."""
    adapter, wire = make(plain(503))
    inner = b"<dd:TiepNhanHoSo xmlns:dd='urn:x'><!-- ok! --><b>!</b><![CDATA[<x>]]></dd:TiepNhanHoSo>"

    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        adapter.deliver(claim(payload=DECLARED + inner))

    [sent] = wire.requests
    assert b"<soap-env:Body>" + inner + b"</soap-env:Body>" in sent.body


# ---------------------------------------------------------------- the workers around it


def _hub(handlers: list[Handler]) -> Hub:
    script = list(handlers)

    def next_answer(request: TransportRequest) -> TransportResponse:
        return script.pop(0)(request)

    transport = MemoryTransport(next_answer)
    hub = build_hub(configuration(), store=MemoryStore(), transports={"land": transport})
    hub.intake.submit(sample_dossiers(1)[0].envelope(sender="000.00.00.H49"))
    return hub


def _run_due(hub: Hub) -> None:
    while claims := hub.workers.claim(4):
        for c in claims:
            hub.workers.process(c)


def test_a_transient_failure_is_retried_then_delivered() -> None:
    hub = _hub([plain(503), lambda r: fault(r, sender=False), registry])
    try:
        _run_due(hub)
        [record] = hub.store.list_messages(MessageFilter())
        [delivery] = record.deliveries
        assert delivery.state is DeliveryState.DELIVERED
        assert [a.outcome for a in delivery.history] == [
            AttemptOutcome.RETRY,
            AttemptOutcome.RETRY,
            AttemptOutcome.DELIVERED,
        ]
        assert delivery.history[0].error == f"HTTP 503 from {ENDPOINT}"
    finally:
        hub.close()


def test_a_sender_fault_is_a_dead_letter_after_one_attempt() -> None:
    hub = _hub([lambda r: fault(r, sender=True)])
    try:
        _run_due(hub)
        [record] = hub.store.list_messages(MessageFilter())
        [delivery] = record.deliveries
        assert delivery.state is DeliveryState.DEAD
        assert [a.outcome for a in delivery.history] == [AttemptOutcome.DEAD]
        assert delivery.last_error is not None and "thửa đất không tồn tại" in delivery.last_error
    finally:
        hub.close()


def test_retries_end_in_a_dead_letter_when_attempts_run_out() -> None:
    hub = _hub([plain(503)] * 3)  # max_attempts: 3
    try:
        _run_due(hub)
        [record] = hub.store.list_messages(MessageFilter())
        [delivery] = record.deliveries
        assert delivery.state is DeliveryState.DEAD
        assert len(delivery.history) == 3
    finally:
        hub.close()


def test_a_stored_payload_that_cannot_travel_is_a_dead_letter_without_a_call() -> None:
    """A delivery stored by a path other than intake's stages (an older version, a repair by hand)
    is checked at delivery all the same: dead at its first attempt, nothing sent, the reason kept."""
    sent: list[TransportRequest] = []

    def record(request: TransportRequest) -> TransportResponse:
        sent.append(request)
        return registry(request)

    hub = build_hub(configuration(), store=MemoryStore(), transports={"land": MemoryTransport(record)})
    try:
        envelope = sample_dossiers(1)[0].envelope(sender="000.00.00.H49")
        route = RouteDecision(RouteStatus.ROUTED, "test", ("land",), "stored by hand")
        bad = PreparedDelivery(target="land", payload=DECLARED + b"<a/><b/>", content_type="application/xml")
        hub.store.accept(envelope, route, [bad])
        _run_due(hub)
        [record_] = hub.store.list_messages(MessageFilter())
        [delivery] = record_.deliveries
        assert delivery.state is DeliveryState.DEAD
        assert [a.outcome for a in delivery.history] == [AttemptOutcome.DEAD]
        assert delivery.last_error is not None
        assert delivery.last_error.startswith(
            "rejected by land: the stored payload cannot be sent: "
            "stored payload is not well-formed XML: Extra content at the end of the document"
        )
        assert sent == []
    finally:
        hub.close()
