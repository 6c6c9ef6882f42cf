"""Outbound SOAP through zeep: the land adapter's calls are built from the local WSDL, carry the stored
payload byte for byte, and are read back by zeep; the WSDL and its XSDs never come from the network.

Every call goes over real sockets on loopback, to the land registry simulator or to a small scripted
server where the simulator cannot misbehave the way a test needs (a slow drip, a wrong requestHash).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from land_support import LAND_NS, LAND_WSDL, SIMULATOR, SOAP_ACTION, TIEPNHAN
from lxml import etree
from project_support import LAND_ADAPTER, adapter_configuration
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier
from signxml.xades.xades import XAdESSignatureConfiguration, XAdESVerifier
from sim_recording import Recorder
from soap_reply_support import REQUEST, compare_interpret, variants

from lienthong.adapter import AdapterContext
from lienthong.config.models import AdapterConfig
from lienthong.delivery.soap_adapter import SoapAdapter, SoapOptions
from lienthong.delivery.transports.http import HttpTransport
from lienthong.delivery.transports.wsdl import ZeepHttpxTransport
from lienthong.devtools.samples import sample_dossiers
from lienthong.devtools.simulator import FaultPlan, SimulatorServer
from lienthong.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError, WsdlError
from lienthong.pipeline.prepare import Preparation
from lienthong.soap import HubHeader, build_envelope, payload_element_bytes, request_hash
from lienthong.store import Claim
from lienthong.trust.keys import DevCa, Keystore, create_dev_ca
from lienthong.trust.sign import XmlSigner
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, XMLDSIG_NS, parse_xml

ROOT = Path(__file__).resolve().parents[2]
PROVINCE = "000.00.00.H49"
LAND = "000.00.00.G13"
ENVELOPE_NS = {"soap11": SOAP11_NS, "soap12": SOAP12_NS}
DAY = date(2026, 11, 21)


# ---------------------------------------------------------------- the registry, and what reached it


@pytest.fixture(scope="module")
def registry() -> Iterator[tuple[SimulatorServer, Recorder]]:
    server = SimulatorServer(SIMULATOR, FaultPlan(seed=3))
    recorder = Recorder(server.app)
    server.app = recorder  # type: ignore[assignment]
    with server:
        yield server, recorder


@pytest.fixture
def sim(registry: tuple[SimulatorServer, Recorder]) -> Iterator[SimulatorServer]:
    server, recorder = registry
    recorder.requests.clear()
    yield server
    server.faults.update({"clear": True})


@pytest.fixture
def received(registry: tuple[SimulatorServer, Recorder]) -> list[tuple[dict[str, str], bytes]]:
    return registry[1].requests


# ---------------------------------------------------------------- the adapter under test


def land_config(endpoint: str, **changes: Any) -> AdapterConfig:
    """config/adapters/land.yaml as the project ships it (alone), pointed at ``endpoint``, with
    ``changes`` (``wsdl`` and ``transport`` are options of the soap plugin)."""
    config = adapter_configuration(LAND_ADAPTER, environ={"LAND_ENDPOINT": endpoint})
    land = config.adapters["land"].operation_config(TIEPNHAN)  # the operation these tests call
    options = {key: changes.pop(key) for key in ("wsdl", "transport") if key in changes}
    return land.model_copy(update={**changes, "options": {**land.options, **options}})


def make_adapter(config: AdapterConfig, *, root: Path = ROOT, **options: Any) -> SoapAdapter:
    opts = SoapOptions.model_validate({**config.options, **options})
    transport = HttpTransport(timeout=config.timeout, connect_timeout=config.connect_timeout)
    ctx = AdapterContext(config=config, options=opts, hub_agency=PROVINCE, root=root, transport=transport)
    try:
        return SoapAdapter(ctx)
    except ConfigError:
        transport.close()
        raise


@pytest.fixture
def adapter_factory() -> Iterator[Callable[..., SoapAdapter]]:
    made: list[SoapAdapter] = []

    def make(config: AdapterConfig, **kwargs: Any) -> SoapAdapter:
        adapter = make_adapter(config, **kwargs)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


def claim_for(adapter: SoapAdapter, index: int = 0, *, signer: XmlSigner | None = None) -> Claim:
    """What a worker hands the adapter: the payload the hub's intake stages prepared (translated,
    maybe signed) and its envelope."""
    dossier = sample_dossiers(index + 1, day=DAY)[index]
    envelope = dossier.envelope(sender=PROVINCE)
    project = adapter_configuration(LAND_ADAPTER)
    prepared = Preparation.from_config(project, adapter.config, signer=signer).prepare(envelope, None)
    now = datetime.now(UTC)
    return Claim(
        delivery_id=1,
        target=adapter.name,
        attempt=1,
        round_attempt=1,
        first_attempt_at=now,
        payload=prepared.payload,
        content_type=prepared.content_type,
        envelope=envelope.header(),
        worker="test",
        lease_until=now + timedelta(minutes=1),
    )


def body_bytes(request: bytes, version: str) -> bytes:
    """The bytes between the Body tags of a request, whatever prefix the envelope uses."""
    envelope = parse_xml(request)
    body = envelope.find(f"{{{ENVELOPE_NS[version]}}}Body")
    assert body is not None and body.prefix is not None
    start = re.search(rb"<" + body.prefix.encode() + rb":Body>", request)
    end = request.rfind(b"</" + body.prefix.encode() + b":Body>")
    assert start is not None and end > start.end()
    return request[start.end() : end]


# ---------------------------------------------------------------- the request zeep builds


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_the_request_is_built_from_the_wsdl(
    sim: SimulatorServer,
    received: list[tuple[dict[str, str], bytes]],
    adapter_factory: Callable[..., SoapAdapter],
    version: str,
) -> None:
    # No soap_action in the options: with a WSDL, the action is the WSDL's.
    adapter = adapter_factory(land_config(sim.url, transport=version), soap_action=None)
    assert adapter.wsdl is not None and adapter.wsdl.action == SOAP_ACTION
    assert adapter.wsdl.transport.loaded == [LAND_WSDL, LAND_WSDL.with_suffix(".xsd")]
    claim = claim_for(adapter)

    delivered = adapter.deliver(claim)

    [(headers, wire)] = received
    assert delivered.request == wire, "the request kept on the attempt is the bytes that went out"
    assert delivered.response_status == 200
    if version == "soap11":
        assert headers["content-type"] == "text/xml; charset=utf-8"
        assert headers["soapaction"] == f'"{SOAP_ACTION}"'
    else:
        assert headers["content-type"] == f'application/soap+xml; charset=utf-8; action="{SOAP_ACTION}"'
        assert "soapaction" not in headers
    envelope = parse_xml(wire)
    ns = ENVELOPE_NS[version]
    assert envelope.tag == f"{{{ns}}}Envelope"
    assert [etree.QName(c).localname for c in envelope] == ["Header", "Body"]
    header = envelope.find(f"{{{ns}}}Header")
    assert header is not None
    assert {etree.QName(c).localname: c.text for c in header} == {
        "messageId": str(claim.envelope.message_id),
        "correlationId": str(claim.envelope.correlation_id),
        "client": PROVINCE,
        "service": f"{LAND}/land/TiepNhanHoSo",
    }
    assert all(c.tag.startswith(f"{{{HUB_NS}}}") for c in header)

    # The Body holds the stored payload exactly: the same bytes, not an equivalent document.
    assert body_bytes(wire, version) == payload_element_bytes(claim.payload)

    # The answer: zeep read it, its exact bytes are kept, and it is bound to the request sent.
    assert delivered.response is not None
    answer = parse_xml(delivered.response)
    assert answer.findtext(f"{{{ns}}}Header/{{{HUB_NS}}}requestHash") == request_hash(wire)
    assert answer.findtext(f".//{{{LAND_NS}}}MaHoSoDatDai")


def test_the_stored_payload_travels_byte_for_byte_even_when_lxml_would_change_it(
    sim: SimulatorServer,
    received: list[tuple[dict[str, str], bytes]],
    adapter_factory: Callable[..., SoapAdapter],
) -> None:
    """A payload declaring a namespace the envelope declares too, with single-quoted attributes:
    moved into the envelope as an element, lxml would drop the declaration and re-quote."""
    adapter = adapter_factory(land_config(sim.url))
    claim = claim_for(adapter)
    text = payload_element_bytes(claim.payload).decode()
    text = text.replace("<TiepNhanHoSo ", "<TiepNhanHoSo xmlns:lt='urn:lienthong:hub:1' ", 1).replace(
        '"', "'", 2
    )
    payload = b"<?xml version='1.0' encoding='UTF-8'?>\n" + text.encode()
    assert b"xmlns:lt='urn:lienthong:hub:1'" in payload and b"xmlns='urn:" in payload
    header = HubHeader(message_id="m", correlation_id="c", client=PROVINCE, service="s")
    assert text.encode() not in build_envelope("soap11", header, parse_xml(payload))  # what lxml would do
    unusual = Claim(**{**claim.__dict__, "payload": payload})

    delivered = adapter.deliver(unusual)

    [(_, wire)] = received
    assert delivered.request == wire
    assert body_bytes(wire, "soap11") == text.encode()


# ---------------------------------------------------------------- signatures


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {LAND: "Văn phòng đăng ký đất đai"})


@pytest.mark.parametrize("policy", ["xmldsig", "xades-bes"])
def test_a_signed_payload_reaches_the_registry_verifiable(
    sim: SimulatorServer,
    received: list[tuple[dict[str, str], bytes]],
    adapter_factory: Callable[..., SoapAdapter],
    dev_ca: DevCa,
    policy: str,
) -> None:
    keystore = Keystore.load(dev_ca.key_references(), Path("/"))
    signer = XmlSigner(policy, "rsa-sha256", keystore.current)  # type: ignore[arg-type]
    adapter = adapter_factory(land_config(sim.url))
    claim = claim_for(adapter, signer=signer)
    assert parse_xml(claim.payload)[-1].tag == f"{{{XMLDSIG_NS}}}Signature"

    adapter.deliver(claim)

    # What the registry got, taken out of its SOAP Body, verifies against the hub's CA.
    [(_, wire)] = received
    [body] = parse_xml(wire).iterfind(f"{{{SOAP11_NS}}}Body/*")
    result: VerifyResult | list[VerifyResult]
    if policy == "xades-bes":
        result, *_ = XAdESVerifier().verify(
            etree.tostring(body),
            ca_pem_file=str(dev_ca.ca_certificate),
            expect_config=XAdESSignatureConfiguration(location="./"),
        )
    else:
        result = XMLVerifier().verify(
            etree.tostring(body),
            ca_pem_file=str(dev_ca.ca_certificate),
            expect_config=SignatureConfiguration(location="./"),
        )
    assert isinstance(result, VerifyResult) and result.signed_xml is not None
    assert result.signed_xml.tag == f"{{{LAND_NS}}}TiepNhanHoSo"
    assert body_bytes(wire, "soap11") == payload_element_bytes(claim.payload)


# ---------------------------------------------------------------- faults and timeouts


@pytest.mark.parametrize(("version", "code"), [("soap11", "Client"), ("soap12", "Sender")])
def test_a_client_fault_is_permanent(
    sim: SimulatorServer, adapter_factory: Callable[..., SoapAdapter], version: str, code: str
) -> None:
    adapter = adapter_factory(land_config(sim.url, transport=version))
    claim = claim_for(adapter)
    sim.faults.update({"reject_next": 1})

    with pytest.raises(PermanentDeliveryError) as caught:
        adapter.deliver(claim)

    error = caught.value
    assert error.message.startswith(f"SOAP fault {code}: ")
    assert "simulated rejection" in error.message  # the fault's detail, as zeep read it
    assert error.response_status == 500
    assert error.request is not None and error.response is not None
    assert parse_xml(error.response).findtext(f".//{{{HUB_NS}}}requestHash") == request_hash(error.request)


@pytest.mark.parametrize(("version", "code"), [("soap11", "Server"), ("soap12", "Receiver")])
def test_a_server_fault_is_transient(
    sim: SimulatorServer, adapter_factory: Callable[..., SoapAdapter], version: str, code: str
) -> None:
    adapter = adapter_factory(land_config(sim.url, transport=version))
    sim.faults.update({"fail_next": 1, "mode": "fault"})

    with pytest.raises(TransientDeliveryError) as caught:
        adapter.deliver(claim_for(adapter))

    assert caught.value.message.startswith(f"SOAP fault {code}: ")
    assert caught.value.response_status == 500
    assert caught.value.request is not None


def test_a_hanging_registry_times_out_within_the_configured_timeout(
    sim: SimulatorServer, adapter_factory: Callable[..., SoapAdapter]
) -> None:
    """The registry holds the call for two minutes, then would answer 503: a client without the 1 s
    read timeout would see that answer. "timed out" shows the hub gave up by itself; no clock is
    read (a wall-clock bound failed on a loaded machine)."""
    config = land_config(sim.url, timeout=timedelta(seconds=1), connect_timeout=timedelta(milliseconds=500))
    adapter = adapter_factory(config)
    claim = claim_for(adapter)
    sim.faults.update({"fail_next": 1, "mode": "timeout", "hang_seconds": 120})

    with pytest.raises(TransientDeliveryError, match="timed out") as caught:
        adapter.deliver(claim)

    assert caught.value.request is not None  # the bytes sent are kept even when nothing came back


class ScriptedServer:
    """A one-connection-at-a-time HTTP server on loopback that reads a request and answers with
    ``answer(request)``, sent in pieces ``interval`` seconds apart (a slow drip when > 0);
    ``completed`` says whether an answer was sent whole."""

    def __init__(
        self, answer: Callable[[bytes], bytes], *, interval: float = 0.0, piece: int = 1 << 16
    ) -> None:
        self.answer, self.interval, self.piece = answer, interval, piece
        self.completed = False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/soap/land"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            body += conn.recv(65536)
        payload = self.answer(body)
        response = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        for start in range(0, len(response), self.piece):
            if self.stop.is_set():
                return
            conn.sendall(response[start : start + self.piece])
            time.sleep(self.interval)
        self.completed = True


def soap11_answer(request_digest: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP11_NS}" xmlns:lt="{HUB_NS}">'
        f"<s:Header><lt:requestHash>{request_digest}</lt:requestHash></s:Header><s:Body>"
        f'<dd:TiepNhanHoSoResponse xmlns:dd="{LAND_NS}"><dd:MaHoSoMotCua>A</dd:MaHoSoMotCua>'
        "<dd:SoBienNhan>B</dd:SoBienNhan><dd:MaHoSoDatDai>C</dd:MaHoSoDatDai>"
        "<dd:TrangThai>DaTiepNhan</dd:TrangThai><dd:ThoiGianTiepNhan>2026-11-21T08:00:00+07:00"
        "</dd:ThoiGianTiepNhan></dd:TiepNhanHoSoResponse></s:Body></s:Envelope>"
    ).encode()


def test_a_registry_that_drips_its_answer_is_cut_off_at_the_whole_call_deadline(
    adapter_factory: Callable[..., SoapAdapter],
) -> None:
    """Each piece arrives well within the read timeout; the call as a whole must still end.

    The registry sends its answer a byte every 0.2 s, about two minutes for the whole: a client
    without a whole-call deadline would wait for it and get a complete, valid answer (no error,
    ``completed``). Nothing here is timed: the deadline shows by the call failing before the
    answer was sent whole."""
    with ScriptedServer(lambda body: soap11_answer(request_hash(body)), interval=0.2, piece=1) as server:
        config = land_config(server.url, timeout=timedelta(seconds=1), connect_timeout=timedelta(seconds=0.5))
        adapter = adapter_factory(config)
        with pytest.raises(TransientDeliveryError, match="whole-call deadline"):
            adapter.deliver(claim_for(adapter))
        assert not server.completed


def test_an_answer_for_other_bytes_is_refused(adapter_factory: Callable[..., SoapAdapter]) -> None:
    digest = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    with ScriptedServer(lambda body: soap11_answer(digest)) as server:
        adapter = adapter_factory(land_config(server.url))
        with pytest.raises(TransientDeliveryError, match="requestHash does not match"):
            adapter.deliver(claim_for(adapter))
    with ScriptedServer(lambda body: soap11_answer(request_hash(body))) as server:
        adapter = adapter_factory(land_config(server.url))
        delivered = adapter.deliver(claim_for(adapter))
        assert delivered.response == soap11_answer(request_hash(delivered.request or b""))


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (b"<dd:MaHoSoDatDai>C</dd:MaHoSoDatDai>", b"<dd:Other>C</dd:Other>", "Unexpected element"),
        (b"TiepNhanHoSoResponse", b"Other", "the WSDL answers"),
    ],
    ids=["zeep-reads-the-content", "the-hub-checks-the-element"],
)
def test_an_answer_that_does_not_match_the_wsdl_is_transient(
    adapter_factory: Callable[..., SoapAdapter], old: bytes, new: bytes, error: str
) -> None:
    def wrong(body: bytes) -> bytes:
        return soap11_answer(request_hash(body)).replace(old, new)

    with ScriptedServer(wrong) as server:
        adapter = adapter_factory(land_config(server.url))
        with pytest.raises(TransientDeliveryError, match="unreadable response") as caught:
            adapter.deliver(claim_for(adapter))
        assert error in caught.value.message


# ---------------------------------------------------------------- the WSDL is local, and checked at startup


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose schemas/ holds a copy of the land WSDL and XSD, to be edited by a test."""
    (tmp_path / "schemas" / "land").mkdir(parents=True)
    for name in ("dangkydatdai.wsdl", "dangkydatdai.xsd"):
        shutil.copy(ROOT / "schemas" / "land" / name, tmp_path / "schemas" / "land" / name)
    (tmp_path / "schemas" / "province").symlink_to(ROOT / "schemas" / "province", target_is_directory=True)
    (tmp_path / "mappings").symlink_to(ROOT / "mappings", target_is_directory=True)
    return tmp_path


def edit_wsdl(project: Path, old: str, new: str) -> None:
    wsdl = project / "schemas" / "land" / "dangkydatdai.wsdl"
    text = wsdl.read_text(encoding="utf-8")
    assert old in text
    wsdl.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that listens, to prove nobody connected to it."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.3)
    yield sock
    sock.close()


def assert_nobody_connected(sock: socket.socket) -> None:
    with pytest.raises(TimeoutError):
        conn, _ = sock.accept()
        conn.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_wsdl_importing_a_remote_xsd_is_refused_without_a_connection(
    project: Path, listener: socket.socket, scheme: str
) -> None:
    url = f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/dangkydatdai.xsd"
    edit_wsdl(project, 'schemaLocation="dangkydatdai.xsd"', f'schemaLocation="{url}"')
    config = land_config("http://127.0.0.1:9/", wsdl=Path("schemas/land/dangkydatdai.wsdl"))

    with pytest.raises(ConfigError) as caught:
        make_adapter(config, root=project)

    [issue] = caught.value.issues
    assert issue.key == "options.wsdl"
    assert url in issue.message and "never over the network" in issue.message
    assert_nobody_connected(listener)


def test_the_transport_itself_refuses_urls_and_files_outside_schemas(
    project: Path, listener: socket.socket, tmp_path: Path
) -> None:
    """Defence in depth: even if zeep's forbid_external were off, the transport fetches nothing."""
    http = HttpTransport(timeout=timedelta(seconds=1), connect_timeout=timedelta(seconds=1))
    transport = ZeepHttpxTransport(http, project / "schemas")
    try:
        port = listener.getsockname()[1]
        for url in (f"http://127.0.0.1:{port}/x.xsd", f"ftp://127.0.0.1:{port}/x.xsd"):
            with pytest.raises(WsdlError, match="not a local file"):
                transport.load(url)
        with pytest.raises(WsdlError, match="never fetched"):
            transport._load_remote_data(f"http://127.0.0.1:{port}/x.xsd")
        outside = tmp_path / "outside.xsd"
        outside.write_text("<x/>", encoding="utf-8")
        for url in (str(outside), outside.as_uri(), str(project / "schemas" / ".." / "outside.xsd")):
            with pytest.raises(WsdlError, match="outside"):
                transport.load(url)
        inside = project / "schemas" / "land" / "dangkydatdai.xsd"
        assert transport.load(inside.as_uri()) == inside.read_bytes()
        assert_nobody_connected(listener)
    finally:
        transport.close()


def test_a_wsdl_importing_a_file_outside_schemas_is_refused(project: Path) -> None:
    (project / "secret.xsd").write_text("<xsd:schema xmlns:xsd='http://www.w3.org/2001/XMLSchema'/>")
    edit_wsdl(project, 'schemaLocation="dangkydatdai.xsd"', 'schemaLocation="../../secret.xsd"')
    config = land_config("http://127.0.0.1:9/", wsdl=Path("schemas/land/dangkydatdai.wsdl"))

    with pytest.raises(ConfigError, match="outside"):
        make_adapter(config, root=project)


def test_a_wsdl_with_a_doctype_is_refused(project: Path) -> None:
    edit_wsdl(
        project, "<wsdl:definitions", '<!DOCTYPE wsdl:definitions [<!ENTITY x "y">]>\n<wsdl:definitions'
    )
    config = land_config("http://127.0.0.1:9/", wsdl=Path("schemas/land/dangkydatdai.wsdl"))

    with pytest.raises(ConfigError, match="DOCTYPE"):
        make_adapter(config, root=project)


def test_an_operation_missing_from_the_wsdl_is_a_startup_error() -> None:
    config = land_config("http://127.0.0.1:9/")

    with pytest.raises(ConfigError) as caught:
        make_adapter(config, operation="TraCuuHoSo")

    [issue] = caught.value.issues
    assert issue.key == "options.operation"
    assert "'TraCuuHoSo' is not in" in issue.message and (
        "offers: DongBoKetQuaThue, NhanBienLaiThanhToan, TiepNhanHoSo" in issue.message
    )


def test_a_soap_action_contradicting_the_wsdl_is_a_startup_error() -> None:
    with pytest.raises(ConfigError, match=r"options\.soap_action"):
        make_adapter(land_config("http://127.0.0.1:9/"), soap_action="urn:other/TiepNhanHoSo")


def test_a_transport_the_wsdl_does_not_bind_is_a_startup_error(project: Path) -> None:
    wsdl = project / "schemas" / "land" / "dangkydatdai.wsdl"
    tree = etree.parse(str(wsdl))
    w = "http://schemas.xmlsoap.org/wsdl/"
    for el in tree.iter(f"{{{w}}}binding", f"{{{w}}}port"):
        if "12" in (el.get("name") or ""):
            parent = el.getparent()
            assert parent is not None
            parent.remove(el)
    tree.write(str(wsdl), xml_declaration=True, encoding="UTF-8")
    config = land_config(
        "http://127.0.0.1:9/", wsdl=Path("schemas/land/dangkydatdai.wsdl"), transport="soap12"
    )

    with pytest.raises(ConfigError, match=r"no SOAP 1\.2 binding; is transport: soap11 meant"):
        make_adapter(config, root=project)


def test_without_a_wsdl_the_plain_envelope_path_is_used(
    sim: SimulatorServer,
    received: list[tuple[dict[str, str], bytes]],
    adapter_factory: Callable[..., SoapAdapter],
) -> None:
    adapter = adapter_factory(land_config(sim.url, wsdl=None))
    assert adapter.wsdl is None
    claim = claim_for(adapter)

    delivered = adapter.deliver(claim)

    [(headers, wire)] = received
    assert delivered.request == wire
    assert headers["soapaction"] == f'"{SOAP_ACTION}"'  # options.soap_action, as configured
    assert body_bytes(wire, "soap11") == payload_element_bytes(claim.payload)


# ---------------------------------------------------------------- the registry's real answers, without zeep

#: The land adapter's cases whose expected output is each operation's request, in workflow order.
OPERATION_CASES = {
    "TiepNhanHoSo": "transfer-basic",
    "DongBoKetQuaThue": "tax-notices",
    "NhanBienLaiThanhToan": "payment-receipt",
}


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_the_registry_s_answers_are_proven_and_read_as_zeep_reads_them(
    sim: SimulatorServer, adapter_factory: Callable[..., SoapAdapter], version: str
) -> None:
    """Each operation's real answer from the simulator is one the reply's shape proves (no zeep
    objects built), and it and its careless and hostile variants end as they did with zeep alone."""
    project = adapter_configuration(LAND_ADAPTER, environ={"LAND_ENDPOINT": sim.url})
    tiepnhan = adapter_factory(land_config(sim.url))
    for index, (operation, case) in enumerate(OPERATION_CASES.items()):
        dossier = claim_for(tiepnhan, index)  # a message id of its own (a repeated one gets the first answer)
        settings = project.adapters["land"].operation_config(operation)
        options = {**settings.options, "transport": version}
        adapter = adapter_factory(settings.model_copy(update={"options": options}))
        payload = (ROOT / "adapters" / "land" / "cases" / case / "expected.xml").read_bytes()
        claim = dataclasses.replace(dossier, payload=payload, operation=operation)

        delivered = adapter.deliver(claim)

        assert adapter.wsdl is not None and adapter.wsdl.reply_shape is not None
        assert delivered.response is not None and delivered.request is not None
        assert adapter.wsdl.reply_shape.proves(parse_xml(delivered.response)), operation
        real = delivered.response.replace(
            request_hash(delivered.request).encode(), request_hash(REQUEST).encode()
        )
        delivered_count = 0
        for variant in variants(real):
            was_delivered, _ = compare_interpret(adapter, variant)
            delivered_count += was_delivered
        assert delivered_count > 50, operation
