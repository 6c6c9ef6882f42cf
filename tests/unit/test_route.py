"""Routing decisions as an operator writes them in routes.yaml."""

from __future__ import annotations

import pytest
from project_support import LAND_ADAPTER, ROOT

from lienthong.config.files import load_configuration
from lienthong.config.models import RoutesConfig
from lienthong.envelope import Envelope, MessageKind, new_envelope
from lienthong.errors import XmlRefusedError
from lienthong.pipeline.route import Router
from lienthong.store import RouteStatus
from lienthong.xml import parse_xml

NS = "urn:lienthong:province:hoso:1"
WITH_PARCEL = f'<HoSo xmlns="{NS}"><ThongTinThuaDat/></HoSo>'.encode()
WITHOUT_PARCEL = f'<HoSo xmlns="{NS}"/>'.encode()


def router(*rules: dict[str, object]) -> Router:
    return Router(RoutesConfig.model_validate({"routes": list(rules)}))


def message(
    payload: bytes = WITH_PARCEL, procedure_code: str = "1.004227", document_type: str | None = None
) -> Envelope:
    return new_envelope(
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        sender_message_id="m1",
        payload=payload,
        content_type="application/xml",
        procedure_code=procedure_code,
        document_type=document_type,
    )


def test_first_matching_rule_decides_and_fans_out() -> None:
    r = router(
        {"name": "specific", "match": {"procedure_code": "1.004227"}, "targets": ["land", "tax", "land"]},
        {"name": "catch-all", "targets": ["archive"]},
    )
    decision = r.decide(message())
    assert decision.status is RouteStatus.ROUTED
    assert decision.rule == "specific"
    assert decision.targets == ("land", "tax")  # duplicates collapse, order kept


@pytest.mark.parametrize(
    ("match", "fields", "expected"),
    [
        ({"procedure_code": "1.004227*"}, {"procedure_code": "1.004227.000.00.00.H56"}, True),
        ({"procedure_code": ["2.000488", "1.004227"]}, {}, True),
        ({"procedure_code": "2.000488"}, {}, False),
        ({"sender": "*.H49"}, {}, True),
        ({"sender": "*.H22"}, {}, False),
        ({"recipient": "000.00.00.G13"}, {}, False),  # field absent never matches a pattern
        ({"kind": ["document", "status"]}, {}, False),
        ({"document_type": "CV"}, {"document_type": "CV"}, True),
    ],
)
def test_field_patterns(match: dict[str, object], fields: dict[str, str], expected: bool) -> None:
    envelope = message(
        procedure_code=fields.get("procedure_code", "1.004227"), document_type=fields.get("document_type")
    )
    decision = router({"name": "r", "match": match, "targets": ["land"]}).decide(envelope)
    assert (decision.status is RouteStatus.ROUTED) is expected


def test_xpath_predicate_on_payload() -> None:
    r = router(
        {
            "name": "parcels",
            "match": {"xpath": "boolean(/h:HoSo/h:ThongTinThuaDat)", "namespaces": {"h": NS}},
            "targets": ["land"],
        }
    )
    assert r.decide(message(WITH_PARCEL)).status is RouteStatus.ROUTED
    assert r.decide(message(WITHOUT_PARCEL)).status is RouteStatus.UNROUTABLE
    not_xml = new_envelope(
        kind=MessageKind.DOSSIER,
        sender="x",
        sender_message_id="j",
        payload=b"{}",
        content_type="application/json",
    )
    assert r.decide(not_xml).status is RouteStatus.UNROUTABLE


def test_unroutable_says_why() -> None:
    decision = router({"name": "other", "match": {"procedure_code": "2.000488"}, "targets": ["x"]}).decide(
        message()
    )
    assert decision.status is RouteStatus.UNROUTABLE
    assert decision.targets == ()
    assert "procedure=1.004227" in decision.reason


def test_xpath_rules_refuse_hostile_payloads() -> None:
    r = router({"name": "x", "match": {"xpath": "true()"}, "targets": ["land"]})
    with pytest.raises(XmlRefusedError):
        r.decide(message(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'))


def test_the_shipped_routes_send_the_land_case_to_the_land_registry() -> None:
    """What ships (config/routes.yaml), not what tests assemble: a land-transfer dossier, as the land
    adapter's case has it, goes to the land registry, whatever other routes are added beside it."""
    routes = load_configuration(ROOT / "config", environ={}).routes
    dossier = (LAND_ADAPTER.cases / "transfer-basic" / "input.xml").read_bytes()
    envelope = message(dossier, procedure_code="1.004227")

    decision = Router(routes).decide(envelope, parse_xml(dossier))

    assert decision.rule == "land-transfer"
    assert "land" in decision.targets


@pytest.mark.parametrize(
    ("kind", "sender", "rule", "target"),
    [
        (MessageKind.DOCUMENT, "000.00.00.H49", "edxml-document-out", "vpcp"),
        (MessageKind.STATUS, "000.00.00.H49", "edxml-status-out", "vpcp"),
        (MessageKind.DOCUMENT, "000.00.00.G09", "edxml-document-in", "qlvb"),
        (MessageKind.STATUS, "000.00.00.G22", "edxml-status-in", "qlvb"),
        (MessageKind.DOCUMENT, "28.22.H17", "edxml-document-in", "qlvb"),  # a non-conforming code too
    ],
)
def test_the_shipped_routes_send_edxml_by_direction(
    kind: MessageKind, sender: str, rule: str, target: str
) -> None:
    """The province's edXML (its document system, the hub's own 01) goes to the national axis; anyone
    else's (fetched from the axis) to the province's document system."""
    routes = load_configuration(ROOT / "config", environ={}).routes
    edxml = b'<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>'
    envelope = new_envelope(
        kind=kind, sender=sender, sender_message_id="e1", payload=edxml, content_type="application/xml"
    )

    decision = Router(routes).decide(envelope, parse_xml(edxml))

    assert (decision.rule, decision.targets) == (rule, (target,))
