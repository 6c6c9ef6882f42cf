"""Intake lends the payload's tree to every target of a fan-out and hands it to the last one: each
adapter sees the whole document, and what is stored is one delivery per target."""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from lienthong.config.models import RouteRule, RoutesConfig
from lienthong.envelope import MessageKind, new_envelope
from lienthong.intake.service import Intake
from lienthong.pipeline.prepare import Preparation
from lienthong.pipeline.route import Router
from lienthong.store import RouteStatus
from lienthong.store.memory import MemoryStore


class RecordingMapper:
    """Writes what it was given under its own root, and notes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[bytes] = []

    def apply(self, tree: etree._Element, params: Mapping[str, str]) -> etree._Element:
        self.seen.append(etree.tostring(tree))
        out = etree.Element(self.name)
        out.extend(etree.fromstring(self.seen[-1]))
        return out


def test_every_target_of_a_fan_out_translates_the_whole_document() -> None:
    targets = ["thue", "vpdk", "land"]
    router = Router(RoutesConfig(routes=[RouteRule(name="all", targets=targets)]))
    mappers = {name: RecordingMapper(name) for name in targets}
    stages = {
        name: Preparation(target=name, target_agency="000.00.00.G13", hub_agency="000.00.00.H49", mapper=m)
        for name, m in mappers.items()
    }
    store = MemoryStore()
    intake = Intake(store, router, stages)
    envelope = new_envelope(
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        sender_message_id="fan-out-1",
        payload=b"<HoSo><MaHoSo>H49-1</MaHoSo><ChuHoSo>Nguyen Van A</ChuHoSo></HoSo>",
        content_type="application/xml",
    )

    result = intake.submit(envelope)

    assert result.created and result.route.status is RouteStatus.ROUTED
    assert [m.seen for m in mappers.values()] == [[envelope.payload]] * len(targets)
    record = store.get_message(result.message_id)
    assert [d.target for d in record.deliveries] == targets


def test_every_target_of_a_fan_out_gets_a_large_text_whole() -> None:
    """Without a mapping each target writes the payload's own tree; only the last may leave its
    large texts out of it afterwards (lienthong.xml.LargeTexts), so the first ones must see them."""
    targets = ["thue", "vpdk", "land"]
    router = Router(RoutesConfig(routes=[RouteRule(name="all", targets=targets)]))
    stages = {
        name: Preparation(target=name, target_agency="000.00.00.G13", hub_agency="000.00.00.H49")
        for name in targets
    }
    store = MemoryStore()
    intake = Intake(store, router, stages)
    attachment = "QUJD" * 400_000  # 1.6 MB of base64: over LARGE_TEXT
    payload = f"<HoSo><MaHoSo>H49-2</MaHoSo><TepDinhKem>{attachment}</TepDinhKem></HoSo>".encode()
    envelope = new_envelope(
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        sender_message_id="fan-out-2",
        payload=payload,
        content_type="application/xml",
    )

    result = intake.submit(envelope)

    record = store.get_message(result.message_id)
    expected = etree.tostring(etree.fromstring(payload), xml_declaration=True, encoding="UTF-8")
    assert [(d.target, d.payload) for d in record.deliveries] == [(t, expected) for t in targets]
