"""Document facts at intake: an edXML payload fills its envelope (kind, document id, ``edxml.*``
headers, the correlation id), deterministically, and a sender that says otherwise is refused.

Every sample of ../shared/testdata/edxml is submitted through :class:`Intake` (memory store, no
routes) and the stored envelope is read back, as a user of ``hub status`` would see it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from lienthong.config.models import RoutesConfig
from lienthong.edxml.build import build_document, build_status
from lienthong.edxml.model import Business, Organ, Replacement, ResponseFor
from lienthong.envelope import Envelope, MessageKind, derive_correlation_id, new_envelope
from lienthong.errors import DocumentFactsError, InvalidMessageError
from lienthong.intake.service import Intake
from lienthong.pipeline.route import Router
from lienthong.store.memory import MemoryStore

G22 = "000.00.00.G22"
DOC_7816 = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"

#: sample → (kind, document_id, message_type, status_code, business_doc_type, from).
EXPECTED = {
    "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml": ("document", DOC_7816, "edoc", None, "0", G22),
    "edoc_new.edxml": ("document", DOC_7816, "edoc", None, "0", "000.00.00.A80"),
    "edoc_revocation.edxml": (
        "document",
        "000.00.04.G14,2012/08/06,267/VPCP-TTĐT",
        "edoc",
        None,
        "1",
        G22,
    ),
    "edoc_update.edxml": ("document", "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT", "edoc", None, "2", G22),
    "edoc_replacement.edxml": ("document", "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT", "edoc", None, "3", G22),
    "status.edxml": ("status", DOC_7816, "status", "01", None, "000.00.00.H41"),
    "status_inbox_01.edxml": ("status", DOC_7816, "status", "01", None, "000.00.00.H41"),
    "status_rejection_02.edxml": ("status", DOC_7816, "status", "02", None, "000.00.00.H41"),
    "status_acceptance_03.edxml": ("status", DOC_7816, "status", "03", None, "000.00.00.H41"),
    "status_assignment_04.edxml": ("status", DOC_7816, "status", "04", None, "000.00.00.H41"),
    "status_processing_05.edxml": ("status", DOC_7816, "status", "05", None, "000.00.00.H41"),
    "status_finish_06.edxml": ("status", DOC_7816, "status", "06", None, "000.00.00.H41"),
    "status_cancellation_13.edxml": ("status", DOC_7816, "status", "13", None, G22),
    "status_change-acceptance_15.edxml": ("status", DOC_7816, "status", "15", None, "000.00.00.H41"),
    "status_change-rejection_16.edxml": ("status", DOC_7816, "status", "16", None, "000.00.00.H41"),
}


@pytest.fixture
def samples(shared_dir: Path) -> Path:
    return shared_dir / "testdata" / "edxml"


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    yield MemoryStore()


@pytest.fixture
def intake(store: MemoryStore) -> Intake:
    return Intake(store, Router(RoutesConfig(routes=[])), {})


def envelope_of(payload: bytes, kind: MessageKind, sender: str = G22, **fields: object) -> Envelope:
    return new_envelope(
        kind=kind,
        sender=sender,
        sender_message_id=f"qlvb-{abs(hash(payload))}",
        payload=payload,
        content_type="application/xml",
        **fields,  # type: ignore[arg-type]
    )


def test_the_table_names_every_well_formed_sample(samples: Path) -> None:
    """A sample added to the shared data must be added here too (edoc.edxml is the malformed one)."""
    assert {p.name for p in samples.glob("*.edxml")} - {"edoc.edxml"} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_sample_fills_its_envelope_with_its_facts(
    name: str, samples: Path, intake: Intake, store: MemoryStore
) -> None:
    kind, document_id, message_type, status_code, business, sender = EXPECTED[name]
    payload = (samples / name).read_bytes()

    result = intake.submit(envelope_of(payload, MessageKind(kind)))

    env = store.get_message(result.message_id).envelope
    assert (env.kind.value, env.document_id, env.document_type) == (kind, document_id, "edxml")
    assert env.correlation_id == derive_correlation_id(None, document_id) == result.correlation_id
    headers = env.headers
    assert headers["edxml.message_type"] == message_type
    assert headers.get("edxml.status_code") == status_code
    assert headers.get("edxml.business_doc_type") == business
    assert headers["edxml.from"] == sender
    assert headers["edxml.quirks"]  # every vendor sample departs from the standard somehow
    assert env.payload == payload  # the payload is stored as received
    if message_type == "edoc":
        assert headers["edxml.document_id"] and headers["edxml.code"].endswith("/VPCP-TTĐT")
        assert len(headers["edxml.to"].split(",")) >= 1
    else:
        assert "edxml.document_id" not in headers
        # The recipient is ResponseFor/OrganId (the issuer; the recall sample names its recipient).
        assert env.recipient == ("000.00.00.H41" if status_code == "13" else G22)


def test_quirks_and_recipients_are_comma_lists(samples: Path, intake: Intake, store: MemoryStore) -> None:
    payload = (samples / "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml").read_bytes()
    env = store.get_message(intake.submit(envelope_of(payload, MessageKind.DOCUMENT)).message_id).envelope
    assert env.headers["edxml.to"] == "000.00.00.H41,000.00.00.H14,000.00.00.G17"
    assert set(env.headers["edxml.quirks"].split(",")) >= {
        "signature-unprefixed",
        "legacy-signature-algorithm",
    }
    assert env.recipient is None  # three recipients: none is "the" recipient


def test_a_replacement_names_every_document_it_replaces(
    samples: Path, intake: Intake, store: MemoryStore
) -> None:
    payload = (samples / "edoc_replacement.edxml").read_bytes()
    env = store.get_message(intake.submit(envelope_of(payload, MessageKind.DOCUMENT)).message_id).envelope
    assert json.loads(env.headers["edxml.changes"]) == [
        {
            "document_id": "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT",
            "agencies": ["000.00.00.H41", "000.00.00.H14"],
        }
    ]


def test_a_repeat_is_recognised_because_the_facts_are_the_same(samples: Path, intake: Intake) -> None:
    payload = (samples / "status_processing_05.edxml").read_bytes()
    first = intake.submit(envelope_of(payload, MessageKind.STATUS, sender="000.00.00.H41"))
    again = intake.submit(envelope_of(payload, MessageKind.STATUS, sender="000.00.00.H41"))
    assert first.created and not again.created and again.message_id == first.message_id


def test_a_malformed_sample_is_refused_with_its_line(
    samples: Path, intake: Intake, store: MemoryStore
) -> None:
    payload = (samples / "edoc.edxml").read_bytes()
    with pytest.raises(InvalidMessageError) as raised:
        intake.submit(envelope_of(payload, MessageKind.DOCUMENT))
    assert raised.value.http_status == 422 and "line 74" in raised.value.message
    assert store.counts().messages == 0


@pytest.mark.parametrize(
    ("field", "given"),
    [
        ("kind", {"kind": MessageKind.DOSSIER}),
        ("document_id", {"document_id": "000.00.00.G22,2015/09/30,1/VPCP"}),
        ("document_type", {"document_type": "Công văn"}),
        ("headers.edxml.status_code", {"headers": {"edxml.status_code": "06"}}),
    ],
)
def test_what_the_sender_says_must_agree_with_the_payload(
    field: str, given: dict[str, object], samples: Path, intake: Intake, store: MemoryStore
) -> None:
    payload = (samples / "status_finish_06.edxml").read_bytes()
    envelope = envelope_of(payload, MessageKind.STATUS, sender="000.00.00.H41")
    envelope = replace(envelope, **given)  # type: ignore[arg-type]
    if field == "headers.edxml.status_code":
        # 06 is what the payload says: agreeing is fine; a different code is refused.
        assert intake.submit(envelope).created
        envelope = replace(envelope, sender_message_id="other", headers={"edxml.status_code": "05"})
    with pytest.raises(DocumentFactsError) as raised:
        intake.submit(envelope)
    assert raised.value.http_status == 422
    assert raised.value.detail["field"] == field
    assert field in raised.value.message


def test_what_the_sender_says_and_agrees_is_kept(samples: Path, intake: Intake, store: MemoryStore) -> None:
    payload = (samples / "status_finish_06.edxml").read_bytes()
    envelope = envelope_of(
        payload, MessageKind.STATUS, sender="000.00.00.H41", document_id=DOC_7816, document_type="edxml"
    )
    env = store.get_message(intake.submit(envelope).message_id).envelope
    assert (env.document_id, env.headers["edxml.status_code"]) == (DOC_7816, "06")


def test_a_payload_that_is_not_edxml_cannot_carry_edxml_headers(intake: Intake, store: MemoryStore) -> None:
    envelope = envelope_of(
        b"<HoSo><MaHoSo>1</MaHoSo></HoSo>", MessageKind.DOSSIER, headers={"edxml.document_id": "X"}
    )
    with pytest.raises(DocumentFactsError, match="not edXML"):
        intake.submit(envelope)
    assert store.counts().messages == 0


def test_a_chosen_correlation_id_is_kept(samples: Path, store: MemoryStore) -> None:
    intake = Intake(store, Router(RoutesConfig(routes=[])), {})
    payload = (samples / "status_finish_06.edxml").read_bytes()
    envelope = envelope_of(payload, MessageKind.STATUS, sender="000.00.00.H41")
    result = intake.submit(envelope, keep_correlation=True)
    assert result.correlation_id == envelope.correlation_id != derive_correlation_id(None, DOC_7816)


def test_a_status_package_for_an_unknown_document_is_kept_and_logged(
    intake: Intake, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = "000.00.00.G22,2026/11/30,1/VPCP"
    about = ResponseFor(G22, "1/VPCP", "2026/11/30", unknown)
    status = build_status(about=about, sender=Organ("000.00.00.G13"), code="03")
    payload = etree.tostring(status, xml_declaration=True, encoding="UTF-8")

    with caplog.at_level(logging.WARNING, logger="lienthong.intake"):
        result = intake.submit(envelope_of(payload, MessageKind.STATUS, sender="000.00.00.G13"))

    assert result.created and store.get_message(result.message_id).envelope.document_id == unknown
    (warning,) = [r for r in caplog.records if r.name == "lienthong.intake" and r.levelno == logging.WARNING]
    assert "does not know" in warning.getMessage() and unknown in warning.getMessage()

    # Once its document is there, a further package is not reported.
    document = build_document(
        sender=Organ(G22),
        recipients=[Organ("000.00.00.G13")],
        code_number="1",
        code_notation="VPCP",
        subject="Về việc thử nghiệm",
        promulgation_date=date(2026, 11, 30),
    )
    intake.submit(envelope_of(etree.tostring(document), MessageKind.DOCUMENT))
    caplog.clear()
    again = build_status(about=about, sender=Organ("000.00.00.G13"), code="05")
    with caplog.at_level(logging.WARNING, logger="lienthong.intake"):
        intake.submit(envelope_of(etree.tostring(again), MessageKind.STATUS, sender="000.00.00.G13"))
    assert [r for r in caplog.records if r.name == "lienthong.intake"] == []


def test_a_replacement_built_by_the_hub_names_each_document_once_with_its_agencies(
    intake: Intake, store: MemoryStore
) -> None:
    first, second = "000.00.00.H49,2026/11/01,10/UBND", "000.00.00.H49,2026/11/02,11/UBND"
    business = Business(
        doc_type="3",
        replacements=(
            Replacement(first, ("000.00.00.G22",)),
            Replacement(second, ("000.00.00.G13",)),
            Replacement(first, ("000.00.00.G13",)),
        ),
    )
    document = build_document(
        sender=Organ("000.00.00.H49"),
        recipients=[Organ("000.00.00.G22"), Organ("000.00.00.G13")],
        code_number="12",
        code_notation="UBND",
        subject="Thay thế",
        promulgation_date=date(2026, 11, 3),
        business=business,
    )
    envelope = envelope_of(etree.tostring(document), MessageKind.DOCUMENT, sender="000.00.00.H49")
    env = store.get_message(intake.submit(envelope).message_id).envelope
    assert env.document_id == first
    assert json.loads(env.headers["edxml.changes"]) == [
        {"document_id": first, "agencies": ["000.00.00.G22", "000.00.00.G13"]},
        {"document_id": second, "agencies": ["000.00.00.G13"]},
    ]
    assert env.headers["edxml.document_id"] == "000.00.00.H49,2026/11/03,12/UBND"
    assert [t.envelope.message_id for t in store.document_trail(second)] == [env.message_id]
