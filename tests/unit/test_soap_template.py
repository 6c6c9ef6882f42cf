"""The request envelope written once and filled in per call (``EnvelopeTemplate``) gives the bytes that
building and serialising the envelope for each message gave: with zeep from the land WSDL, and on the
plain path, for header values lxml has to escape."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from land_support import LAND_WSDL, TIEPNHAN
from lxml import etree

from lienthong import MemoryTransport, TransportRequest, TransportResponse
from lienthong.delivery.transports.wsdl import WsdlOperation
from lienthong.soap import (
    EnvelopeTemplate,
    HubHeader,
    SoapVersion,
    _text_bytes,
    envelope_skeleton,
    envelope_with_payload,
)
from lienthong.xml import parse_xml

PAYLOAD = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n"
    b"<dd:TiepNhanHoSo xmlns:dd='urn:lienthong:tnmt:dangkydatdai:1'><dd:X a='1'>\xc4\x91\xe1\xba\xa5t</dd:X>"
    b"</dd:TiepNhanHoSo>"
)
HEADERS = [
    HubHeader(message_id="m-1", correlation_id="c-1", client="000.00.00.H49", service="G13/land/Op"),
    HubHeader(
        message_id="a&b<c>d\r\ne\tf",
        correlation_id="Đăng ký đất đai ]]> 'x' \"y\"",
        causation_id="cause & effect",
        client="<client/>",
        service="s\U0001f600",
    ),
]


def _unused(request: TransportRequest) -> TransportResponse:
    raise AssertionError("no call is made")


@pytest.mark.parametrize("version", ["soap11", "soap12"])
@pytest.mark.parametrize("header", HEADERS, ids=["plain-values", "values-to-escape"])
def test_the_zeep_template_gives_the_bytes_zeep_writes(version: SoapVersion, header: HubHeader) -> None:
    wsdl = WsdlOperation.load(LAND_WSDL, version=version, operation=TIEPNHAN, http=MemoryTransport(_unused))
    bodiless = copy.copy(wsdl.operation.input)
    bodiless.body = None
    expected = envelope_with_payload(bodiless.serialize(_soapheaders=header.elements()).content, PAYLOAD)

    request, headers = wsdl.request(header, PAYLOAD)

    assert request == expected
    assert parse_xml(request) is not None
    assert headers["Content-Type"].startswith("text/xml" if version == "soap11" else "application/soap+xml")


@pytest.mark.parametrize("version", ["soap11", "soap12"])
@pytest.mark.parametrize("header", HEADERS, ids=["plain-values", "values-to-escape"])
def test_the_plain_template_gives_the_bytes_of_the_skeleton(version: SoapVersion, header: HubHeader) -> None:
    template = EnvelopeTemplate(lambda h: envelope_skeleton(version, h))

    assert template.render(header, PAYLOAD) == envelope_with_payload(
        envelope_skeleton(version, header), PAYLOAD
    )


@pytest.mark.parametrize("value", ["nul\x00", "bell\x07", "\ufffe"])
def test_a_value_that_is_not_xml_text_is_refused(value: str) -> None:
    template = EnvelopeTemplate(lambda h: envelope_skeleton("soap11", h))
    header = HubHeader(message_id=value, correlation_id="c", client="x", service="s")

    with pytest.raises(ValueError, match="XML compatible"):
        template.render(header, PAYLOAD)


def test_every_character_is_written_as_lxml_writes_it_in_text() -> None:
    """``_text_bytes`` writes a value with nothing to escape or refuse at once (``_PLAIN_TEXT``):
    each code point (of the planes beyond the first, which XML takes whole, one in 257), alone and
    amid plain text, gives the bytes lxml writes, or lxml's refusal."""
    element = etree.Element("x")
    for point in [*range(0x10000), *range(0x10000, 0x110000, 257), 0x10FFFF]:
        for value in (chr(point), f"ab{chr(point)}-1"):
            try:
                element.text = value
            except ValueError:
                with pytest.raises(ValueError, match="XML compatible"):
                    _text_bytes(value)
                continue
            written = etree.tostring(element, encoding="UTF-8").split(b"?>", 1)[-1].strip()
            assert _text_bytes(value) == written.removeprefix(b"<x>").removesuffix(b"</x>"), point


def test_a_payload_that_cannot_travel_byte_for_byte_is_refused() -> None:
    template = EnvelopeTemplate(lambda h: envelope_skeleton("soap11", h))
    latin = b"<?xml version='1.0' encoding='ISO-8859-1'?><x>\xe9</x>"

    with pytest.raises(ValueError, match="not UTF-8"):
        template.render(HEADERS[0], latin)


def test_the_template_is_cut_from_the_envelope_write_makes(tmp_path: Path) -> None:
    """An envelope that does not carry the header values as text cannot be a template."""

    def without_header(header: HubHeader) -> object:
        return envelope_skeleton(
            "soap11", HubHeader(message_id="m", correlation_id="c", client="x", service="s")
        )

    with pytest.raises(ValueError, match="header value"):
        EnvelopeTemplate(without_header)  # type: ignore[arg-type]
