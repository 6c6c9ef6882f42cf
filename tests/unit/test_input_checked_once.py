"""A payload routed to several targets that share an input schema is checked against it once per
message (lienthong.pipeline.prepare.one_message): a land dossier goes to the land registry and to the
national portal, both reading it against hoso.xsd."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from lienthong.config.models import RouteRule, RoutesConfig
from lienthong.devtools.samples import sample_dossiers
from lienthong.errors import SchemaValidationError
from lienthong.intake.service import Intake
from lienthong.pipeline.prepare import Preparation, one_message
from lienthong.pipeline.route import Router
from lienthong.pipeline.validate import XsdValidator
from lienthong.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["land", "dvcqg", "motcua"]


class CountingValidator(XsdValidator):
    """hoso.xsd, counting the trees it is asked about."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.asked: list[etree._Element] = []

    def validate(self, root: etree._Element, *, what: str = "payload", source: bytes | None = None) -> None:
        self.asked.append(root)
        super().validate(root, what=what, source=source)


def intake_with(schema: CountingValidator, *, second: CountingValidator | None = None) -> Intake:
    router = Router(RoutesConfig(routes=[RouteRule(name="all", targets=TARGETS)]))
    stages = {
        name: Preparation(
            target=name,
            target_agency="000.00.00.G13",
            hub_agency="000.00.00.H49",
            input_schema=second if second is not None and name == "motcua" else schema,
        )
        for name in TARGETS
    }
    return Intake(MemoryStore(), router, stages)


def test_each_shared_input_schema_checks_the_payload_once() -> None:
    schema = CountingValidator(ROOT / "schemas/province/hoso.xsd")
    other = CountingValidator(ROOT / "schemas/province/hoso.xsd")
    intake = intake_with(schema, second=other)
    for sample in sample_dossiers(3, day=date(2026, 11, 21)):
        routed = intake.route(sample.envelope(sender="000.00.00.H49"))
        assert [p.target for p in routed.prepared] == TARGETS
    assert len(schema.asked) == 3 and len(other.asked) == 3  # once per message and schema


def test_an_invalid_payload_is_refused_by_the_first_target_as_before() -> None:
    schema = CountingValidator(ROOT / "schemas/province/hoso.xsd")
    intake = intake_with(schema)
    envelope = sample_dossiers(1, day=date(2026, 11, 21))[0].envelope(sender="000.00.00.H49")
    bad = envelope.payload.replace(b"<MaTTHC>", b"<Khac>x</Khac><MaTTHC>")
    with pytest.raises(SchemaValidationError, match="payload for 'land'"):
        intake.route(replace(envelope, payload=bad))
    assert len(schema.asked) == 1


def test_outside_one_message_every_call_checks_and_a_handed_over_tree_is_forgotten() -> None:
    schema = CountingValidator(ROOT / "schemas/province/hoso.xsd")
    stage = Preparation(
        target="land", target_agency="000.00.00.G13", hub_agency="000.00.00.H49", input_schema=schema
    )
    sample = sample_dossiers(1, day=date(2026, 11, 21))[0]
    envelope = sample.envelope(sender="000.00.00.H49")
    tree = etree.fromstring(sample.xml)
    stage.prepare(envelope, tree)
    stage.prepare(envelope, tree)
    assert len(schema.asked) == 2
    with one_message():
        stage.prepare(envelope, tree)
        stage.prepare(envelope, tree, handed_over=True)  # remembered: not asked; then forgotten
        stage.prepare(envelope, tree)
    assert len(schema.asked) == 4
