"""The shape of a WSDL reply (delivery/transports/wsdl_shape.py) against zeep's reading of it: a reply
the shape proves is one zeep accepts without a word in its log, and the adapter's outcome — delivered,
or the error's class and text that reach the delivery record — is the same with the shape as with zeep
alone, over valid replies made from every WSDL of the project and hundreds of careless and hostile
variants of each. No socket: tests/integration/test_zeep_outbound.py does the same with the
simulators' real replies."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from land_support import ROOT
from project_support import LAND_ADAPTER, adapter_configuration
from soap_reply_support import REQUEST, compare_interpret, compare_read_reply, envelope, valid_entry, variants
from zeep.xsd.types.builtins import DateTime

from lienthong.adapter import AdapterContext
from lienthong.delivery.soap_adapter import SoapAdapter, SoapOptions
from lienthong.delivery.transports.memory import MemoryTransport
from lienthong.delivery.transports.wsdl import WsdlOperation
from lienthong.delivery.transports.wsdl_shape import DATETIME_SAFE, ReplyShape
from lienthong.errors import WsdlError, XmlRefusedError
from lienthong.soap import SoapVersion, envelope_ns, envelope_parts, header_block_values, hub_header_values
from lienthong.xml import parse_xml

WSDLS = {
    "land": ROOT / "schemas" / "land" / "dangkydatdai.wsdl",
    "tax": ROOT / "schemas" / "tax" / "lienthongdatdai.wsdl",
    "justice": ROOT / "schemas" / "justice" / "lltp.wsdl",
    "business": ROOT / "schemas" / "business" / "dangkydoanhnghiep.wsdl",
}
VERSIONS: tuple[SoapVersion, ...] = ("soap11", "soap12")
LAND_OPERATIONS = ("TiepNhanHoSo", "DongBoKetQuaThue", "NhanBienLaiThanhToan")


def _nowhere() -> MemoryTransport:
    def refuse(request: object) -> None:
        raise AssertionError("no call is made")

    return MemoryTransport(refuse)  # type: ignore[arg-type]


def _operations() -> Iterator[tuple[str, SoapVersion, str]]:
    """Every operation of every WSDL, in each SOAP version it has a binding for."""
    wsdl_ns = "{http://schemas.xmlsoap.org/wsdl/}"
    for name, wsdl in WSDLS.items():
        tree = parse_xml(wsdl.read_bytes())
        for element in tree.iterfind(f"{wsdl_ns}portType/{wsdl_ns}operation"):
            for version in VERSIONS:
                try:
                    WsdlOperation.load(
                        wsdl, version=version, operation=str(element.get("name")), http=_nowhere()
                    )
                except WsdlError:
                    continue
                yield name, version, str(element.get("name"))


OPERATIONS = sorted(set(_operations()))


@pytest.mark.parametrize(("wsdl", "version", "name"), OPERATIONS)
def test_every_reply_reads_as_zeep_reads_it(wsdl: str, version: SoapVersion, name: str) -> None:
    operation = WsdlOperation.load(WSDLS[wsdl], version=version, operation=name, http=_nowhere())
    assert operation.reply_shape is not None, "every WSDL of the project has a shape the hub proves"
    made = envelope(version, valid_entry(operation.operation.output.body))
    proven = accepted = total = 0
    for variant in variants(made):
        if variant.status != 200:
            continue
        was_proven, was_accepted = compare_read_reply(operation, variant.body)
        proven += was_proven
        accepted += was_accepted
        total += 1
    assert compare_read_reply(operation, made) == (True, True), "a valid reply is proven"
    assert total > 300 and proven > 10 and accepted > proven  # zeep still decides the doubtful ones


@pytest.fixture(scope="module")
def land_adapters() -> dict[tuple[SoapVersion, str], SoapAdapter]:
    config = adapter_configuration(LAND_ADAPTER, environ={"LAND_ENDPOINT": "http://registry.invalid/"})
    adapters = {}
    for version, name in itertools.product(VERSIONS, LAND_OPERATIONS):
        settings = config.adapters["land"].operation_config(name)
        options = SoapOptions.model_validate({**settings.options, "transport": version})
        ctx = AdapterContext(
            config=settings, options=options, hub_agency="000.00.00.H49", root=ROOT, transport=_nowhere()
        )
        adapters[version, name] = SoapAdapter(ctx)
    return adapters


@pytest.mark.parametrize(("version", "name"), list(itertools.product(VERSIONS, LAND_OPERATIONS)))
def test_the_land_adapter_records_what_it_recorded_with_zeep_alone(
    land_adapters: dict[tuple[SoapVersion, str], SoapAdapter], version: SoapVersion, name: str
) -> None:
    adapter = land_adapters[version, name]
    assert adapter.wsdl is not None
    made = envelope(version, valid_entry(adapter.wsdl.operation.output.body))
    outcomes: dict[str, int] = {}
    for variant in variants(made):
        delivered, outcome = compare_interpret(adapter, variant)
        kind = "delivered" if delivered else str(outcome[0])  # type: ignore[index]
        outcomes[kind] = outcomes.get(kind, 0) + 1
    # Both ways of failing are exercised, and the answers zeep accepts are delivered either way.
    assert outcomes.keys() >= {"delivered", "TransientDeliveryError", "PermanentDeliveryError"}, outcomes


def test_a_reply_for_another_request_is_still_refused(
    land_adapters: dict[tuple[SoapVersion, str], SoapAdapter],
) -> None:
    adapter = land_adapters["soap11", "TiepNhanHoSo"]
    assert adapter.wsdl is not None
    other = envelope("soap11", valid_entry(adapter.wsdl.operation.output.body), hash_of=b"another")
    with pytest.raises(Exception, match="requestHash does not match"):
        adapter._interpret(REQUEST, 200, other)


def test_every_safe_date_time_is_one_zeep_parses() -> None:
    """DATETIME_SAFE is only a shortcut if zeep's DateTime (isodate) takes every text it matches:
    every day of every month of a leap and a common year, and random times, fractions and offsets."""
    parse = DateTime().pythonvalue  # type: ignore[no-untyped-call]
    rng = random.Random(11)
    texts = []
    for year in ("1000", "2023", "2024", "2026", "9999"):
        for month in range(1, 13):
            for day in range(1, 32):
                texts.append(f"{year}-{month:02d}-{day:02d}T00:00:00Z")
    for _ in range(20_000):
        fraction = rng.choice(["", "." + "".join(rng.choices("0123456789", k=rng.randint(1, 9)))])
        offset = rng.choice(["Z", f"{rng.choice('+-')}{rng.randint(0, 14):02d}:{rng.randint(0, 59):02d}"])
        texts.append(
            f"{rng.randint(1000, 9999)}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}"
            f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}{fraction}{offset}"
        )
    matched = [text for text in texts if DATETIME_SAFE.fullmatch(text)]
    assert len(matched) > 15_000
    for text in matched:
        parse(text)  # raises if the shortcut were wrong
    for refused in (
        "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-21T08:00:00",
        " 2026-11-21T08:00:00Z",
    ):
        assert not DATETIME_SAFE.fullmatch(refused)


SHAPES = {
    "a choice": '<xs:choice><xs:element name="a" type="xs:string"/><xs:element name="b" type="xs:string"/>'
    "</xs:choice>",
    "an any": '<xs:sequence><xs:any processContents="lax"/></xs:sequence>',
    "two alike": '<xs:sequence><xs:element name="a" type="xs:string"/><xs:element name="b" type="xs:int"/>'
    '<xs:element name="a" type="xs:string"/></xs:sequence>',
    "an attribute": '<xs:sequence><xs:element name="a" type="xs:string"/></xs:sequence>'
    '<xs:attribute name="id" type="xs:string"/>',
    "simple content": '<xs:simpleContent><xs:extension base="xs:string"/></xs:simpleContent>',
    "a repeated sequence": '<xs:sequence maxOccurs="2"><xs:element name="a" type="xs:string"/></xs:sequence>',
}


def _wsdl(tmp_path: Path, content: str) -> Path:
    """A one-operation WSDL whose answer's type has ``content``."""
    ns = "urn:example:shape"
    (tmp_path / "schemas").mkdir(exist_ok=True)
    wsdl = tmp_path / "schemas" / "s.wsdl"
    wsdl.write_text(
        f"""<?xml version="1.0"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="{ns}" targetNamespace="{ns}">
  <wsdl:types><xs:schema targetNamespace="{ns}" elementFormDefault="qualified">
    <xs:element name="Ask" type="xs:string"/>
    <xs:element name="Answer"><xs:complexType>{content}</xs:complexType></xs:element>
  </xs:schema></wsdl:types>
  <wsdl:message name="In"><wsdl:part name="p" element="t:Ask"/></wsdl:message>
  <wsdl:message name="Out"><wsdl:part name="p" element="t:Answer"/></wsdl:message>
  <wsdl:portType name="P"><wsdl:operation name="Op"><wsdl:input message="t:In"/><wsdl:output message="t:Out"/>
  </wsdl:operation></wsdl:portType>
  <wsdl:binding name="B" type="t:P"><soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Op"><soap:operation soapAction="urn:op"/>
    <wsdl:input><soap:body use="literal"/></wsdl:input>
    <wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation></wsdl:binding>
</wsdl:definitions>
"""
    )
    return wsdl


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_shapes_not_argued_are_left_to_zeep(tmp_path: Path, kind: str) -> None:
    operation = WsdlOperation.load(
        _wsdl(tmp_path, SHAPES[kind]), version="soap11", operation="Op", http=_nowhere()
    )

    assert operation.reply_shape is None
    made = envelope("soap11", valid_entry(operation.operation.output.body))
    for variant in variants(made):
        if variant.status == 200:
            compare_read_reply(operation, variant.body)  # zeep reads them all, the same way


def test_nested_and_optional_elements_are_proven(tmp_path: Path) -> None:
    content = (
        '<xs:sequence><xs:element name="when" type="xs:dateTime" minOccurs="0"/>'
        '<xs:element name="n" type="xs:int" maxOccurs="3"/><xs:element name="flag" type="xs:boolean"/>'
        '<xs:element name="inner" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>'
        '<xs:element name="x" type="xs:decimal"/></xs:sequence></xs:complexType></xs:element></xs:sequence>'
    )
    operation = WsdlOperation.load(
        _wsdl(tmp_path, content), version="soap11", operation="Op", http=_nowhere()
    )
    assert isinstance(operation.reply_shape, ReplyShape)
    made = envelope("soap11", valid_entry(operation.operation.output.body))
    results = [compare_read_reply(operation, v.body) for v in variants(made) if v.status == 200]
    assert (True, True) in results and (False, True) in results and (False, False) in results


@pytest.mark.parametrize("version", VERSIONS)
def test_the_envelope_s_parts_are_what_element_path_finds(version: SoapVersion) -> None:
    """The adapter finds the Header, the Fault and the Body's element in one pass over the Envelope
    (``envelope_parts``) where it asked ElementPath before; on every variant both find the same."""
    operation = WsdlOperation.load(WSDLS["land"], version=version, operation="TiepNhanHoSo", http=_nowhere())
    ns = envelope_ns(version)
    for variant in variants(envelope(version, valid_entry(operation.operation.output.body))):
        try:
            root = parse_xml(variant.body)
        except XmlRefusedError:
            continue
        header, bodies = envelope_parts(root, version)
        fault = next((el for body in bodies for el in body if el.tag == f"{{{ns}}}Fault"), None)
        entry = next((el for body in bodies for el in body if isinstance(el.tag, str)), None)
        assert header is root.find(f"{{{ns}}}Header"), variant.name
        assert fault is root.find(f"{{{ns}}}Body/{{{ns}}}Fault"), variant.name
        assert entry is root.find(f"{{{ns}}}Body/*"), variant.name
        assert header_block_values(header) == hub_header_values(root, version), variant.name
