"""Intake lends the payload's tree to every target of a fan-out and hands it to the last one: each
adapter sees the whole document, and what is stored is one delivery per target."""

from __future__ import annotations

from lxml import etree

from lienthong.config import RouteRule, RoutesConfig
from lienthong.envelope import Envelope, MessageKind, new_envelope
from lienthong.intake import Intake
from lienthong.route import Router
from lienthong.store import Claim, Delivered, PreparedDelivery, RouteStatus
from lienthong.store.memory import MemoryStore


class TranslatingAdapter:
    """Writes what it was given under its own root, and notes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[bytes] = []

    def prepare(self, envelope: Envelope, tree: etree._Element | None) -> PreparedDelivery:
        assert tree is not None
        self.seen.append(etree.tostring(tree))
        out = etree.Element(self.name)
        out.extend(etree.fromstring(self.seen[-1]))
        return PreparedDelivery(self.name, etree.tostring(out), "application/xml")

    def deliver(self, claim: Claim) -> Delivered:
        raise AssertionError("not delivered in this test")


def test_every_target_of_a_fan_out_translates_the_whole_document() -> None:
    targets = ["thue", "vpdk", "land"]
    router = Router(RoutesConfig(routes=[RouteRule(name="all", targets=targets)]))
    adapters = {name: TranslatingAdapter(name) for name in targets}
    store = MemoryStore()
    intake = Intake(store, router, adapters)
    envelope = new_envelope(
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        sender_message_id="fan-out-1",
        payload=b"<HoSo><MaHoSo>H49-1</MaHoSo><ChuHoSo>Nguyen Van A</ChuHoSo></HoSo>",
        content_type="application/xml",
    )

    result = intake.submit(envelope)

    assert result.created and result.route.status is RouteStatus.ROUTED
    assert [a.seen for a in adapters.values()] == [[envelope.payload]] * len(targets)
    record = store.get_message(result.message_id)
    assert [d.target for d in record.deliveries] == targets
