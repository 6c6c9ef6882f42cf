"""``hub verify`` on a SOAP envelope judges the Body's one element, the only thing the hub acts on."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.errors import SignaturePolicyError
from lienthong.trust.verify import TrustStore, soap_body_entry, verify_file
from lienthong.xml import SOAP11_NS, SOAP12_NS, parse_xml

ENTRY = '<m:NopThue xmlns:m="urn:test:thue"><m:SoTien>1000</m:SoTien></m:NopThue>'


@pytest.mark.parametrize("ns", [SOAP11_NS, SOAP12_NS])
def test_the_body_element_of_either_soap_version_is_what_is_judged(ns: str) -> None:
    root = parse_xml(f'<s:Envelope xmlns:s="{ns}"><s:Header/><s:Body>{ENTRY}</s:Body></s:Envelope>'.encode())
    entry = soap_body_entry(root)
    assert entry is not None and entry.tag == "{urn:test:thue}NopThue"
    assert soap_body_entry(parse_xml(ENTRY.encode())) is None  # not an envelope: judged whole


@pytest.mark.parametrize(
    "inside",
    [f"<s:Body>{ENTRY}{ENTRY}</s:Body>", "<s:Body/>", f"<s:Body>{ENTRY}</s:Body><s:Body>{ENTRY}</s:Body>"],
    ids=["two-elements", "empty", "two-bodies"],
)
def test_an_envelope_that_does_not_say_what_the_hub_acts_on_is_not_valid(inside: str, tmp_path: Path) -> None:
    path = tmp_path / "request.xml"
    path.write_bytes(f'<s:Envelope xmlns:s="{SOAP11_NS}">{inside}</s:Envelope>'.encode())
    with pytest.raises(SignaturePolicyError) as refused:
        verify_file(path, TrustStore(), None, None)
    assert refused.value.reason == "expected-element-not-unique"
