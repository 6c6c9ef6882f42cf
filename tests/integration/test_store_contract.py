"""The store contract suite (STYLE.md point 7): one set of tests, every backend.

Each test runs against MemoryStore, SqlStore on a SQLite file and SqlStore on PostgreSQL, so no
backend can drift from the others. The tests speak only the Store protocol; the few that need the
database itself (the immutability trigger) take the ``sql_store`` fixture instead.
"""

from __future__ import annotations

import itertools
import json
import threading
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from lienthong.envelope import Envelope, MessageKind, derive_correlation_id, new_envelope, utcnow
from lienthong.errors import ClaimLostError, IdempotencyConflictError, NotFoundError
from lienthong.store import (
    AcceptResult,
    AttemptOutcome,
    Claim,
    Dead,
    Delivered,
    DeliveryRecord,
    DeliveryState,
    Exchange,
    MessageFilter,
    Outcome,
    Parties,
    PreparedDelivery,
    RetryAt,
    RouteDecision,
    RouteStatus,
    Store,
    TrailDelivery,
)
from lienthong.store.memory import MemoryStore
from lienthong.store.migrate import upgrade
from lienthong.store.sql import SqlStore, create_store_engine

LEASE = timedelta(minutes=5)
EXPIRED = timedelta(seconds=-1)  # a lease that has already run out when it is granted
ICT = timezone(timedelta(hours=7), "ICT")  # Vietnam's clock, to prove timestamps come back in UTC
XML = "application/xml; charset=utf-8"

SQL_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
BACKENDS = [pytest.param("memory", id="memory"), *SQL_BACKENDS]


def _sql_store(request: pytest.FixtureRequest, backend: str) -> SqlStore:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    return SqlStore(engine)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    backend: Store = MemoryStore() if request.param == "memory" else _sql_store(request, request.param)
    yield backend
    backend.close()


@pytest.fixture(params=SQL_BACKENDS)
def sql_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    backend = _sql_store(request, request.param)
    yield backend
    backend.close()


# ---------------------------------------------------------------------- builders

_numbers = itertools.count(1)


def make_envelope(
    *,
    sender: str = "motcua-dongnai",
    sender_message_id: str | None = None,
    payload: bytes = b"<HoSo><MaHoSo>000.00.01.H19-260301-0001</MaHoSo></HoSo>",
    kind: MessageKind = MessageKind.DOSSIER,
    procedure_code: str = "1.004227",
    received_at: datetime | None = None,
    recipient: str | None = "vpdk-dongnai",
    correlation_id: uuid.UUID | None = None,
) -> Envelope:
    n = next(_numbers)
    envelope = new_envelope(
        kind=kind,
        sender=sender,
        sender_message_id=sender_message_id or f"msg-{n}-{uuid.uuid4().hex[:8]}",
        payload=payload,
        content_type=XML,
        recipient=recipient,
        procedure_code=procedure_code,
        dossier_code=f"000.00.01.H19-260301-{n:04d}",
        document_type="Đăng ký biến động đất đai",
        headers={"x-nguoi-nop": "Nguyễn Văn An"},
        created_at=datetime(2026, 3, 1, 8, 30, tzinfo=ICT),
        correlation_id=correlation_id,
    )
    return envelope if received_at is None else replace(envelope, received_at=received_at)


def routed(*targets: str, rule: str = "land-registration") -> RouteDecision:
    return RouteDecision(RouteStatus.ROUTED, rule, targets, f"procedure matches rule {rule}")


UNROUTABLE = RouteDecision(RouteStatus.UNROUTABLE, None, (), "no rule matches procedure 9.999999")


def prepared(*targets: str) -> list[PreparedDelivery]:
    return [PreparedDelivery(t, f"<GoiTin dich='{t}'/>".encode(), XML) for t in targets]


def accept_to(store: Store, *targets: str, **kwargs: Any) -> uuid.UUID:
    envelope = make_envelope(**kwargs)
    return store.accept(envelope, routed(*targets), prepared(*targets)).message_id


def delivery(store: Store, message_id: uuid.UUID, target: str | None = None) -> DeliveryRecord:
    records = [d for d in store.get_message(message_id).deliveries if target in (None, d.target)]
    assert len(records) == 1
    return records[0]


def delivery_by_id(store: Store, message_id: uuid.UUID, delivery_id: int) -> DeliveryRecord:
    return next(d for d in store.get_message(message_id).deliveries if d.id == delivery_id)


def claim_one(store: Store, worker: str = "w1", lease: timedelta = LEASE, **kwargs: Any) -> Claim:
    claims = store.claim_due(worker, 1, lease, **kwargs)
    assert len(claims) == 1
    return claims[0]


def ids(claims: Sequence[Claim]) -> list[int]:
    return [c.delivery_id for c in claims]


# ---------------------------------------------------------------------- accept


def test_accept_stores_message_route_and_deliveries(store: Store) -> None:
    envelope = make_envelope()
    route = routed("vpdk", "thue")
    before = utcnow()
    result = store.accept(envelope, route, prepared("vpdk", "thue"))

    assert result.created is True
    assert result.message_id == envelope.message_id
    assert result.route == route
    record = store.get_message(envelope.message_id)
    assert record.envelope == envelope
    assert record.route == route
    assert record.route_history == (route,)
    assert [(d.target, d.state, d.attempts) for d in record.deliveries] == [
        ("vpdk", DeliveryState.QUEUED, 0),
        ("thue", DeliveryState.QUEUED, 0),
    ]
    for d, p in zip(record.deliveries, prepared("vpdk", "thue"), strict=True):
        assert d.message_id == envelope.message_id
        assert (d.payload, d.content_type) == (p.payload, p.content_type)
        assert d.next_attempt_at is not None and before <= d.next_attempt_at <= utcnow()
        assert d.last_error is None and d.response is None and d.delivered_at is None
        assert d.history == ()
    counts = store.counts()
    assert counts.messages == 1 and counts.unroutable == 0
    assert counts.by_target == {"vpdk": {DeliveryState.QUEUED: 1}, "thue": {DeliveryState.QUEUED: 1}}


def test_a_failed_accept_stores_nothing(store: Store) -> None:
    """Message, idempotency key, route and deliveries are one transaction: all or nothing."""
    envelope = make_envelope()
    # Two deliveries of one message to one target break the store's uniqueness rule at the last insert.
    with pytest.raises((IntegrityError, ValueError)):
        store.accept(envelope, routed("vpdk"), prepared("vpdk", "vpdk"))

    with pytest.raises(NotFoundError):
        store.get_message(envelope.message_id)
    assert store.counts().messages == 0
    assert store.counts().by_target == {}
    # The idempotency key went with it: the same sender id is free for a correct submission.
    assert store.accept(envelope, routed("vpdk"), prepared("vpdk")).created is True


def test_repeated_accept_answers_like_the_first(store: Store) -> None:
    first = make_envelope()
    route = routed("vpdk")
    store.accept(first, route, prepared("vpdk"))
    # The sender retries: same content, but the hub gave the retry a new message id and receive time.
    again = replace(first, message_id=uuid.uuid4(), received_at=utcnow())

    result = store.accept(again, routed("other", rule="changed"), prepared("other", "more"))

    assert result.created is False
    assert result.message_id == first.message_id
    assert result.route == route
    # The answer to a repeat is the first submission's, without reading the message again.
    stored = store.get_message(first.message_id).envelope
    assert (result.correlation_id, result.received_at) == (stored.correlation_id, stored.received_at)
    assert result.received_at == first.received_at != again.received_at
    with pytest.raises(NotFoundError):
        store.get_message(again.message_id)
    assert [d.target for d in store.get_message(first.message_id).deliveries] == ["vpdk"]
    counts = store.counts()
    assert counts.messages == 1
    assert counts.by_target == {"vpdk": {DeliveryState.QUEUED: 1}}


def test_a_new_accept_answers_with_what_was_stored(store: Store) -> None:
    envelope = make_envelope(received_at=datetime(2026, 3, 2, 8, 0, tzinfo=ICT))
    result = store.accept(envelope, routed("vpdk"), prepared("vpdk"))
    stored = store.get_message(envelope.message_id).envelope
    assert result.created is True
    assert (result.correlation_id, result.received_at) == (stored.correlation_id, stored.received_at)


def test_same_sender_id_with_other_content_is_a_conflict(store: Store) -> None:
    first = make_envelope(payload=b"<HoSo>1</HoSo>")
    store.accept(first, routed("vpdk"), prepared("vpdk"))
    changed = make_envelope(sender_message_id=first.sender_message_id, payload=b"<HoSo>2</HoSo>")

    with pytest.raises(IdempotencyConflictError) as caught:
        store.accept(changed, routed("vpdk"), prepared("vpdk"))

    assert caught.value.detail["message_id"] == str(first.message_id)
    assert caught.value.detail["sender_message_id"] == first.sender_message_id
    with pytest.raises(NotFoundError):
        store.get_message(changed.message_id)
    assert store.counts().messages == 1
    assert store.get_message(first.message_id).envelope.payload == b"<HoSo>1</HoSo>"
    # Sender ids are per sender: another sender may use the same one.
    other = make_envelope(sender="motcua-binhduong", sender_message_id=first.sender_message_id)
    assert store.accept(other, routed("vpdk"), prepared("vpdk")).created is True


def test_concurrent_repeats_create_one_message(store: Store) -> None:
    """Senders retry on timeouts, so the same submission can arrive twice at once."""
    original = make_envelope()
    copies = [replace(original, message_id=uuid.uuid4()) for _ in range(6)] + [original] * 2
    barrier = threading.Barrier(len(copies))
    results: list[AcceptResult] = []
    errors: list[BaseException] = []

    def submit(envelope: Envelope) -> None:
        barrier.wait()
        try:
            results.append(store.accept(envelope, routed("vpdk"), prepared("vpdk")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(e,)) for e in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sum(r.created for r in results) == 1
    assert len({r.message_id for r in results}) == 1
    assert store.counts().messages == 1
    assert store.counts().by_target == {"vpdk": {DeliveryState.QUEUED: 1}}


# ---------------------------------------------------------------------- unroutable and reroute


def test_unroutable_message_waits_for_a_reroute(store: Store) -> None:
    lost = make_envelope(procedure_code="9.999999")
    store.accept(lost, UNROUTABLE, [])
    fine = accept_to(store, "vpdk")

    record = store.get_message(lost.message_id)
    assert record.route == UNROUTABLE and record.deliveries == ()
    assert [r.envelope.message_id for r in store.list_messages(MessageFilter(unroutable=True))] == [
        lost.message_id
    ]
    assert store.counts().unroutable == 1
    assert ids(store.claim_due("w1", 10, LEASE, exclude_targets=["vpdk"])) == []

    new_route = routed("thue", rule="fixed-config")
    store.reroute(lost.message_id, new_route, prepared("thue"))

    record = store.get_message(lost.message_id)
    assert record.route == new_route
    assert record.route_history == (UNROUTABLE, new_route)
    assert [(d.target, d.state) for d in record.deliveries] == [("thue", DeliveryState.QUEUED)]
    assert store.list_messages(MessageFilter(unroutable=True)) == []
    counts = store.counts()
    assert counts.unroutable == 0 and counts.messages == 2
    assert claim_one(store, only_targets=["thue"]).envelope.message_id == lost.message_id
    # A repeat of the submission now answers with the route in force.
    assert store.accept(replace(lost, message_id=uuid.uuid4()), UNROUTABLE, []).route == new_route

    with pytest.raises(NotFoundError):  # routed now: nothing to re-route
        store.reroute(lost.message_id, new_route, prepared("other"))
    with pytest.raises(NotFoundError):
        store.reroute(fine, routed("x"), prepared("x"))
    with pytest.raises(NotFoundError):
        store.reroute(uuid.uuid4(), routed("x"), prepared("x"))
    assert [d.target for d in store.get_message(fine).deliveries] == ["vpdk"]


def test_reroute_to_unroutable_again_keeps_it_listed(store: Store) -> None:
    lost = make_envelope()
    store.accept(lost, UNROUTABLE, [])
    still = RouteDecision(RouteStatus.UNROUTABLE, None, (), "still no rule")
    store.reroute(lost.message_id, still, [])
    assert store.get_message(lost.message_id).route_history == (UNROUTABLE, still)
    assert store.counts().unroutable == 1
    assert len(store.list_messages(MessageFilter(unroutable=True))) == 1


# ---------------------------------------------------------------------- listing


def test_list_messages_filters(store: Store) -> None:
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    a = accept_to(store, "vpdk", received_at=t0)
    b = accept_to(store, "thue", "vpdk", kind=MessageKind.DOCUMENT, received_at=t0 + timedelta(minutes=1))
    c = accept_to(
        store,
        "thue",
        sender="motcua-binhduong",
        procedure_code="2.000001",
        received_at=t0 + timedelta(minutes=2),
    )
    lost = make_envelope(received_at=t0 + timedelta(minutes=3))
    store.accept(lost, UNROUTABLE, [])
    claim = claim_one(store, only_targets=["thue"])  # b's thue delivery: the oldest due
    assert claim.envelope.message_id == b
    store.record_outcome(claim, Dead("rejected"))

    def listed(**kwargs: Any) -> list[uuid.UUID]:
        return [r.envelope.message_id for r in store.list_messages(MessageFilter(**kwargs))]

    assert listed() == [lost.message_id, c, b, a]  # newest first
    assert listed(limit=2) == [lost.message_id, c]
    assert listed(message_ids=[a, c]) == [c, a]
    assert listed(kind=MessageKind.DOCUMENT) == [b]
    assert listed(sender="motcua-binhduong") == [c]
    assert listed(procedure_code="2.000001") == [c]
    assert listed(since=t0 + timedelta(minutes=1)) == [lost.message_id, c, b]
    assert listed(unroutable=True) == [lost.message_id]
    assert listed(targets=["thue"]) == [c, b]
    assert listed(targets=["vpdk"]) == [b, a]
    assert listed(states=[DeliveryState.DEAD]) == [b]
    assert listed(states=[DeliveryState.QUEUED]) == [c, b, a]
    # Target and state must hold for the same delivery: b's vpdk delivery is queued, not dead.
    assert listed(targets=["vpdk"], states=[DeliveryState.DEAD]) == []
    assert listed(targets=["thue"], states=[DeliveryState.DEAD]) == [b]
    assert listed(targets=["nowhere"]) == []

    record = store.list_messages(MessageFilter(message_ids=[b]))[0]
    assert record == store.get_message(b)
    assert {d.target: d.state for d in record.deliveries} == {
        "thue": DeliveryState.DEAD,
        "vpdk": DeliveryState.QUEUED,
    }


def test_list_messages_and_replay_by_correlation_id(store: Store) -> None:
    """The messages of one exchange (a dossier and its status updates), and only those."""
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    exchange = uuid.uuid4()
    first = accept_to(store, "vpdk", correlation_id=exchange, received_at=t0)
    other = accept_to(store, "vpdk", received_at=t0 + timedelta(minutes=1))
    answer = accept_to(
        store, "thue", correlation_id=exchange, sender="vpdk-dongnai", received_at=t0 + timedelta(minutes=2)
    )

    def listed(**kwargs: Any) -> list[uuid.UUID]:
        return [r.envelope.message_id for r in store.list_messages(MessageFilter(**kwargs))]

    assert listed(correlation_id=exchange) == [answer, first]
    assert listed(correlation_id=store.get_message(other).envelope.correlation_id) == [other]
    assert listed(correlation_id=uuid.uuid4()) == []
    assert listed(correlation_id=exchange, targets=["thue"]) == [answer]
    assert listed(correlation_id=exchange, parties=Parties(["motcua-dongnai"])) == [first]  # not the answer
    assert listed(correlation_id=exchange, parties=Parties(["vpdk-dongnai"])) == [answer, first]
    assert listed(correlation_id=exchange, parties=Parties(["motcua-binhduong"])) == []

    for claim in store.claim_due("w1", 3, LEASE):
        store.record_outcome(claim, Dead("rejected"))
    replayed = store.replay_dead(MessageFilter(correlation_id=exchange))
    assert sorted(replayed) == sorted([delivery(store, first).id, delivery(store, answer).id])


def test_list_messages_of_parties_holds_only_what_those_agencies_sent_received_or_were_routed(
    store: Store,
) -> None:
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    # The province sends a dossier to the land registry (adapter "vpdk") and the tax office ("thue").
    sent = accept_to(store, "vpdk", "thue", sender="H49", recipient=None, received_at=t0)
    # The land registry answers the province: no delivery, only a recipient.
    answer = make_envelope(sender="G13", recipient="H49", received_at=t0 + timedelta(minutes=1))
    store.accept(answer, routed(), [])
    # Another province's message to a third agency, and one nobody could route, addressed to G13.
    other = accept_to(store, "bhxh", sender="H20", recipient="BHXH", received_at=t0 + timedelta(minutes=2))
    lost = make_envelope(sender="H20", recipient="G13", received_at=t0 + timedelta(minutes=3))
    store.accept(lost, UNROUTABLE, [])

    def listed(parties: Parties, **kwargs: Any) -> list[uuid.UUID]:
        flt = MessageFilter(parties=parties, **kwargs)
        return [r.envelope.message_id for r in store.list_messages(flt)]

    assert listed(Parties(["H49"])) == [answer.message_id, sent]  # sender or recipient
    assert listed(Parties(["G13"], targets=["vpdk"])) == [lost.message_id, answer.message_id, sent]
    assert listed(Parties(["G13"])) == [lost.message_id, answer.message_id]  # its adapters not given
    assert listed(Parties(["TAX"], targets=["thue"])) == [sent]  # routed to it, nothing else
    assert listed(Parties(["H20"])) == [lost.message_id, other]
    assert listed(Parties(["BHXH", "H49"])) == [other, answer.message_id, sent]
    assert listed(Parties(["nobody"], targets=["nowhere"])) == []
    assert listed(Parties([])) == []  # no agency: nothing, not everything
    # The boundary narrows the other filters, it never widens them.
    assert listed(Parties(["H49"]), message_ids=[other, sent]) == [sent]
    assert listed(Parties(["H20"]), unroutable=True) == [lost.message_id]
    assert listed(Parties(["G13"], targets=["vpdk"]), targets=["thue"]) == [sent]
    assert listed(Parties(["H49"]), limit=1) == [answer.message_id]


def test_replay_dead_of_parties_requeues_only_their_messages(store: Store) -> None:
    ours = accept_to(store, "vpdk", "thue", sender="H49")
    theirs = accept_to(store, "thue", sender="H20")
    for claim in store.claim_due("w1", 3, LEASE):
        store.record_outcome(claim, Dead("rejected"))

    # Party through the message's delivery to "vpdk": its dead "thue" delivery is theirs to replay.
    assert store.replay_dead(MessageFilter(parties=Parties(["G13"], targets=["vpdk"]), targets=["thue"])) == [
        delivery(store, ours, "thue").id
    ]
    assert store.replay_dead(MessageFilter(parties=Parties(["nobody"]))) == []
    assert delivery(store, theirs).state is DeliveryState.DEAD


def test_get_message_of_an_unknown_id_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_message(uuid.uuid4())


# ---------------------------------------------------------------------- a dossier's trail

TRAIL_CODE = "000.00.00.H49-261121-0001"


def about(code: str | None, **kwargs: Any) -> Envelope:
    """A message about dossier ``code``, joined to it as intake joins one: the correlation id derived
    from the code. ``code`` None: a message that names only that correlation id, not the dossier."""
    envelope = make_envelope(**kwargs)
    return replace(
        envelope, dossier_code=code, correlation_id=derive_correlation_id(code or TRAIL_CODE, None)
    )


def test_a_dossiers_trail_is_every_message_about_it_oldest_first(store: Store) -> None:
    t0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    # The one-stop system sends the dossier; the land registry receives it at the second attempt.
    dossier = about(TRAIL_CODE, sender="H49", recipient=None, received_at=t0)
    store.accept(dossier, routed("land"), prepared("land"))
    store.record_outcome(claim_one(store), RetryAt(utcnow(), "connection refused", response_status=503))
    store.record_outcome(claim_one(store), Delivered(b"<Ack/>", response_status=200))
    # Tax answers naming only the correlation id; the one-stop system refuses the forward.
    tax = about(
        None, sender="G12", recipient="G13", kind=MessageKind.ANSWER, received_at=t0 + timedelta(hours=1)
    )
    to_motcua = PreparedDelivery("motcua", b"<CapNhat/>", XML, operation="CapNhatTrangThai")
    store.accept(tax, routed("motcua", rule="tax-answer"), [to_motcua])
    store.record_outcome(claim_one(store), Dead("rejected: unknown dossier", response_status=400))
    # Two status updates from the land registry in the same instant, nobody routes them; one is re-routed.
    at = t0 + timedelta(hours=2)
    first, second = sorted(
        (
            about(TRAIL_CODE, sender="G13", recipient="H49", kind=MessageKind.STATUS, received_at=at)
            for _ in "ab"
        ),
        key=lambda e: e.message_id,
    )
    store.accept(second, UNROUTABLE, [])
    store.accept(first, UNROUTABLE, [])
    store.reroute(first.message_id, routed(rule="status-to-motcua"), [])
    # Other dossiers, before and after, and one whose code only begins like this one's.
    accept_to(store, "land", sender="H49", received_at=t0 + timedelta(minutes=30))
    store.accept(
        about(TRAIL_CODE + "9", sender="H49", received_at=t0 + timedelta(minutes=31)), UNROUTABLE, []
    )

    trail = store.dossier_trail(TRAIL_CODE)

    expected = [dossier, tax, first, second]
    assert [e.envelope.message_id for e in trail] == [m.message_id for m in expected]  # time, then id
    for entry, envelope in zip(trail, expected, strict=True):
        assert entry.envelope == envelope.header()  # every field of the metadata, in UTC
        assert entry.route == store.get_message(envelope.message_id).route  # the decision in force
    assert trail[2].route == routed(rule="status-to-motcua")
    assert trail[3].route == UNROUTABLE and trail[3].deliveries == ()
    land, motcua = trail[0].deliveries[0], trail[1].deliveries[0]
    assert (land.target, land.state, land.attempts, land.last_error, land.response_status) == (
        "land",
        DeliveryState.DELIVERED,
        2,
        None,
        200,
    )
    stored = delivery(store, dossier.message_id)
    assert (land.id, land.delivered_at, land.updated_at) == (
        stored.id,
        stored.delivered_at,
        stored.updated_at,
    )
    assert land.delivered_at is not None and land.delivered_at.tzinfo is not None
    assert motcua == TrailDelivery(
        id=delivery(store, tax.message_id).id,
        target="motcua",
        operation="CapNhatTrangThai",
        state=DeliveryState.DEAD,
        attempts=1,
        last_error="rejected: unknown dossier",
        delivered_at=None,
        response_status=400,
        updated_at=delivery(store, tax.message_id).updated_at,
    )
    assert store.dossier_trail("000.00.00.H49-261121-9999") == []


def test_a_trail_holds_only_what_the_parties_may_read(store: Store) -> None:
    t0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    dossier = about(TRAIL_CODE, sender="H49", recipient=None, received_at=t0)
    store.accept(dossier, routed("land", "tax"), prepared("land", "tax"))
    status = about(TRAIL_CODE, sender="G13", recipient="H49", received_at=t0 + timedelta(minutes=1))
    store.accept(status, UNROUTABLE, [])
    notice = about(None, sender="G12", recipient="G13", received_at=t0 + timedelta(minutes=2))
    store.accept(notice, routed("land"), prepared("land"))

    def trail(parties: Parties | None) -> list[uuid.UUID]:
        return [e.envelope.message_id for e in store.dossier_trail(TRAIL_CODE, parties)]

    everything = [dossier.message_id, status.message_id, notice.message_id]
    assert trail(None) == everything
    assert trail(Parties(["H49"])) == [dossier.message_id, status.message_id]  # sender, recipient
    assert trail(Parties(["G13"], targets=["land"])) == everything  # routed to it, sender, recipient
    assert trail(Parties(["G12"], targets=["tax"])) == [dossier.message_id, notice.message_id]
    assert trail(Parties(["H22"])) == []
    assert trail(Parties([])) == []  # a reader of no agency sees nothing, not everything
    # What a party sees of a message it may read is the whole message: every delivery.
    (seen,) = store.dossier_trail(TRAIL_CODE, Parties(["G12"], targets=["tax"]))[:1]
    assert [d.target for d in seen.deliveries] == ["land", "tax"]


# ---------------------------------------------------------------------- documents (edXML)

DOC = "000.00.00.H49,2026/11/30,120/UBND-VX"
DOC_B = "000.00.00.H49,2026/11/29,119/UBND-VX"
REPLACEMENT = "000.00.00.H49,2026/12/01,130/UBND-VX"


def edxml(
    kind: MessageKind,
    document_id: str | None,
    headers: dict[str, str],
    *,
    sender: str,
    minutes: int,
    recipient: str | None = None,
    document_type: str = "edxml",
) -> Envelope:
    envelope = new_envelope(
        kind=kind,
        sender=sender,
        sender_message_id=f"edxml-{uuid.uuid4().hex[:12]}",
        payload=b"<edXML xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'/>",
        content_type=XML,
        recipient=recipient,
        document_id=document_id,
        document_type=document_type,
        headers=headers,
    )
    return replace(
        envelope, received_at=datetime(2026, 11, 30, 2, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    )


def edoc(document_id: str, *, minutes: int, own: str | None = None, changes: str | None = None) -> Envelope:
    headers = {"edxml.message_type": "edoc", "edxml.document_id": own or document_id, "edxml.from": "H49"}
    if changes is not None:
        headers |= {"edxml.business_doc_type": "3", "edxml.changes": changes}
    return edxml(MessageKind.DOCUMENT, document_id, headers, sender="H49", minutes=minutes)


def status_about(document_id: str | None, *, minutes: int, sender: str = "G22") -> Envelope:
    headers = {"edxml.message_type": "status", "edxml.status_code": "03", "edxml.from": sender}
    return edxml(MessageKind.STATUS, document_id, headers, sender=sender, minutes=minutes, recipient="H49")


def test_a_documents_trail_is_every_message_about_it_by_its_id_or_a_link(store: Store) -> None:
    document = edoc(DOC, minutes=0)
    answer = status_about(DOC, minutes=1)
    # A replacement about DOC_B first, naming DOC too: linked to both.
    both = json.dumps([{"document_id": DOC_B, "agencies": []}, {"document_id": DOC, "agencies": ["G22"]}])
    replacement = edoc(DOC_B, minutes=2, own=REPLACEMENT, changes=both)
    elsewhere = status_about(DOC_B, minutes=3)
    dossier = make_envelope()  # not edXML, not about the document
    for envelope in (replacement, answer, elsewhere, document, dossier):  # stored out of order
        store.accept(envelope, UNROUTABLE, [])

    def trail(document_id: str, parties: Parties | None = None) -> list[uuid.UUID]:
        return [e.envelope.message_id for e in store.document_trail(document_id, parties)]

    assert trail(DOC) == [document.message_id, answer.message_id, replacement.message_id]
    assert trail(DOC_B) == [replacement.message_id, elsewhere.message_id]
    assert trail(REPLACEMENT) == [replacement.message_id]  # by its own DocumentId
    assert trail("000.00.00.H49,2026/01/01,1/UBND") == []
    (first, *_) = store.document_trail(DOC)
    assert first.envelope.headers["edxml.document_id"] == DOC and first.route == UNROUTABLE
    # The read boundary, as for a dossier's trail: G22 sent the answer; H49 sent or received all.
    assert trail(DOC, Parties(["G22"])) == [answer.message_id]
    assert trail(DOC, Parties(["H49"])) == [document.message_id, answer.message_id, replacement.message_id]
    assert trail(DOC, Parties(["H22"])) == []


def test_unmatched_status_packages_are_those_about_no_document_the_hub_holds(store: Store) -> None:
    early = status_about(DOC, minutes=0)
    orphan = status_about(DOC_B, minutes=1, sender="G13")
    nowhere = status_about(None, minutes=2)
    dossier_status = edxml(MessageKind.STATUS, DOC, {}, sender="G13", minutes=3, document_type="HoSo")
    for envelope in (early, orphan, nowhere, dossier_status):
        store.accept(envelope, UNROUTABLE, [])

    def unmatched(parties: Parties | None = None, limit: int = 100) -> list[uuid.UUID]:
        return [e.envelope.message_id for e in store.unmatched_status_packages(parties, limit)]

    assert unmatched() == [early.message_id, orphan.message_id, nowhere.message_id]
    assert unmatched(limit=1) == [early.message_id]
    assert unmatched(Parties(["G13"])) == [orphan.message_id]
    # The document arrives after its answer: the answer is matched from then on.
    store.accept(edoc(DOC, minutes=5), UNROUTABLE, [])
    assert unmatched() == [orphan.message_id, nowhere.message_id]
    # A replacement naming DOC_B by a link (its own id is another) matches DOC_B's package too.
    named = json.dumps([{"document_id": DOC_B, "agencies": []}])
    store.accept(edoc(REPLACEMENT, minutes=6, own=REPLACEMENT, changes=named), UNROUTABLE, [])
    assert unmatched() == [nowhere.message_id]


# ---------------------------------------------------------------------- claiming


def test_claim_due_takes_the_earliest_due_first(store: Store) -> None:
    messages = [accept_to(store, "vpdk") for _ in range(4)]
    first = store.claim_due("w1", 4, LEASE)
    assert [c.envelope.message_id for c in first] == messages  # queued in the order accepted
    now = utcnow()
    due_at = {
        messages[0]: now - timedelta(seconds=1),
        messages[1]: now - timedelta(seconds=3),
        messages[2]: now + timedelta(hours=1),  # not due yet
        messages[3]: now - timedelta(seconds=2),
    }
    for c in first:
        store.record_outcome(c, RetryAt(due_at[c.envelope.message_id], "timeout"))

    again = store.claim_due("w1", 10, LEASE)

    assert [c.envelope.message_id for c in again] == [messages[1], messages[3], messages[0]]
    assert delivery(store, messages[2]).state is DeliveryState.FAILED
    assert delivery(store, messages[2]).next_attempt_at == due_at[messages[2]]


def test_claim_due_respects_limit_and_targets(store: Store) -> None:
    for target in ("vpdk", "vpdk", "thue", "thue", "bhxh"):
        accept_to(store, target)

    assert store.claim_due("w1", 0, LEASE) == []
    assert store.claim_due("w1", 10, LEASE, only_targets=[]) == []
    one = store.claim_due("w1", 1, LEASE)
    assert [c.target for c in one] == ["vpdk"]
    only = store.claim_due("w1", 10, LEASE, only_targets=["thue"])
    assert [c.target for c in only] == ["thue", "thue"]
    rest = store.claim_due("w1", 10, LEASE, exclude_targets=["vpdk"])
    assert [c.target for c in rest] == ["bhxh"]
    last = store.claim_due("w1", 10, LEASE, exclude_targets=["thue"], only_targets=["vpdk", "thue"])
    assert [c.target for c in last] == ["vpdk"]
    assert store.claim_due("w1", 10, LEASE) == []
    assert store.counts().by_target == {
        "vpdk": {DeliveryState.IN_FLIGHT: 2},
        "thue": {DeliveryState.IN_FLIGHT: 2},
        "bhxh": {DeliveryState.IN_FLIGHT: 1},
    }


def test_a_claim_carries_what_the_worker_needs(store: Store) -> None:
    envelope = make_envelope()
    store.accept(envelope, routed("vpdk"), prepared("vpdk"))
    before = utcnow()

    claim = claim_one(store, "worker-7", LEASE)

    assert claim.worker == "worker-7"
    assert claim.target == "vpdk"
    assert (claim.attempt, claim.round_attempt) == (1, 1)
    assert (claim.payload, claim.content_type) == (prepared("vpdk")[0].payload, XML)
    # The message's metadata, not its original payload: delivery sends the prepared bytes above.
    assert claim.envelope == store.get_message(envelope.message_id).envelope.header()
    assert claim.envelope.message_id == envelope.message_id
    assert not hasattr(claim.envelope, "payload")
    assert before <= claim.first_attempt_at <= utcnow()
    assert claim.lease_until == claim.first_attempt_at + LEASE
    d = delivery(store, envelope.message_id)
    assert (d.id, d.state, d.attempts) == (claim.delivery_id, DeliveryState.IN_FLIGHT, 1)
    (attempt,) = d.history
    assert (attempt.number, attempt.worker, attempt.started_at) == (1, "worker-7", claim.first_attempt_at)
    assert (attempt.finished_at, attempt.outcome, attempt.error) == (None, None, None)


def test_two_workers_never_get_the_same_delivery(store: Store) -> None:
    for _ in range(5):
        accept_to(store, "vpdk")
    first = store.claim_due("w1", 3, LEASE)
    second = store.claim_due("w2", 10, LEASE)
    assert len(first) == 3 and len(second) == 2
    assert not set(ids(first)) & set(ids(second))
    assert {c.worker for c in first} == {"w1"} and {c.worker for c in second} == {"w2"}
    assert store.claim_due("w3", 10, LEASE) == []


def test_concurrent_workers_never_overlap(store: Store) -> None:
    """Two threads drain 200 deliveries at once (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN
    IMMEDIATE on SQLite, one lock in memory): each delivery is claimed by exactly one of them."""
    targets = ("vpdk", "thue", "bhxh", "tuphap")
    for _ in range(50):
        accept_to(store, *targets)
    claimed: dict[str, list[int]] = {"w1": [], "w2": []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def drain(worker: str) -> None:
        barrier.wait()
        try:
            while claims := store.claim_due(worker, 7, LEASE):
                for claim in claims:
                    claimed[worker].append(claim.delivery_id)
                    store.record_outcome(claim, Delivered(response=b"<OK/>", response_status=200))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert not set(claimed["w1"]) & set(claimed["w2"])
    assert len(claimed["w1"]) + len(claimed["w2"]) == 200
    assert len(set(claimed["w1"]) | set(claimed["w2"])) == 200
    assert store.claim_due("w3", 10, LEASE) == []
    assert store.counts().by_target == {t: {DeliveryState.DELIVERED: 50} for t in targets}


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    message_id = accept_to(store, "vpdk")
    crashed = claim_one(store, "w1", EXPIRED)

    taken = claim_one(store, "w2", LEASE)

    assert taken.delivery_id == crashed.delivery_id
    assert (taken.attempt, taken.round_attempt) == (2, 2)  # the lost attempt still counts
    assert taken.first_attempt_at == crashed.first_attempt_at
    d = delivery(store, message_id)
    assert (d.state, d.attempts) == (DeliveryState.IN_FLIGHT, 2)
    old, new = d.history
    assert (old.number, old.worker, old.outcome) == (1, "w1", AttemptOutcome.RELEASED)
    assert old.error is not None and "lease expired" in old.error and "w1" in old.error
    assert old.finished_at == new.started_at
    assert (new.number, new.worker, new.finished_at, new.outcome) == (2, "w2", None, None)

    with pytest.raises(ClaimLostError):
        store.record_outcome(crashed, Delivered())
    store.release([crashed], "shutdown")  # not ours any more: silently nothing
    assert delivery(store, message_id).state is DeliveryState.IN_FLIGHT
    store.record_outcome(taken, Delivered())
    assert delivery(store, message_id).state is DeliveryState.DELIVERED


def test_a_live_lease_is_not_taken_over(store: Store) -> None:
    accept_to(store, "vpdk")
    claim_one(store, "w1", LEASE)
    assert store.claim_due("w2", 10, LEASE) == []


def test_a_heartbeat_extends_the_lease_of_held_claims_only(store: Store) -> None:
    """A live call renews its claim: even a lease already run out is not taken over once renewed."""
    message_id = accept_to(store, "vpdk")
    slow = claim_one(store, "w1", EXPIRED)
    other_id = accept_to(store, "thue")
    lost = claim_one(store, "w2", EXPIRED, only_targets=["thue"])
    taken = claim_one(store, "w3", LEASE, only_targets=["thue"])  # w2 is gone: its delivery taken over

    assert store.extend_leases([slow, lost], LEASE) == {slow.delivery_id}

    assert store.claim_due("w4", 10, LEASE) == []  # the renewed lease holds
    assert delivery(store, message_id).history[0].outcome is None  # still the same attempt, running
    assert delivery(store, other_id).attempts == 2  # the stale claim changed nothing
    store.record_outcome(slow, Delivered())
    assert delivery(store, message_id).state is DeliveryState.DELIVERED
    assert store.extend_leases([slow], LEASE) == set()  # finished: nothing to renew
    assert store.extend_leases([], LEASE) == set()
    store.record_outcome(taken, Delivered())
    assert store.extend_leases([taken], EXPIRED) == set()


def test_a_lease_not_renewed_runs_out(store: Store) -> None:
    accept_to(store, "vpdk")
    claim = claim_one(store, "w1", LEASE)
    assert store.extend_leases([claim], EXPIRED) == {claim.delivery_id}  # renewed to "already over"
    assert claim_one(store, "w2", LEASE).delivery_id == claim.delivery_id


def test_an_expired_lease_still_counts_until_taken_over(store: Store) -> None:
    """A slow worker whose lease ran out may still finish, as long as nobody took the delivery."""
    message_id = accept_to(store, "vpdk")
    slow = claim_one(store, "w1", EXPIRED)
    store.record_outcome(slow, Delivered())
    d = delivery(store, message_id)
    assert d.state is DeliveryState.DELIVERED
    assert [a.outcome for a in d.history] == [AttemptOutcome.DELIVERED]


# ---------------------------------------------------------------------- outcomes


def test_record_delivered(store: Store) -> None:
    message_id = accept_to(store, "vpdk")
    claim = claim_one(store)

    store.record_outcome(
        claim, Delivered(response=b"<KetQua>OK</KetQua>", response_status=200, request=b"<Req/>")
    )

    d = delivery(store, message_id)
    assert (d.state, d.attempts, d.next_attempt_at, d.last_error) == (DeliveryState.DELIVERED, 1, None, None)
    assert d.response == b"<KetQua>OK</KetQua>"
    assert d.delivered_at is not None and d.delivered_at >= claim.first_attempt_at
    (attempt,) = d.history
    assert attempt.outcome is AttemptOutcome.DELIVERED
    assert attempt.finished_at == d.delivered_at
    assert (attempt.error, attempt.response_status) == (None, 200)
    assert (attempt.request, attempt.response) == (b"<Req/>", b"<KetQua>OK</KetQua>")
    with pytest.raises(ClaimLostError):  # an outcome is recorded once
        store.record_outcome(claim, Dead("twice"))
    assert store.claim_due("w1", 10, LEASE) == []


def test_record_retry_then_retry_again(store: Store) -> None:
    message_id = accept_to(store, "vpdk")
    first = claim_one(store)
    later = utcnow() + timedelta(minutes=10)

    store.record_outcome(first, RetryAt(later, "HTTP 503", response=b"busy", response_status=503))

    d = delivery(store, message_id)
    assert (d.state, d.attempts, d.next_attempt_at) == (DeliveryState.FAILED, 1, later)
    assert (d.last_error, d.response, d.delivered_at) == ("HTTP 503", b"busy", None)
    (attempt,) = d.history
    assert (attempt.outcome, attempt.error, attempt.response_status) == (
        AttemptOutcome.RETRY,
        "HTTP 503",
        503,
    )
    assert attempt.response == b"busy" and attempt.request is None
    assert store.claim_due("w1", 10, LEASE) == []  # not due before ``later``

    # An overdue retry is claimed again, within the same round.
    other_id = accept_to(store, "thue")
    second = claim_one(store, only_targets=["thue"])
    store.record_outcome(second, RetryAt(utcnow() - timedelta(seconds=1), "timeout"))
    retried = claim_one(store, only_targets=["thue"])
    assert retried.delivery_id == second.delivery_id
    assert (retried.attempt, retried.round_attempt) == (2, 2)
    assert retried.first_attempt_at == second.first_attempt_at  # the round started at the first try
    store.record_outcome(retried, Delivered())
    d = delivery(store, other_id)
    assert (d.state, d.attempts, d.last_error) == (DeliveryState.DELIVERED, 2, None)
    assert [a.outcome for a in d.history] == [AttemptOutcome.RETRY, AttemptOutcome.DELIVERED]


def test_record_dead(store: Store) -> None:
    message_id = accept_to(store, "vpdk")
    claim = claim_one(store)

    store.record_outcome(
        claim, Dead("HTTP 400: mã thủ tục không hợp lệ", response=b"bad", response_status=400)
    )

    d = delivery(store, message_id)
    assert (d.state, d.attempts, d.next_attempt_at) == (DeliveryState.DEAD, 1, None)
    assert (d.last_error, d.response, d.delivered_at) == ("HTTP 400: mã thủ tục không hợp lệ", b"bad", None)
    (attempt,) = d.history
    assert (attempt.outcome, attempt.error) == (AttemptOutcome.DEAD, "HTTP 400: mã thủ tục không hợp lệ")
    assert attempt.response_status == 400
    assert store.claim_due("w1", 10, LEASE) == []
    assert store.counts().by_target == {"vpdk": {DeliveryState.DEAD: 1}}


def test_an_outcome_for_a_stale_claim_is_refused(store: Store) -> None:
    message_id = accept_to(store, "vpdk")
    claim = claim_one(store, "w1")
    for stale in (
        replace(claim, worker="w2"),  # someone else's
        replace(claim, attempt=claim.attempt + 1),  # an attempt that never started
        replace(claim, delivery_id=claim.delivery_id + 1000),  # no such delivery
    ):
        with pytest.raises(ClaimLostError):
            store.record_outcome(stale, Delivered())
    d = delivery(store, message_id)
    assert (d.state, d.attempts) == (DeliveryState.IN_FLIGHT, 1)
    assert d.history[0].outcome is None


# ---------------------------------------------------------------------- settle: outcomes and claims


def test_settle_records_the_outcomes_then_claims(store: Store) -> None:
    first, second = accept_to(store, "vpdk"), accept_to(store, "vpdk")
    claims = store.claim_due("w1", 2, LEASE)
    later = utcnow() + timedelta(minutes=10)
    third, fourth = accept_to(store, "vpdk"), accept_to(store, "thue")

    settled = store.settle(
        "w1",
        [
            (claims[0], Delivered(response=b"<OK/>", response_status=200, request=b"<Req/>")),
            (claims[1], RetryAt(later, "HTTP 503", response_status=503)),
        ],
        5,
        LEASE,
    )

    assert settled.errors == (None, None)
    assert [(c.target, c.attempt) for c in settled.claims] == [("vpdk", 1), ("thue", 1)]
    assert [delivery(store, m).id for m in (third, fourth)] == ids(settled.claims)
    done, failed = delivery(store, first), delivery(store, second)
    assert (done.state, done.response, done.last_error) == (DeliveryState.DELIVERED, b"<OK/>", None)
    assert (done.history[0].outcome, done.history[0].request) == (AttemptOutcome.DELIVERED, b"<Req/>")
    assert (failed.state, failed.next_attempt_at, failed.last_error) == (
        DeliveryState.FAILED,
        later,
        "HTTP 503",
    )
    assert failed.history[0].outcome is AttemptOutcome.RETRY
    for message_id in (third, fourth):
        assert delivery(store, message_id).state is DeliveryState.IN_FLIGHT
    with pytest.raises(ClaimLostError):  # recorded once, as by record_outcome
        store.record_outcome(claims[0], Dead("twice"))


def test_settle_answers_a_lost_claim_with_its_error_and_records_the_others(store: Store) -> None:
    messages = [accept_to(store, "vpdk") for _ in range(3)]
    claims = store.claim_due("w1", 3, LEASE)
    store.release([claims[1]], "handed back")
    waiting = accept_to(store, "thue")

    settled = store.settle(
        "w1",
        [(c, Dead("HTTP 400", response_status=400)) for c in claims],
        1,
        LEASE,
        only_targets=["thue"],
    )

    assert settled.errors[0] is None and settled.errors[2] is None
    assert isinstance(settled.errors[1], ClaimLostError)
    assert ids(settled.claims) == [delivery(store, waiting).id]
    states = [delivery(store, m).state for m in messages]
    assert states == [DeliveryState.DEAD, DeliveryState.QUEUED, DeliveryState.DEAD]
    released = delivery(store, messages[1])
    assert [a.outcome for a in released.history] == [AttemptOutcome.RELEASED]  # untouched by the outcome


def test_settle_without_outcomes_claims_and_without_a_limit_only_records(store: Store) -> None:
    vpdk, thue = accept_to(store, "vpdk"), accept_to(store, "thue")

    settled = store.settle("w1", [], 5, LEASE, exclude_targets=["thue"])

    assert settled.errors == ()
    assert ids(settled.claims) == [delivery(store, vpdk).id]
    settled = store.settle("w1", [(settled.claims[0], Delivered())], 0, LEASE)
    assert (settled.errors, settled.claims) == ((None,), [])
    assert delivery(store, vpdk).state is DeliveryState.DELIVERED
    assert delivery(store, thue).state is DeliveryState.QUEUED  # excluded, then a limit of 0


def test_settle_streams_large_parts_beside_small_ones(store: Store) -> None:
    """A large request or answer takes the one-by-one way (blob I/O on SQLite), in the same round
    as the claim, and every byte comes back."""
    large = b"<edXML>" + bytes(range(256)) * 8192 + b"</edXML>"
    messages = [accept_to(store, "vpdk") for _ in range(2)]
    claims = store.claim_due("w1", 2, LEASE)
    waiting = accept_to(store, "vpdk")
    answer = b'{"status":"OK"}' + b" " * (2 * 1024 * 1024)

    settled = store.settle(
        "w1",
        [
            (claims[0], Delivered(response=answer, response_status=200, request=large)),
            (claims[1], Delivered(response=b"ok", response_status=200)),
        ],
        1,
        LEASE,
    )

    assert settled.errors == (None, None)
    assert ids(settled.claims) == [delivery(store, waiting).id]
    [attempt] = delivery(store, messages[0]).history
    assert (attempt.request, attempt.response) == (large, answer)
    assert delivery(store, messages[1]).response == b"ok"


# ---------------------------------------------------------------------- release and replay


def test_release_hands_the_delivery_back_without_charging_it(store: Store) -> None:
    message_id = accept_to(store, "vpdk")
    first = claim_one(store, "w1")

    store.release([first], "released on shutdown before an answer")

    d = delivery(store, message_id)
    assert (d.state, d.attempts) == (DeliveryState.QUEUED, 1)
    assert d.next_attempt_at is not None and d.next_attempt_at >= first.first_attempt_at
    (attempt,) = d.history
    assert attempt.outcome is AttemptOutcome.RELEASED
    assert attempt.error == "released on shutdown before an answer"  # the reason, as given
    assert attempt.finished_at is not None
    with pytest.raises(ClaimLostError):
        store.record_outcome(first, Delivered())
    store.release([first], "again")  # releasing twice is harmless, and changes nothing
    assert delivery(store, message_id).history[0].error == "released on shutdown before an answer"

    second = claim_one(store, "w2")
    assert second.delivery_id == first.delivery_id
    assert (second.attempt, second.round_attempt) == (2, 1)  # counted in history, not in the round
    assert second.first_attempt_at == first.first_attempt_at
    store.record_outcome(second, Delivered())
    assert [a.outcome for a in delivery(store, message_id).history] == [
        AttemptOutcome.RELEASED,
        AttemptOutcome.DELIVERED,
    ]


def test_release_of_several_claims(store: Store) -> None:
    for target in ("vpdk", "thue", "bhxh"):
        accept_to(store, target)
    claims = store.claim_due("w1", 3, LEASE)
    store.release(claims, "not sent: the circuit opened")
    assert store.counts().by_target == {t: {DeliveryState.QUEUED: 1} for t in ("vpdk", "thue", "bhxh")}
    again = store.claim_due("w2", 3, LEASE)
    assert sorted(ids(again)) == sorted(ids(claims))
    assert {c.round_attempt for c in again} == {1}


def test_replay_dead_requeues_only_matching_dead_deliveries(store: Store) -> None:
    a = accept_to(store, "vpdk")
    b = accept_to(store, "thue", sender="motcua-binhduong")
    c = accept_to(store, "bhxh")
    outcomes: dict[str, Outcome] = {"vpdk": Dead("HTTP 400"), "thue": Dead("HTTP 422"), "bhxh": Delivered()}
    first_claims = {}
    for claim in store.claim_due("w1", 3, LEASE):
        first_claims[claim.target] = claim
        store.record_outcome(claim, outcomes[claim.target])
    d_a = delivery(store, a)

    assert store.replay_dead(MessageFilter(targets=["vpdk"])) == [d_a.id]

    d = delivery(store, a)
    assert (d.state, d.attempts, d.last_error) == (DeliveryState.QUEUED, 1, "HTTP 400")
    assert [h.outcome for h in d.history] == [AttemptOutcome.DEAD]  # history kept
    assert d.next_attempt_at is not None and d.next_attempt_at >= d_a.updated_at
    assert delivery(store, b).state is DeliveryState.DEAD  # not matched
    assert delivery(store, c).state is DeliveryState.DELIVERED  # not dead
    replayed = claim_one(store)
    assert replayed.delivery_id == d_a.id
    assert (replayed.attempt, replayed.round_attempt) == (2, 1)  # a new round
    assert replayed.first_attempt_at > first_claims["vpdk"].first_attempt_at

    assert store.replay_dead(MessageFilter(sender="nobody")) == []
    assert store.replay_dead(MessageFilter(sender="motcua-binhduong")) == [delivery(store, b).id]
    assert store.replay_dead(MessageFilter()) == []  # nothing dead is left
    assert delivery(store, c).state is DeliveryState.DELIVERED


def test_replay_dead_filters_and_limit(store: Store) -> None:
    messages = [accept_to(store, "vpdk") for _ in range(3)]
    for claim in store.claim_due("w1", 3, LEASE):
        store.record_outcome(claim, Dead("rejected"))
    dead_ids = {delivery(store, m).id for m in messages}

    assert store.replay_dead(MessageFilter(states=[DeliveryState.QUEUED])) == []
    assert store.replay_dead(MessageFilter(message_ids=[messages[1]])) == [delivery(store, messages[1]).id]
    one = store.replay_dead(MessageFilter(limit=1))
    assert len(one) == 1
    rest = store.replay_dead(MessageFilter())
    assert sorted(one + rest + [delivery(store, messages[1]).id]) == sorted(dead_ids)
    assert store.counts().by_target == {"vpdk": {DeliveryState.QUEUED: 3}}


# ---------------------------------------------------------------------- fidelity


def test_bytes_and_vietnamese_text_come_back_exactly(store: Store) -> None:
    nfc_text = "Giấy chứng nhận quyền sử dụng đất – Phường Tân Phong, TP. Biên Hòa"
    nfd_bytes = unicodedata.normalize("NFD", nfc_text).encode("utf-8")
    # Not UTF-8 at all (a TCVN3 or Windows-1258 sender, a signature blob), NUL bytes, and NFD text:
    # the store keeps bytes, it never decodes or normalises them.
    payload = b"\xff\xfe\x00<HoSo>\x80\x81\xc3\x28" + nfd_bytes + b"\x00\xa9\xe0</HoSo>"
    delivery_payload = b"\x00\x01\x02\xfe\xff" + nfc_text.encode("utf-8") + b"\xed\xa0\x80"
    envelope = new_envelope(
        kind=MessageKind.DOCUMENT,
        sender="vanthu-ubnd-dongnai",
        sender_message_id="văn-bản-số-123/UBND-KT",
        payload=payload,
        content_type="application/octet-stream",
        document_id="123/UBND-KT",
        document_type="Công văn",
        headers={"x-trich-yeu": unicodedata.normalize("NFD", "Về việc cấp đổi sổ đỏ")},
    )
    store.accept(
        envelope, routed("vpdk"), [PreparedDelivery("vpdk", delivery_payload, "application/x-edxml")]
    )
    response = b"\x89PNG\r\n\x1a\n\x00\xff" + nfd_bytes

    claim = claim_one(store)
    store.record_outcome(claim, Delivered(response=response, response_status=200, request=delivery_payload))

    record = store.get_message(envelope.message_id)
    assert record.envelope.payload == payload
    assert record.envelope.payload_sha256 == envelope.payload_sha256
    assert record.envelope.fingerprint() == envelope.fingerprint()
    assert record.envelope.sender_message_id == "văn-bản-số-123/UBND-KT"
    assert unicodedata.is_normalized("NFC", record.envelope.sender_message_id)
    assert record.envelope.document_type == "Công văn"
    assert record.envelope.headers == {"x-trich-yeu": "Về việc cấp đổi sổ đỏ"}
    assert unicodedata.is_normalized("NFC", record.envelope.headers["x-trich-yeu"])
    assert claim.payload == delivery_payload and claim.envelope.document_type == "Công văn"
    (d,) = record.deliveries
    assert (d.payload, d.content_type, d.response) == (delivery_payload, "application/x-edxml", response)
    assert (d.history[0].request, d.history[0].response) == (delivery_payload, response)
    assert store.get_message(envelope.message_id).deliveries[0].payload == delivery_payload
    # A repeat of exactly these bytes is recognised as the same submission.
    assert store.accept(replace(envelope, message_id=uuid.uuid4()), routed("vpdk"), []).created is False


def test_timestamps_are_timezone_aware_utc(store: Store) -> None:
    received = datetime(2026, 3, 1, 15, 45, 30, 123456, tzinfo=ICT)
    envelope = make_envelope(received_at=received)
    store.accept(envelope, routed("vpdk"), prepared("vpdk"))
    claim = claim_one(store)
    retry_at = (utcnow() + timedelta(hours=1)).astimezone(ICT)
    store.record_outcome(claim, RetryAt(retry_at, "timeout"))

    record = store.get_message(envelope.message_id)
    (d,) = record.deliveries
    (attempt,) = d.history
    stamps = {
        "received_at": record.envelope.received_at,
        "created_at": record.envelope.created_at,
        "delivery.created_at": d.created_at,
        "delivery.updated_at": d.updated_at,
        "next_attempt_at": d.next_attempt_at,
        "attempt.started_at": attempt.started_at,
        "attempt.finished_at": attempt.finished_at,
        "claim.lease_until": claim.lease_until,
        "claim.first_attempt_at": claim.first_attempt_at,
    }
    for name, stamp in stamps.items():
        assert stamp is not None, name
        assert stamp.utcoffset() == timedelta(0), name
    assert record.envelope.received_at == received  # the same instant, to the microsecond
    assert record.envelope.created_at == envelope.created_at
    assert d.next_attempt_at == retry_at


# ---------------------------------------------------------------------- SqlStore only


def test_messages_are_immutable_in_the_database(sql_store: SqlStore) -> None:
    """Migration 0001 installs a trigger: accepted messages are evidence and cannot be changed."""
    message_id = accept_to(sql_store, "vpdk")
    with pytest.raises(DBAPIError, match="immutable"), sql_store.engine.begin() as conn:
        conn.execute(text("UPDATE messages SET sender = 'forged'"))
    with pytest.raises(DBAPIError, match="immutable"), sql_store.engine.begin() as conn:
        conn.execute(text("DELETE FROM messages"))
    assert sql_store.get_message(message_id).envelope.sender == "motcua-dongnai"


# ---------------------------------------------------------------------- request-reply exchanges


def test_a_recorded_exchange_is_a_delivered_message_that_is_never_claimed(store: Store) -> None:
    envelope = make_envelope(kind=MessageKind.QUERY, recipient="000.00.00.G05")
    started = datetime.now(UTC) - timedelta(milliseconds=40)
    route = RouteDecision(RouteStatus.ROUTED, None, ("business",), "lookup: synchronous call to business")
    outcome = Delivered(response=b"<Tra>loi</Tra>", response_status=200, request=b"<Hoi/>")
    store.record_exchange(envelope, route, Exchange("business", b"<Hoi/>", XML, "lookup", started, outcome))

    record = store.get_message(envelope.message_id)
    assert record.envelope.kind is MessageKind.QUERY and record.route == route
    (d,) = record.deliveries
    assert (d.target, d.state, d.attempts, d.response) == (
        "business",
        DeliveryState.DELIVERED,
        1,
        b"<Tra>loi</Tra>",
    )
    assert d.delivered_at is not None and d.next_attempt_at is None
    (attempt,) = d.history
    assert (attempt.worker, attempt.outcome) == ("lookup", AttemptOutcome.DELIVERED)
    assert (attempt.request, attempt.response, attempt.response_status) == (b"<Hoi/>", b"<Tra>loi</Tra>", 200)
    assert abs((attempt.started_at - started).total_seconds()) < 0.001
    # Finished: workers never claim it, replay never re-queues it, and it counts as delivered.
    assert store.claim_due("w1", 10, LEASE) == []
    assert store.replay_dead(MessageFilter()) == []
    assert store.counts().by_target["business"] == {DeliveryState.DELIVERED: 1}
    # Its sender id is taken like any other: the same id again is a conflict, not a second row.
    with pytest.raises((IdempotencyConflictError, ValueError, IntegrityError)):
        store.record_exchange(
            envelope, route, Exchange("business", b"<Hoi/>", XML, "lookup", started, outcome)
        )


# ---------------------------------------------------------------------- polling (docs/polling.md)

JUSTICE = "000.00.00.G15"


def deliver_through(store: Store, target: str, operation: str, **kwargs: Any) -> Envelope:
    """A dossier accepted for ``target`` and delivered through ``operation``."""
    envelope = make_envelope(**kwargs)
    payload = PreparedDelivery(target, b'{"module":"LTKS"}', "application/json", operation=operation)
    store.accept(envelope, routed(target), [payload])
    claim = claim_one(store, only_targets=[target])
    store.record_outcome(claim, Delivered(response=b'{"status":"1"}', response_status=200))
    return envelope


def answer_from(store: Store, dossier_code: str | None, *, sender: str = JUSTICE, kind: MessageKind) -> None:
    envelope = replace(
        make_envelope(sender=sender, kind=kind, recipient="000.00.00.H49"), dossier_code=dossier_code
    )
    store.accept(envelope, routed("motcua"), prepared("motcua"))


def test_awaiting_answers_are_the_delivered_dossiers_without_an_answer_from_the_agency(store: Store) -> None:
    since = utcnow() - timedelta(hours=1)
    first = deliver_through(store, "justice", "NhanDKHT", procedure_code="1.001193")
    answered = deliver_through(store, "justice", "NhanDKHT", procedure_code="1.001193")
    status_only = deliver_through(store, "justice", "NhanDKHT", procedure_code="1.000656")
    other_op = deliver_through(store, "justice", "YeuCauLLTP", procedure_code="2.000488")
    deliver_through(store, "land", "NhanDKHT")  # another adapter
    accept_to(store, "justice", procedure_code="1.001193")  # queued, not delivered
    answer_from(store, answered.dossier_code, kind=MessageKind.ANSWER)
    answer_from(store, status_only.dossier_code, kind=MessageKind.STATUS)  # not what ends the wait
    answer_from(store, first.dossier_code, sender="000.00.00.G13", kind=MessageKind.ANSWER)  # other agency

    found = store.awaiting_answers("justice", "NhanDKHT", JUSTICE, MessageKind.ANSWER, since, 100)

    assert [(a.dossier_code, a.procedure_code, a.message_id) for a in found] == [
        (first.dossier_code, "1.001193", first.message_id),
        (status_only.dossier_code, "1.000656", status_only.message_id),
    ]
    assert all(a.delivered_at.tzinfo is not None for a in found)
    lltp = store.awaiting_answers("justice", "YeuCauLLTP", JUSTICE, MessageKind.ANSWER, since, 100)
    assert [a.dossier_code for a in lltp] == [other_op.dossier_code]
    assert store.awaiting_answers("justice", "NhanDKHT", JUSTICE, MessageKind.ANSWER, utcnow(), 100) == []
    assert len(store.awaiting_answers("justice", "NhanDKHT", JUSTICE, MessageKind.ANSWER, since, 1)) == 1


def test_a_dossier_delivered_twice_awaits_once_under_its_latest_message(store: Store) -> None:
    since = utcnow() - timedelta(hours=1)
    first = deliver_through(store, "justice", "NhanDKHT")
    again = replace(make_envelope(), dossier_code=first.dossier_code)
    store.accept(
        again, routed("justice"), [PreparedDelivery("justice", b"{}", "application/json", "NhanDKHT")]
    )
    store.record_outcome(claim_one(store), Delivered())

    [awaiting] = store.awaiting_answers("justice", "NhanDKHT", JUSTICE, MessageKind.ANSWER, since, 100)
    assert (awaiting.dossier_code, awaiting.message_id) == (first.dossier_code, again.message_id)


def test_a_poll_is_taken_by_one_owner_until_it_is_due_again(store: Store) -> None:
    key = "justice/LayKetQua/1.001193"
    assert store.start_poll(key, "hub-a", LEASE, timedelta(0))
    assert not store.start_poll(key, "hub-b", LEASE, timedelta(0))  # held by hub-a
    store.end_poll(key, "hub-b")  # not the owner: nothing happens
    assert not store.start_poll(key, "hub-b", LEASE, timedelta(0))
    store.end_poll(key, "hub-a")
    assert store.start_poll(key, "hub-b", LEASE, timedelta(hours=1))  # free and due
    store.end_poll(key, "hub-b")
    assert not store.start_poll(key, "hub-a", LEASE, timedelta(0))  # free, but not due for an hour
    assert store.start_poll("justice/LayKetQua/1.000656", "hub-a", LEASE, timedelta(0))  # another group


def test_a_poll_whose_owner_died_is_taken_over_when_its_lease_runs_out(store: Store) -> None:
    key = "justice/LayKetQua/none"
    assert store.start_poll(key, "hub-a", EXPIRED, timedelta(0))  # hub-a dies holding it
    assert store.start_poll(key, "hub-b", LEASE, timedelta(0))


def test_concurrent_processes_take_a_poll_once(store: Store) -> None:
    key = "justice/LayKetQua/race"
    barrier = threading.Barrier(6)
    taken: list[str] = []

    def contend(owner: str) -> None:
        barrier.wait()
        if store.start_poll(key, owner, LEASE, timedelta(minutes=1)):
            taken.append(owner)

    threads = [threading.Thread(target=contend, args=(f"hub-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 1


def test_a_recorded_exchange_keeps_the_operation_called(store: Store) -> None:
    """A lookup through an adapter with operations records which one it called, as deliveries do."""
    envelope = make_envelope(kind=MessageKind.QUERY, recipient="000.00.00.G05")
    route = RouteDecision(RouteStatus.ROUTED, None, ("business",), "lookup: synchronous call to business")
    outcome = Delivered(response=b"<Tra>loi</Tra>", response_status=200, request=b"<Hoi/>")
    exchange = Exchange(
        "business", b"<Hoi/>", XML, "lookup", datetime.now(UTC), outcome, operation="LayThongTinDoanhNghiep"
    )
    store.record_exchange(envelope, route, exchange)

    (d,) = store.get_message(envelope.message_id).deliveries
    assert (d.target, d.operation) == ("business", "LayThongTinDoanhNghiep")


def test_large_payloads_are_stored_claimed_and_recorded_byte_for_byte(store: Store) -> None:
    """Payloads of a megabyte and more take another way into SQLite and out of it (blob I/O), beside
    small ones in the same message: every byte comes back, in the right row."""
    large = b"<edXML>" + bytes(range(256)) * 8192 + b"</edXML>"  # 2 MiB and a bit, every byte value
    envelope = make_envelope(payload=large, kind=MessageKind.DOCUMENT)
    deliveries_ = [
        PreparedDelivery("axis", large[::-1], XML),
        PreparedDelivery("qlvb", b"<small/>", XML),
        PreparedDelivery("vpdk", large + b"<!-- other -->", XML),
    ]
    store.accept(envelope, routed("axis", "qlvb", "vpdk"), deliveries_)

    claims = {c.target: c for c in store.claim_due("w1", 10, LEASE)}
    assert {t: c.payload for t, c in claims.items()} == {p.target: p.payload for p in deliveries_}
    answer = b'{"status":"OK"}' + b" " * (2 * 1024 * 1024)
    store.record_outcome(claims["axis"], Delivered(response=answer, response_status=200, request=large[::-1]))
    store.record_outcome(claims["qlvb"], Delivered(response=b"ok", response_status=200, request=b"<small/>"))

    record = store.get_message(envelope.message_id)
    assert record.envelope.payload == large
    assert record.envelope.payload_sha256 == envelope.payload_sha256
    by_target = {d.target: d for d in record.deliveries}
    assert by_target["axis"].payload == large[::-1]
    assert by_target["vpdk"].payload == large + b"<!-- other -->"
    [attempt] = by_target["axis"].history
    assert (attempt.request, attempt.response) == (large[::-1], answer)
    [small] = by_target["qlvb"].history
    assert (small.request, small.response) == (b"<small/>", b"ok")
