"""The state fold: each agency's state of a document, from the messages about it, in time order.

Trail entries are built as the store gives them (headers as intake writes them, deliveries as the
workers leave them), so each case is the history a user would see beside the state it yields."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

from lienthong.documents import AgencyState, Related, document_report, fold_states
from lienthong.envelope import EnvelopeHeader, MessageKind
from lienthong.store import DeliveryState, RouteDecision, RouteStatus, TrailDelivery, TrailEntry

PROVINCE, MINISTRY, OTHER = "000.00.00.H49", "000.00.00.G22", "000.00.00.G13"
DOC = "000.00.00.H49,2026/11/30,120/UBND-VX"
REVOCATION = "000.00.00.H49,2026/12/01,121/UBND-VX"
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
_ids = itertools.count(1)
ROUTED = RouteDecision(RouteStatus.ROUTED, "documents-out", ("vpcp",), "edXML from the province")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def delivery(state: DeliveryState, minutes: int) -> TrailDelivery:
    done = at(minutes) if state is DeliveryState.DELIVERED else None
    return TrailDelivery(next(_ids), "vpcp", None, state, 1, None, done, 200 if done else None, at(minutes))


def entry(
    kind: MessageKind,
    minutes: int,
    document_id: str,
    headers: dict[str, str],
    *,
    sender: str,
    deliveries: tuple[TrailDelivery, ...] = (),
    route: RouteDecision = ROUTED,
) -> TrailEntry:
    header = EnvelopeHeader(
        message_id=uuid.uuid4(),
        kind=kind,
        sender=sender,
        recipient=None,
        sender_message_id=f"m-{next(_ids)}",
        correlation_id=uuid.uuid4(),
        content_type="application/xml",
        document_id=document_id,
        document_type="edxml",
        headers=headers,
        received_at=at(minutes),
    )
    return TrailEntry(header, route, deliveries)


def document(minutes: int, *, to: str = f"{MINISTRY},{OTHER}", delivered: int | None = None) -> TrailEntry:
    deliveries = () if delivered is None else (delivery(DeliveryState.DELIVERED, delivered),)
    headers = {
        "edxml.message_type": "edoc",
        "edxml.document_id": DOC,
        "edxml.business_doc_type": "0",
        "edxml.from": PROVINCE,
        "edxml.to": to,
        "edxml.subject": "Về việc tiêm chủng mở rộng",
        "edxml.code": "120/UBND-VX",
        "edxml.quirks": "",
    }
    return entry(MessageKind.DOCUMENT, minutes, DOC, headers, sender=PROVINCE, deliveries=deliveries)


def status(minutes: int, code: str, agency: str = MINISTRY, about: str = DOC) -> TrailEntry:
    headers = {"edxml.message_type": "status", "edxml.status_code": code, "edxml.from": agency}
    return entry(MessageKind.STATUS, minutes, about, headers, sender=agency)


def change(minutes: int, doc_type: str, *, to: str = MINISTRY, agencies: tuple[str, ...] = ()) -> TrailEntry:
    headers = {
        "edxml.message_type": "edoc",
        "edxml.document_id": REVOCATION,
        "edxml.business_doc_type": doc_type,
        "edxml.from": PROVINCE,
        "edxml.to": to,
        "edxml.changes": json.dumps([{"document_id": DOC, "agencies": list(agencies)}]),
    }
    return entry(MessageKind.DOCUMENT, minutes, DOC, headers, sender=PROVINCE)


def states(*entries: TrailEntry) -> dict[str, tuple[str, str | None]]:
    return {s.agency: (s.state, s.code) for s in fold_states(DOC, entries)}


def test_a_document_not_yet_delivered_is_queued_then_sent() -> None:
    assert states(document(0)) == {MINISTRY: ("queued", None), OTHER: ("queued", None)}
    (_other, ministry) = fold_states(DOC, [document(0, delivered=2)])  # by agency code
    assert ministry == AgencyState(MINISTRY, "sent", at(2), None)


def test_a_dead_delivery_is_failed_and_no_route_is_unroutable() -> None:
    dead = document(0)
    dead = TrailEntry(dead.envelope, dead.route, (delivery(DeliveryState.DEAD, 5),))
    assert states(dead)[MINISTRY] == ("failed", None)
    unroutable = RouteDecision(RouteStatus.UNROUTABLE, None, (), "no rule")
    assert states(TrailEntry(dead.envelope, unroutable, ()))[MINISTRY] == ("unroutable", None)


def test_answers_01_03_05_06_move_the_agency_that_sent_them_only() -> None:
    folded = fold_states(
        DOC, [document(0, delivered=1), status(2, "01"), status(3, "03"), status(4, "05"), status(9, "06")]
    )
    # By agency code; the ministry at the time of its last answer, the other where delivery left it.
    assert folded == (AgencyState(OTHER, "sent", at(1), None), AgencyState(MINISTRY, "done", at(9), "06"))


def test_progress_never_goes_back_but_a_recall_does() -> None:
    assert states(document(0), status(1, "05"), status(2, "01"))[MINISTRY] == ("processing", "05")
    assert states(document(0), status(1, "05"), status(2, "13"))[MINISTRY] == ("recalled", "13")
    assert states(document(0), status(1, "02"))[MINISTRY] == ("rejected", "02")


def test_a_recall_from_the_issuer_recalls_it_from_every_recipient() -> None:
    folded = states(document(0, delivered=1), status(2, "03"), status(3, "13", agency=PROVINCE))
    assert folded == {MINISTRY: ("recalled", "13"), OTHER: ("recalled", "13")}


def test_a_revocation_is_pending_until_15_then_revoked() -> None:
    history = [document(0, delivered=1), status(2, "05"), status(2, "05", agency=OTHER), change(5, "1")]
    assert states(*history) == {MINISTRY: ("revocation-pending", "05"), OTHER: ("processing", "05")}
    folded = fold_states(DOC, [*history, status(7, "15")])
    assert {s.agency: s for s in folded}[MINISTRY] == AgencyState(MINISTRY, "revoked", at(7), "15")
    # Revoked is final: a late packet stays in the history.
    assert states(*history, status(7, "15"), status(8, "06"))[MINISTRY] == ("revoked", "15")


def test_a_replacement_refused_with_16_keeps_the_state_before_it() -> None:
    history = [document(0, delivered=1), status(2, "03"), change(5, "3", agencies=(MINISTRY, OTHER))]
    assert states(*history) == {MINISTRY: ("replacement-pending", "03"), OTHER: ("replacement-pending", None)}
    # Processing goes on while the change waits; refused, the document is where processing left it.
    refused = fold_states(DOC, [*history, status(6, "05"), status(8, "16")])
    assert {s.agency: s for s in refused}[MINISTRY] == AgencyState(MINISTRY, "processing", at(6), "16")
    assert states(*history, status(8, "15", agency=OTHER))[OTHER] == ("replaced", "15")


def test_an_answer_naming_the_change_document_itself_settles_it() -> None:
    """The vendor SDK's 15/16 and the axis's ministries name the revocation (its own DocumentId), which
    they received, not the revoked document: its verdict settles the change; its 01 moves nothing."""
    history = [document(0, delivered=1), status(2, "06"), status(2, "06", agency=OTHER), change(5, "1")]
    answers = [status(6, "01", about=REVOCATION), status(7, "15", about=REVOCATION)]
    assert states(*history, *answers) == {MINISTRY: ("revoked", "15"), OTHER: ("done", "06")}
    refused = [status(6, "01", about=REVOCATION), status(7, "16", about=REVOCATION)]
    assert states(*history, *refused) == {MINISTRY: ("done", "16"), OTHER: ("done", "06")}


def test_an_update_agreed_is_updated() -> None:
    assert states(document(0), change(3, "2"), status(4, "15"))[MINISTRY] == ("updated", "15")


def test_a_15_with_nothing_pending_is_on_record_and_moves_nothing() -> None:
    assert states(document(0, delivered=1), status(2, "15"))[MINISTRY] == ("sent", "15")


def test_a_packet_before_its_document_counts_once_the_document_is_there() -> None:
    early = [status(0, "01")]
    assert states(*early) == {MINISTRY: ("arrived", "01")}
    assert states(*early, document(3)) == {MINISTRY: ("arrived", "01"), OTHER: ("queued", None)}


def test_an_unknown_document_has_no_summary_but_its_packets_have_states() -> None:
    report = document_report(DOC, [status(0, "03")])
    assert report.document is None
    assert report.states == (AgencyState(MINISTRY, "accepted", at(0), "03"),)
    assert report.related == ()


def test_the_report_holds_the_document_its_history_and_related_documents_both_ways() -> None:
    history = [document(0, delivered=1), status(2, "01"), change(5, "1")]
    report = document_report(DOC, history)
    assert report.document is not None
    assert (report.document.sender, report.document.recipients) == (PROVINCE, (MINISTRY, OTHER))
    assert (report.document.subject, report.document.code) == ("Về việc tiêm chủng mở rộng", "120/UBND-VX")
    assert [e.envelope.message_id for e in report.history] == [e.envelope.message_id for e in history]
    revocation = history[2].envelope.message_id
    assert report.related == (Related(REVOCATION, "revoked-by", revocation),)
    # Read as the revocation itself: what it revokes.
    assert document_report(REVOCATION, [history[2]]).related == (Related(DOC, "revokes", revocation),)
