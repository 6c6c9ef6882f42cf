"""SqlStore: the store on SQLite (one machine) or PostgreSQL (several hub processes).

The two differ in one place that matters: how workers claim work. PostgreSQL claims rows with
``FOR UPDATE SKIP LOCKED`` so concurrent hub processes never take the same delivery and never wait
on each other. SQLite has no row locks; every write transaction starts with ``BEGIN IMMEDIATE`` so
that the single writer is chosen up front instead of failing halfway with "database is locked".
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache, partial
from select import POLLIN, poll
from typing import Any, Final, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    bindparam,
    create_engine,
    event,
    false,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.pool import QueuePool

from lienthong.edxml.headers import document_links as document_links_of
from lienthong.envelope import Envelope, EnvelopeHeader, MessageKind, utcnow
from lienthong.errors import ClaimLostError, IdempotencyConflictError, NotFoundError
from lienthong.store import (
    AcceptResult,
    AttemptOutcome,
    AttemptRecord,
    AwaitingDossier,
    Claim,
    ClaimOffer,
    Delivered,
    DeliveryRecord,
    DeliveryState,
    Exchange,
    MessageFilter,
    MessageRecord,
    Outcome,
    Parties,
    PreparedDelivery,
    RetryAt,
    RouteDecision,
    RouteStatus,
    Settled,
    StateCounts,
    TrailEntry,
    stored_envelope,
)
from lienthong.store._blobs import read_blob, streams, write_blob, zeroblob
from lienthong.store._faults import Availability
from lienthong.store._sqlbatch import GroupCommit
from lienthong.store._sqlclaim import (
    ATTEMPTS,
    CLAIMED_BY,
    CONTENT_TYPE,
    HEADER_AT,
    HEADER_COLUMNS,
    ID,
    OPERATION,
    PAYLOAD,
    ROUND_ATTEMPTS,
    ROUND_STARTED_AT,
    STATE,
    TARGET,
    by_due,
    claim_query,
    expired_error,
    sqlite_claim_writes,
)
from lienthong.store._sqlcount import StatementCount, StatementCounter
from lienthong.store._sqlfast import (
    DriverQuery,
    DriverStatement,
    DriverUpdateFromValues,
    flat_values,
    numbered,
    send,
    send_begin,
    send_numbered,
)
from lienthong.store._sqlkeep import KeptConnections
from lienthong.store._sqlstate import read_counts
from lienthong.store.schema import (
    UtcDateTime,
    attempts,
    deliveries,
    delivery_payloads,
    document_links,
    idempotency_keys,
    message_payloads,
    messages,
    route_decisions,
)

__all__ = ["SqlStore", "StatementCount", "StatementCounter", "create_store_engine"]

T = TypeVar("T")

#: Execution option of a connection that only reads (SqlStore._read): SQLite begins it deferred.
_READ_ONLY = "lienthong_read_only"


def create_store_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """An engine with the settings each backend needs to keep the hub's promises."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 60, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: a "SELECT 1" before every transaction was a fifth of a message's round trips.
    # A connection the server dropped (restart, pg_terminate_backend, failover) is found at checkout
    # without a round trip instead (_drop_dead_connections), and whatever slips through fails as a 503
    # (_faults.py) and invalidates the pool, so one outage does not fail requests after it is over.
    # pool_recycle: nor does an idle connection outlive a firewall's or a pooler's idle timeout.
    # connect_timeout: a server that does not answer at all is a 503 after 10 s, not a hung request.
    connect_args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=connect_args,
    )
    event.listen(engine, "checkout", _drop_dead_connections)
    return engine


def _kept_connections(engine: Engine) -> int:
    """How many connections the store keeps between transactions (_sqlkeep.py): SQLite's one writer
    needs one; PostgreSQL as many as the pool keeps idle, so that the hub opens no more than before.
    None at all from a pool that is not a queue (SQLite in memory: a connection per thread, each its
    own database): every transaction checks one out and in, as before."""
    if not isinstance(engine.pool, QueuePool):
        return 0
    return 1 if engine.dialect.name == "sqlite" else engine.pool.size()


def _drop_dead_connections(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection its server has closed or is closing; the pool then opens another.

    An idle client connection never has anything to read: readable means the server sent something
    unasked — the FATAL notice of a terminated backend, or end of file. One ``poll`` call with no
    timeout says so, where a pre-ping costs a round trip to the server."""
    fileno = getattr(dbapi_conn, "fileno", None)
    if fileno is None:
        return
    try:
        watch = poll()  # not select(): it fails on descriptors above 1023, which a busy hub has
        watch.register(fileno(), POLLIN)
        readable = watch.poll(0)
    except (OSError, ValueError) as error:  # already closed
        raise DisconnectionError(f"pooled connection unusable: {error}") from error
    if readable:
        raise DisconnectionError("the server closed this pooled connection")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN IMMEDIATE
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a transaction the hub has acknowledged survives a power cut, not just a crash.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read that writes nothing (SqlStore._read) begins deferred: in WAL mode it reads a snapshot
        # and never takes, nor waits for, the writer's place.
        # Sent as the hot statements are (_sqlfast.py): every write transaction begins here.
        send_begin(conn, "BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


class SqlStore:
    """The :class:`~lienthong.store.Store` contract over SQLAlchemy Core."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._is_postgres = engine.dialect.name == "postgresql"
        # SQLite has one writer at a time. Threads of this process queue here, in order, instead of
        # in SQLite's busy handler, which sleeps up to 100 ms between tries: bench/e2e.py measured the
        # 202 answer's p99 falling from ~550 ms to ~70 ms. Other processes still meet busy_timeout.
        self._writer: AbstractContextManager[object] = (
            nullcontext() if engine.dialect.name != "sqlite" else threading.Lock()
        )
        self._availability = Availability()
        # Writes run on connections kept between transactions (_sqlkeep.py), not a checkout each.
        self._kept = KeptConnections(engine, keep=_kept_connections(engine))
        # A store dropped without close() (a script, a test) still gives its kept connections back:
        # left to the garbage collector they would be deleted open, outside any pool.
        weakref.finalize(self, partial(self._kept.drop_all, hard=True))
        self._accepts: GroupCommit[_Accept, AcceptResult] = GroupCommit(self._write_accepts)
        self._outcomes: GroupCommit[tuple[Claim, Outcome], None] = GroupCommit(self._write_outcomes)

    @contextmanager
    def _tx(self, operation: str) -> Iterator[Connection]:
        """One transaction; if the database is unavailable, a StoreUnavailableError (see _faults)."""
        with self._availability.guard(operation), self._writer, self._kept.transaction() as conn:
            yield conn

    def _run(self, operation: str, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction, like :meth:`_tx`, run again once on a new connection if the
        server had dropped the first one (there is no pre-ping: see create_store_engine), or rolled it
        back to break a deadlock or a serialization conflict, which is how PostgreSQL asks for a retry.
        A drop invalidates the whole pool and drops the kept connections (_sqlkeep.py), so the second
        try connects afresh; an outage fails it too.
        Only for work that may run twice: if the drop came at COMMIT and the first try did commit,
        the second finds its rows there (a repeat's answer, a lost claim, a claim left to expire)."""
        with self._availability.guard(operation), self._writer:
            try:
                return self._kept.run(work)
            except DBAPIError as error:
                if not (error.connection_invalidated or _rolled_back_by_server(error)):
                    raise
            return self._kept.run(work)

    def _read(self, operation: str, work: Callable[[Connection], T]) -> T:
        """``work``, which only reads, in one transaction that neither takes this process's writer
        lock nor, on SQLite, the database's (a deferred ``BEGIN``: a WAL snapshot). A read that
        lasts, such as counting a large backlog, then holds up no claim, outcome or intake. Run
        again once on a new connection if the server had dropped the first, like :meth:`_run`."""
        with self._availability.guard(operation):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{_READ_ONLY: True})
                    with conn.begin():
                        return work(conn)
            except DBAPIError as error:
                if not (error.connection_invalidated or _rolled_back_by_server(error)):
                    raise
            with self.engine.connect() as conn:
                conn.execution_options(**{_READ_ONLY: True})
                with conn.begin():
                    return work(conn)

    # ------------------------------------------------------------------ intake

    def accept(
        self,
        envelope: Envelope,
        route: RouteDecision,
        deliveries_: Sequence[PreparedDelivery],
        offer: ClaimOffer | None = None,
    ) -> AcceptResult:
        """Concurrent accepts share one transaction (_sqlbatch.py); each returns after its commit."""
        pending = _Accept(envelope, route, tuple(deliveries_), envelope.fingerprint(), offer)
        return self._accepts.submit(pending)

    def _write_accepts(self, batch: Sequence[_Accept]) -> list[AcceptResult | BaseException]:
        """The batch in one transaction, one statement per table (on PostgreSQL one in all), no read
        first: the unique idempotency key decides. If any insert fails (a repeat, a race, a bad row),
        each message is written again on its own, so that one message's fault is its answer only."""
        keys = {(a.envelope.sender, a.envelope.sender_message_id) for a in batch}
        if len(keys) == len(batch):
            try:
                claims = self._run("accept", lambda conn: _insert_accepts(conn, batch, utcnow()))
            except DBAPIError:
                pass  # not an outage (those are StoreUnavailableError): find out which one, alone
            else:
                return [a.created(c) for a, c in zip(batch, claims, strict=True)]
        answers: list[AcceptResult | BaseException] = []
        for pending in batch:
            try:
                answers.append(self._accept_one(pending))
            except Exception as error:
                answers.append(error)
        return answers

    def _accept_one(self, pending: _Accept) -> AcceptResult:
        try:
            claims = self._run("accept", lambda conn: _insert_accepts(conn, [pending], utcnow()))
        except IntegrityError:
            # Accepted before (a repeat), or two submissions of one sender id raced: the first one's answer.
            with self._tx("accept") as conn:
                existing = self._existing(conn, pending.envelope, pending.fingerprint)
            if existing is None:
                raise
            return existing
        return pending.created(claims[0])

    def _existing(self, conn: Connection, envelope: Envelope, fingerprint: str) -> AcceptResult | None:
        row = conn.execute(
            select(
                idempotency_keys.c.fingerprint,
                idempotency_keys.c.message_id,
                messages.c.correlation_id,
                messages.c.received_at,
            )
            .join(messages, messages.c.id == idempotency_keys.c.message_id)
            .where(
                idempotency_keys.c.sender == envelope.sender,
                idempotency_keys.c.sender_message_id == envelope.sender_message_id,
            )
        ).first()
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            raise IdempotencyConflictError(
                f"message id {envelope.sender_message_id!r} from {envelope.sender} was already accepted "
                f"with different content (hub message {row.message_id}); send new content under a new id",
                detail={"message_id": str(row.message_id), "sender_message_id": envelope.sender_message_id},
            )
        return AcceptResult(
            message_id=row.message_id,
            created=False,
            route=self._route(conn, row.message_id),
            correlation_id=row.correlation_id,
            received_at=row.received_at,
        )

    def _insert_route(
        self,
        conn: Connection,
        message_id: uuid.UUID,
        route: RouteDecision,
        prepared: Sequence[PreparedDelivery],
        now: datetime,
    ) -> None:
        conn.execute(
            insert(route_decisions).values(
                message_id=message_id,
                decided_at=now,
                status=route.status.value,
                rule=route.rule,
                targets=list(route.targets),
                reason=route.reason,
            )
        )
        rows = [
            {
                "message_id": message_id,
                "target": p.target,
                "operation": p.operation,
                "state": DeliveryState.QUEUED.value,
                "attempts": 0,
                "round_attempts": 0,
                "next_attempt_at": now,
                "content_type": p.content_type,
                "created_at": now,
                "updated_at": now,
            }
            for p in prepared
        ]
        # A row at a time: each payload row needs its delivery's id (a message has a few targets at most).
        ids = [_inserted_id(conn.execute(insert(deliveries).values(**row))) for row in rows]
        _insert_payloads(conn, [(i, p.payload) for i, p in zip(ids, prepared, strict=True)])

    def record_exchange(self, envelope: Envelope, route: RouteDecision, exchange: Exchange) -> None:
        fingerprint = envelope.fingerprint()
        outcome = exchange.outcome
        with self._tx("record_exchange") as conn:
            now = utcnow()
            _insert_message(conn, envelope, fingerprint, now)
            conn.execute(
                insert(route_decisions).values(
                    message_id=envelope.message_id,
                    decided_at=now,
                    status=route.status.value,
                    rule=route.rule,
                    targets=list(route.targets),
                    reason=route.reason,
                )
            )
            inserted = conn.execute(
                insert(deliveries).values(
                    message_id=envelope.message_id,
                    target=exchange.target,
                    operation=exchange.operation,
                    state=DeliveryState.DELIVERED.value,
                    attempts=1,
                    round_attempts=1,
                    round_started_at=exchange.started_at,
                    content_type=exchange.content_type,
                    response=outcome.response,
                    response_status=outcome.response_status,
                    created_at=exchange.started_at,
                    updated_at=now,
                    delivered_at=now,
                )
            ).inserted_primary_key
            assert inserted is not None
            delivery_id = inserted[0]
            _insert_payloads(conn, [(delivery_id, exchange.payload)])
            conn.execute(
                insert(attempts).values(
                    delivery_id=delivery_id,
                    number=1,
                    worker=exchange.worker,
                    started_at=exchange.started_at,
                    finished_at=now,
                    outcome=AttemptOutcome.DELIVERED.value,
                    response_status=outcome.response_status,
                    request=outcome.request,
                    response=outcome.response,
                )
            )

    def reroute(
        self, message_id: uuid.UUID, route: RouteDecision, deliveries_: Sequence[PreparedDelivery]
    ) -> None:
        with self._tx("reroute") as conn:
            current = self._route(conn, message_id)
            if current.status is not RouteStatus.UNROUTABLE:
                raise NotFoundError(f"message {message_id} is not unroutable; nothing to re-route")
            self._insert_route(conn, message_id, route, deliveries_, utcnow())

    # ------------------------------------------------------------------ delivery

    def claim_due(
        self,
        worker: str,
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> list[Claim]:
        """One statement a batch on PostgreSQL, three on SQLite, however many rows (_sqlclaim.py)."""
        claim = self._claimer(worker, limit, lease, exclude_targets, only_targets)
        return [] if claim is None else self._run("claim_due", claim)

    def settle(
        self,
        worker: str,
        outcomes: Sequence[tuple[Claim, Outcome]],
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str] = (),
        only_targets: Collection[str] | None = None,
    ) -> Settled:
        """The outcomes as :meth:`_write_outcomes` writes a batch (:func:`_record_batch`), then the claim as
        :meth:`claim_due` makes it, in one transaction. If a claim was lost or a part is large, the
        transaction is rolled back and made again with each outcome written on its own, still in
        one transaction with the claim: an UPDATE that finds the claim lost changes nothing."""
        claim = self._claimer(worker, limit, lease, exclude_targets, only_targets)
        if not outcomes:
            return Settled((), [] if claim is None else self._run("settle", claim))
        now = utcnow()

        def settle(conn: Connection, *, one_by_one: bool) -> Settled:
            if one_by_one:
                # In id order, as every statement locking several deliveries does (_write_outcomes).
                order = sorted(range(len(outcomes)), key=lambda i: outcomes[i][0].delivery_id)
                lost = {i: _record_held_or_lost(conn, *outcomes[i], now) for i in order}
                errors = tuple(lost[i] for i in range(len(outcomes)))
            else:
                _record_batch(conn, outcomes, now)
                errors = (None,) * len(outcomes)
            return Settled(errors, [] if claim is None else claim(conn))

        try:
            return self._run("settle", partial(settle, one_by_one=False))
        except _OneByOne:
            return self._run("settle", partial(settle, one_by_one=True))

    def _claimer(
        self,
        worker: str,
        limit: int,
        lease: timedelta,
        exclude_targets: Collection[str],
        only_targets: Collection[str] | None,
    ) -> Callable[[Connection], list[Claim]] | None:
        """The claim as work for one transaction (:meth:`_run`); None when it could claim nothing."""
        if limit <= 0 or (only_targets is not None and not only_targets):
            return None
        now = utcnow()
        lease_until = now + lease
        query = _claim_select(bool(exclude_targets), only_targets is not None, postgres=self._is_postgres)
        params: dict[str, Any] = {"b_now": now, "b_limit": limit}
        if exclude_targets:
            params["b_exclude"] = list(exclude_targets)
        if only_targets is not None:
            params["b_only"] = list(only_targets)
        if self._is_postgres:
            params.update(
                b_worker=worker, b_lease_until=lease_until, b_released=AttemptOutcome.RELEASED.value
            )

        def claim(conn: Connection) -> list[Claim]:
            rows = sorted(query.values(conn, params), key=by_due)
            if not rows:
                return []
            counted = 0 if self._is_postgres else 1  # PostgreSQL's rows are the claimed ones already
            # A message's deliveries often fall due together (those of one accept): one header each.
            headers: dict[uuid.UUID, EnvelopeHeader] = {}
            claims = []
            for row in rows:
                header = headers.get(row[HEADER_AT])
                if header is None:
                    header = headers[row[HEADER_AT]] = _claimed_header(row[HEADER_AT:])
                payload = row[PAYLOAD]
                claims.append(
                    Claim(
                        delivery_id=row[ID],
                        target=row[TARGET],
                        attempt=row[ATTEMPTS] + counted,
                        round_attempt=row[ROUND_ATTEMPTS] + counted,
                        first_attempt_at=row[ROUND_STARTED_AT] or now,
                        payload=payload
                        if payload is not None
                        else read_blob(conn, "delivery_payloads", "payload", row[ID]),
                        content_type=row[CONTENT_TYPE],
                        envelope=header,
                        worker=worker,
                        lease_until=lease_until,
                        operation=row[OPERATION],
                    )
                )
            if self._is_postgres:
                return claims  # claimed, attempts started and expired ones closed by the one statement
            expired = [r for r in rows if r[STATE] == DeliveryState.IN_FLIGHT.value]
            if expired:
                # The previous holders' leases ran out: they crashed or hung. Say so in the history.
                conn.execute(
                    _RELEASE_EXPIRED,
                    [
                        {
                            "b_id": r[ID],
                            "b_number": r[ATTEMPTS],
                            "b_finished": now,
                            "b_error": expired_error(r[CLAIMED_BY]),
                        }
                        for r in expired
                    ],
                )
            writes = {
                "b_ids": [r[ID] for r in rows],
                "b_now": now,
                "b_worker": worker,
                "b_lease_until": lease_until,
            }
            _CLAIM.execute(conn, writes)
            _START_ATTEMPTS.execute(conn, writes)
            return claims

        return claim

    def record_outcome(self, claim: Claim, outcome: Outcome) -> None:
        """Concurrent outcomes share one transaction (_sqlbatch.py); each returns after its commit."""
        self._outcomes.submit((claim, outcome))  # raises this outcome's error, if it has one

    def _write_outcomes(self, batch: Sequence[tuple[Claim, Outcome]]) -> list[BaseException | None]:
        """The batch in one statement or two (:func:`_record_batch`). If a claim was lost, or a request or
        answer is large enough to be streamed, each outcome is recorded on its own."""
        now = utcnow()
        try:
            self._run("record_outcome", lambda conn: _record_batch(conn, batch, now))
        except _OneByOne:
            pass
        else:
            return [None] * len(batch)
        answers: list[BaseException | None] = []
        for claim, outcome in batch:
            try:
                self._record_one(claim, outcome)
            except Exception as error:
                answers.append(error)
            else:
                answers.append(None)
        return answers

    def _record_one(self, claim: Claim, outcome: Outcome) -> None:
        with self._tx("record_outcome") as conn:
            _record_held(conn, claim, outcome, utcnow())

    def release(self, claims: Sequence[Claim], reason: str) -> None:
        now = utcnow()
        with self._tx("release") as conn:
            for claim in sorted(claims, key=_claim_id):  # in id order: see _write_outcomes
                result = conn.execute(
                    _update_held(claim).values(
                        state=DeliveryState.QUEUED.value,
                        round_attempts=deliveries.c.round_attempts - 1,
                        claimed_by=None,
                        lease_until=None,
                        next_attempt_at=now,
                        updated_at=now,
                    )
                )
                if result.rowcount == 1:
                    conn.execute(
                        update(attempts)
                        .where(
                            attempts.c.delivery_id == claim.delivery_id, attempts.c.number == claim.attempt
                        )
                        .values(
                            finished_at=now,
                            outcome=AttemptOutcome.RELEASED.value,
                            error=reason,
                        )
                    )

    def extend_leases(self, claims: Sequence[Claim], lease: timedelta) -> set[int]:
        if not claims:
            return set()
        now = utcnow()
        held: set[int] = set()
        with self._tx("extend_leases") as conn:
            for claim in sorted(claims, key=_claim_id):  # in id order: see _write_outcomes
                result = conn.execute(_update_held(claim).values(lease_until=now + lease))
                if result.rowcount == 1:
                    held.add(claim.delivery_id)
        return held

    def replay_dead(self, flt: MessageFilter) -> list[int]:
        now = utcnow()
        query = select(deliveries.c.id).where(deliveries.c.state == DeliveryState.DEAD.value)
        query = _filter_deliveries(query, flt).limit(flt.limit)
        with self._tx("replay_dead") as conn:
            ids = [row.id for row in conn.execute(query)]
            if ids:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids), deliveries.c.state == DeliveryState.DEAD.value)
                    .values(
                        state=DeliveryState.QUEUED.value,
                        round_attempts=0,
                        round_started_at=None,
                        next_attempt_at=now,
                        updated_at=now,
                    )
                )
        return ids

    # ------------------------------------------------------------------ polling

    def awaiting_answers(
        self, target: str, operation: str, agency: str, kind: MessageKind, since: datetime, limit: int
    ) -> list[AwaitingDossier]:
        from lienthong.store._sqlpoll import select_awaiting  # polling's queries, apart (see there)

        with self._tx("awaiting_answers") as conn:
            return select_awaiting(
                conn, target=target, operation=operation, agency=agency, kind=kind, since=since, limit=limit
            )

    def start_poll(self, key: str, owner: str, lease: timedelta, next_due: timedelta) -> bool:
        from lienthong.store._sqlpoll import take_poll

        with self._tx("start_poll") as conn:
            return take_poll(
                conn, postgres=self._is_postgres, key=key, owner=owner, lease=lease, next_due=next_due
            )

    def end_poll(self, key: str, owner: str) -> None:
        from lienthong.store._sqlpoll import give_back_poll

        with self._tx("end_poll") as conn:
            give_back_poll(conn, key=key, owner=owner)

    # ------------------------------------------------------------------ reading

    def get_message(self, message_id: uuid.UUID) -> MessageRecord:
        with self._tx("get_message") as conn:
            records = self._records(conn, [message_id])
        if not records:
            raise NotFoundError(f"no message with id {message_id}")
        return records[0]

    def list_messages(self, flt: MessageFilter) -> list[MessageRecord]:
        latest = (
            select(route_decisions.c.message_id, func.max(route_decisions.c.id).label("rid"))
            .group_by(route_decisions.c.message_id)
            .subquery()
        )
        query = select(messages.c.id).order_by(messages.c.received_at.desc()).limit(flt.limit)
        if flt.message_ids:
            query = query.where(messages.c.id.in_(list(flt.message_ids)))
        if flt.kind is not None:
            query = query.where(messages.c.kind == flt.kind.value)
        if flt.sender:
            query = query.where(messages.c.sender == flt.sender)
        if flt.procedure_code:
            query = query.where(messages.c.procedure_code == flt.procedure_code)
        if flt.correlation_id is not None:
            query = query.where(messages.c.correlation_id == flt.correlation_id)
        if flt.since:
            query = query.where(messages.c.received_at >= flt.since)
        if flt.parties is not None:
            query = query.where(_party_of(flt.parties))
        if flt.unroutable:
            query = (
                query.join(latest, latest.c.message_id == messages.c.id)
                .join(route_decisions, route_decisions.c.id == latest.c.rid)
                .where(route_decisions.c.status == RouteStatus.UNROUTABLE.value)
            )
        if flt.targets or flt.states:
            sub = _filter_deliveries(select(deliveries.c.message_id), flt)
            query = query.where(messages.c.id.in_(sub))
        with self._tx("list_messages") as conn:
            ids = [row.id for row in conn.execute(query)]
            return self._records(conn, ids)

    def dossier_trail(self, dossier_code: str, parties: Parties | None = None) -> list[TrailEntry]:
        from lienthong.store._sqltrail import select_trail  # it builds on this module's helpers

        with self._tx("dossier_trail") as conn:
            return select_trail(conn, dossier_code, parties)

    def document_trail(self, document_id: str, parties: Parties | None = None) -> list[TrailEntry]:
        from lienthong.store._sqldocs import select_document_trail  # documents' queries, apart

        with self._tx("document_trail") as conn:
            return select_document_trail(conn, document_id, parties)

    def unmatched_status_packages(self, parties: Parties | None = None, limit: int = 100) -> list[TrailEntry]:
        from lienthong.store._sqldocs import select_unmatched

        with self._tx("unmatched_status_packages") as conn:
            return select_unmatched(conn, parties, limit)

    def counts(self) -> StateCounts:
        """Read from indexes alone, in a transaction that takes no lock (_sqlstate.py)."""
        return self._read("counts", read_counts)

    def close(self) -> None:
        """Close the database's connections. A transaction still running ends as it would have and
        its connection, kept no longer, goes back to the pool (_sqlkeep.py)."""
        self._kept.drop_all()
        self.engine.dispose()

    # ------------------------------------------------------------------ helpers

    def _route(self, conn: Connection, message_id: uuid.UUID) -> RouteDecision:
        row = conn.execute(
            select(route_decisions)
            .where(route_decisions.c.message_id == message_id)
            .order_by(route_decisions.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            raise NotFoundError(f"message {message_id} has no route decision")
        return _decision(row._mapping)

    def _envelopes(self, conn: Connection, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Envelope]:
        rows = conn.execute(
            select(messages, message_payloads.c.payload)
            .join(message_payloads, message_payloads.c.message_id == messages.c.id)
            .where(messages.c.id.in_(list(ids)))
        ).mappings()
        return {row["id"]: _envelope(row) for row in rows}

    def _records(self, conn: Connection, ids: Sequence[uuid.UUID]) -> list[MessageRecord]:
        if not ids:
            return []
        envelopes = self._envelopes(conn, ids)
        routes: dict[uuid.UUID, list[RouteDecision]] = {}
        for row in conn.execute(
            select(route_decisions)
            .where(route_decisions.c.message_id.in_(list(ids)))
            .order_by(route_decisions.c.id)
        ).mappings():
            routes.setdefault(row["message_id"], []).append(_decision(row))
        delivery_rows = (
            conn.execute(
                select(deliveries, delivery_payloads.c.payload)
                .join(delivery_payloads, delivery_payloads.c.delivery_id == deliveries.c.id)
                .where(deliveries.c.message_id.in_(list(ids)))
                .order_by(deliveries.c.id)
            )
            .mappings()
            .all()
        )
        history: dict[int, list[AttemptRecord]] = {}
        if delivery_rows:
            for row in conn.execute(
                select(attempts)
                .where(attempts.c.delivery_id.in_([d["id"] for d in delivery_rows]))
                .order_by(attempts.c.delivery_id, attempts.c.number)
            ).mappings():
                history.setdefault(row["delivery_id"], []).append(_attempt(row))
        per_message: dict[uuid.UUID, list[DeliveryRecord]] = {}
        for d in delivery_rows:
            per_message.setdefault(d["message_id"], []).append(_delivery(d, history.get(d["id"], [])))
        return [
            MessageRecord(
                envelope=envelopes[mid],
                route=routes[mid][-1],
                route_history=tuple(routes[mid]),
                deliveries=tuple(per_message.get(mid, [])),
            )
            for mid in ids
            if mid in envelopes
        ]


@dataclass(frozen=True)
class _Accept:
    """One message waiting in a group commit (see SqlStore.accept)."""

    envelope: Envelope
    route: RouteDecision
    prepared: tuple[PreparedDelivery, ...]
    fingerprint: str
    offer: ClaimOffer | None = None

    def created(self, claims: tuple[Claim, ...]) -> AcceptResult:
        return AcceptResult(
            message_id=self.envelope.message_id,
            created=True,
            route=self.route,
            correlation_id=self.envelope.correlation_id,
            received_at=self.envelope.received_at,
            claims=claims,
        )


# Compiled once per dialect and sent as driver SQL (_sqlfast.py): every accepted message runs them.
_INSERT_MESSAGES = DriverStatement(insert(messages).inline(), [c.name for c in messages.c])
_INSERT_MESSAGE_PAYLOADS = insert(message_payloads)  # a large payload's row (a zeroblob), built per call
_INSERT_SMALL_MESSAGE_PAYLOADS = DriverStatement(_INSERT_MESSAGE_PAYLOADS.inline(), ["message_id", "payload"])
_INSERT_DOCUMENT_LINKS = DriverStatement(
    insert(document_links).inline(), ["message_id", "document_id", "role"]
)
_INSERT_IDEMPOTENCY_KEYS = DriverStatement(
    insert(idempotency_keys).inline(), [c.name for c in idempotency_keys.c]
)
_INSERT_ROUTE_DECISIONS = DriverStatement(
    insert(route_decisions).inline(), ["message_id", "decided_at", "status", "rule", "targets", "reason"]
)
#: A delivery is known by its message and target, which are unique together: the ids come back in no
#: particular order, with the message id as the driver has it (_delivery_ids). A delivery claimed at
#: accept (ClaimOffer) is written as the claim would leave it: in flight, attempts counted, round
#: started, leased; the others queued with those columns NULL and zero.
_INSERT_DELIVERIES = DriverStatement(
    insert(deliveries).inline().returning(deliveries.c.id, deliveries.c.message_id, deliveries.c.target),
    [
        "message_id",
        "target",
        "operation",
        "state",
        "attempts",
        "round_attempts",
        "round_started_at",
        "next_attempt_at",
        "claimed_by",
        "lease_until",
        "content_type",
        "created_at",
        "updated_at",
    ],
)
_INSERT_DELIVERY_PAYLOADS = DriverStatement(insert(delivery_payloads).inline(), ["delivery_id", "payload"])


def _insert_accepts(conn: Connection, batch: Sequence[_Accept], now: datetime) -> list[tuple[Claim, ...]]:
    """Accepted messages, their routes and their deliveries: one statement per table for the batch
    (on PostgreSQL, one statement for them all: _insert_at_once), except large payloads, whose bytes
    are streamed in one by one on SQLite (_blobs.py). Rows are built as
    tuples in each statement's column order (DriverStatement.driver_rows), no mapping per row.
    Deliveries an accept's offer takes are stored claimed, with their attempts (one more statement);
    their claims come back, per accept."""
    message_rows, payload_rows, link_rows, key_rows, route_rows = [], [], [], [], []
    delivery_rows: list[tuple[Any, ...]] = []
    streamed: list[tuple[uuid.UUID, bytes]] = []
    payloads: list[bytes] = []  # each delivery's, in delivery_rows' order
    #: Per claimed delivery: its index in delivery_rows, the accept it belongs to, what it sends.
    claimed: list[tuple[int, int, PreparedDelivery, ClaimOffer, EnvelopeHeader]] = []
    queued, in_flight = DeliveryState.QUEUED.value, DeliveryState.IN_FLIGHT.value
    for number, a in enumerate(batch):
        envelope = a.envelope
        message_id = envelope.message_id
        message_rows.append(_message_values(envelope, a.fingerprint))
        if streams(conn, envelope.payload):
            streamed.append((message_id, envelope.payload))
        else:
            payload_rows.append((message_id, envelope.payload))
        link_rows += [
            (message_id, d, role) for d, role in document_links_of(envelope.headers, envelope.document_id)
        ]
        key_rows.append((envelope.sender, envelope.sender_message_id, a.fingerprint, message_id, now))
        route = a.route
        route_rows.append(
            (message_id, now, route.status.value, route.rule, list(route.targets), route.reason)
        )
        offer = a.offer
        picks = offer.picks(a.prepared) if offer is not None else None
        header = stored_envelope(envelope).header() if picks is not None and any(picks) else None
        for index, p in enumerate(a.prepared):
            # attempts, round_attempts, round_started_at, next_attempt_at, claimed_by, lease_until
            columns: tuple[Any, ...]
            if picks is not None and picks[index]:
                assert offer is not None and header is not None
                claimed.append((len(delivery_rows), number, p, offer, header))
                state, columns = in_flight, (1, 1, now, now, offer.worker, now + offer.lease)
            else:
                state, columns = queued, (0, 0, None, now, None, None)
            delivery_rows.append(
                (message_id, p.target, p.operation, state, *columns, p.content_type, now, now)
            )
            payloads.append(p.payload)
    tables = (
        (_INSERT_MESSAGES, message_rows),
        (_INSERT_SMALL_MESSAGE_PAYLOADS, payload_rows),
        (_INSERT_DOCUMENT_LINKS, link_rows),
        (_INSERT_IDEMPOTENCY_KEYS, key_rows),
        (_INSERT_ROUTE_DECISIONS, route_rows),
    )
    postgres = conn.dialect.name == "postgresql"
    if postgres:  # nothing streams there (_blobs.py)
        ids = _insert_at_once(conn, tables, delivery_rows, payloads, [row for row, *_ in claimed])
    else:
        ids = _insert_by_table(conn, tables, streamed, delivery_rows, payloads)
    claims: list[list[Claim]] = [[] for _ in batch]
    if claimed:
        made = [(number, offer.claim(ids[row], p, header, now)) for row, number, p, offer, header in claimed]
        if not postgres:  # PostgreSQL's attempts went in with the rest
            _insert(conn, _INSERT_ATTEMPTS, [(c.delivery_id, 1, c.worker, now) for _, c in made])
        for number, claim in made:
            claims[number].append(claim)
    return [tuple(c) for c in claims]


def _insert_by_table(
    conn: Connection,
    tables: Sequence[tuple[DriverStatement, Sequence[tuple[Any, ...]]]],
    streamed: Sequence[tuple[uuid.UUID, bytes]],
    delivery_rows: Sequence[tuple[Any, ...]],
    payloads: Sequence[bytes],
) -> list[int]:
    """The accept's rows a statement per table (SQLite's statements cost little: no round trip), the
    large message payloads after the others, streamed in; each delivery's id, in order."""
    for statement, rows in tables:
        if rows:
            _insert(conn, statement, rows)
        if statement is _INSERT_SMALL_MESSAGE_PAYLOADS:
            for message_id, payload in streamed:
                row = {"message_id": message_id, "payload": zeroblob(payload)}
                result = conn.execute(_INSERT_MESSAGE_PAYLOADS.values(**row))
                write_blob(conn, "message_payloads", "payload", _rowid(result), payload)
    if not delivery_rows:
        return []
    ids = _delivery_ids(conn, delivery_rows)
    _insert_payloads(conn, list(zip(ids, payloads, strict=True)))
    return ids


def _insert_at_once(
    conn: Connection,
    tables: Sequence[tuple[DriverStatement, Sequence[tuple[Any, ...]]]],
    delivery_rows: Sequence[tuple[Any, ...]],
    payloads: Sequence[bytes],
    claimed: Sequence[int] = (),
) -> list[int]:
    """PostgreSQL: the accept's rows in one statement, each table's INSERT (the one :func:`_insert`
    sends) a data-modifying ``WITH`` query of it; the deliveries' payloads, and the first attempts of
    those stored claimed (``claimed``: their indexes in ``delivery_rows``), go in under the ids their
    deliveries get there, found by message and target (unique together). psycopg's ``execute`` costs
    ~30-40 µs of CPU whatever it carries: five to seven statements an accept became one. The foreign
    keys are checked at the statement's end, when every row is in. Each delivery's id, in order."""
    params: list[Any] = []
    shape = []
    for statement, rows in tables:
        values = statement.driver_rows(conn, rows)
        params += flat_values(values)
        shape.append((statement, len(values)))
    delivery_values = _INSERT_DELIVERIES.driver_rows(conn, delivery_rows)
    params += flat_values(delivery_values)
    shape.append((_INSERT_DELIVERIES, len(delivery_values)))
    for row, payload in zip(delivery_values, payloads, strict=True):
        params += (row[0], row[1], payload)  # its message id and target as the driver has them
    for index in claimed:  # its attempt: the number, worker and start its claimed row holds
        row = delivery_values[index]
        params += (row[0], row[1], *(row[i] for i in _ATTEMPT_OF_DELIVERY))
    shape.append((_INSERT_ATTEMPTS, len(claimed)))
    sql, numbered_sql = _accept_sql(conn.dialect, tuple(shape))
    returning = bool(delivery_rows)
    sent = send_numbered(conn, numbered_sql, params, rows=returning)
    if sent is None:
        sent = send(conn, sql, tuple(params), rows=returning)
    ids = {(m, t): i for i, m, t in sent.rows}
    return [ids[row[0], row[1]] for row in delivery_values]


@lru_cache(maxsize=32)  # shapes vary with the batch (a few are common); one of 64 dossiers: ~140 KB
def _accept_sql(dialect: Dialect, shape: tuple[tuple[DriverStatement, int], ...]) -> tuple[str, str]:
    """The statement of :func:`_insert_at_once` for ``shape``, with ``%s`` placeholders and numbered
    (:func:`~lienthong.store._sqlfast.send_numbered`)."""
    sql = _accept_statement(dialect, shape)
    return sql, numbered(sql)


#: Where a delivery stored claimed holds what its first attempt's row is: the attempt's number
#: (``attempts``), ``worker`` (``claimed_by``) and ``started_at`` (``round_started_at``): the values
#: ClaimOffer.claim gives the Claim, and so the attempt row the other backends write from it.
_ATTEMPT_OF_DELIVERY: Final = tuple(
    _INSERT_DELIVERIES.columns.index(c) for c in ("attempts", "claimed_by", "round_started_at")
)


def _accept_statement(dialect: Dialect, shape: Sequence[tuple[DriverStatement, int]]) -> str:
    """Each table's INSERT of as many rows as ``shape`` gives it (none: left out), then the deliveries'
    and the attempts' numbers; its parameters in that order, then each delivery's payload row (message
    id, target, payload), then each claimed delivery's attempt row (message id, target, number,
    worker, start)."""
    *tables, (deliveries_, count), (_, attempts_) = shape
    queries = [statement.multi_row(dialect, n) for statement, n in tables if n]
    if not count:  # the last INSERT is the statement, the others its WITH queries
        *before, last = queries
        return f"WITH {', '.join(f'i{n} AS ({q})' for n, q in enumerate(before))} {last}" if before else last
    rows = ", ".join(["(%s::UUID, %s::VARCHAR, %s::BYTEA)"] * count)
    attempts_of = ""
    if attempts_:
        attempt = "(%s::UUID, %s::VARCHAR, %s::INTEGER, %s::VARCHAR, %s::TIMESTAMP WITH TIME ZONE)"
        claimed = ", ".join([attempt] * attempts_)
        attempts_of = (
            ", a AS (INSERT INTO attempts (delivery_id, number, worker, started_at)"
            " SELECT d.id, v.number, v.worker, v.started_at FROM d"
            f" JOIN (VALUES {claimed}) AS v (message_id, target, number, worker, started_at)"
            " ON d.message_id = v.message_id AND d.target = v.target)"
        )
    return (
        f"WITH {''.join(f'i{n} AS ({q}), ' for n, q in enumerate(queries))}"
        f"d AS ({deliveries_.multi_row(dialect, count)}),"
        " p AS (INSERT INTO delivery_payloads (delivery_id, payload) SELECT d.id, v.payload FROM d"
        f" JOIN (VALUES {rows}) AS v (message_id, target, payload)"
        f" ON d.message_id = v.message_id AND d.target = v.target){attempts_of}"
        " SELECT d.id, d.message_id, d.target FROM d"
    )


def _insert(conn: Connection, statement: DriverStatement, rows: Sequence[tuple[Any, ...]]) -> None:
    statement.insert(conn, statement.driver_rows(conn, rows))


def _delivery_ids(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Insert ``rows`` (tuples in _INSERT_DELIVERIES' column order) into deliveries in one statement;
    each row's id, in order. The ids come back in no particular order, each with its row's message id
    as the driver has it (32 hex digits on SQLite) and target: the row's own driver values."""
    values = _INSERT_DELIVERIES.driver_rows(conn, rows)
    returned = _INSERT_DELIVERIES.insert(conn, values, returning=True).rows
    ids = {(m, t): i for i, m, t in returned}
    return [ids[row[0], row[1]] for row in values]


_RELEASE_EXPIRED = (
    update(attempts)
    .where(attempts.c.delivery_id == bindparam("b_id"), attempts.c.number == bindparam("b_number"))
    .values(
        finished_at=bindparam("b_finished", type_=UtcDateTime),
        outcome=AttemptOutcome.RELEASED.value,
        error=bindparam("b_error"),
    )
)
#: SQLite's claim of a batch after its SELECT: one UPDATE, one INSERT of the attempts (_sqlclaim.py).
_CLAIM, _START_ATTEMPTS = (DriverQuery(statement) for statement in sqlite_claim_writes())
_INSERT_ATTEMPTS = DriverStatement(
    insert(attempts).inline(), ["delivery_id", "number", "worker", "started_at"]
)


@cache
def _claim_select(excluding: bool, only: bool, *, postgres: bool) -> DriverQuery:
    """The claim's statement (_sqlclaim.py) sent as driver SQL, its rows as Core gives them (_sqlfast.py):
    every claim runs it, and Core's execution of it cost 50-110 us of CPU more (1 to 4 rows, either
    backend)."""
    return DriverQuery(claim_query(excluding, only, postgres=postgres))


def _rolled_back_by_server(error: DBAPIError) -> bool:
    """PostgreSQL's class 40: the transaction was rolled back (deadlock, serialization) — try again."""
    state = getattr(error.orig, "sqlstate", None)
    return isinstance(state, str) and state.startswith("40")


def _by_id(row: dict[str, Any]) -> int:
    return int(row["b_id"])


def _claim_id(claim: Claim) -> int:
    return claim.delivery_id


def _record_held(conn: Connection, claim: Claim, outcome: Outcome, now: datetime) -> None:
    """One outcome on its own (a large request or answer streamed in). ClaimLostError if the claim
    is no longer held: then this changed nothing, and the transaction may go on."""
    values: dict[str, Any] = {"claimed_by": None, "lease_until": None, "updated_at": now}
    if isinstance(outcome, Delivered):
        state, attempt_outcome, error = DeliveryState.DELIVERED, AttemptOutcome.DELIVERED, None
        values.update(delivered_at=now, next_attempt_at=None, last_error=None)
    elif isinstance(outcome, RetryAt):
        state, attempt_outcome, error = DeliveryState.FAILED, AttemptOutcome.RETRY, outcome.error
        values.update(next_attempt_at=outcome.at, last_error=outcome.error)
    else:
        state, attempt_outcome, error = DeliveryState.DEAD, AttemptOutcome.DEAD, outcome.error
        values.update(next_attempt_at=None, last_error=outcome.error)
    values.update(state=state.value, response=outcome.response, response_status=outcome.response_status)
    result = conn.execute(_update_held(claim).values(**values))
    if result.rowcount != 1:
        raise ClaimLostError(
            f"delivery {claim.delivery_id} attempt {claim.attempt} is not held by {claim.worker}"
        )
    # A large request (an edXML document POSTed as it is stored) is streamed in (_blobs.py).
    large = {
        name: data
        for name, data in (("request", outcome.request), ("response", outcome.response))
        if data is not None and streams(conn, data)
    }
    conn.execute(
        _update_attempt(claim).values(
            finished_at=now,
            outcome=attempt_outcome.value,
            error=error,
            response_status=outcome.response_status,
            request=zeroblob(large["request"]) if "request" in large else outcome.request,
            response=zeroblob(large["response"]) if "response" in large else outcome.response,
        )
    )
    if large:
        attempt_id = conn.execute(
            select(attempts.c.id).where(
                attempts.c.delivery_id == claim.delivery_id, attempts.c.number == claim.attempt
            )
        ).scalar_one()
        for name, data in large.items():
            write_blob(conn, "attempts", name, attempt_id, data)


def _record_held_or_lost(
    conn: Connection, claim: Claim, outcome: Outcome, now: datetime
) -> ClaimLostError | None:
    try:
        _record_held(conn, claim, outcome, now)
    except ClaimLostError as error:
        return error
    return None


def _record_batch(conn: Connection, batch: Sequence[tuple[Claim, Outcome]], now: datetime) -> None:
    """The batch in one statement on PostgreSQL (both UPDATEs from one VALUES list), two on SQLite
    (an ``executemany`` of each UPDATE), or _OneByOne (the caller rolls back) if a claim was lost or
    a part is large enough to be streamed."""
    if _large_parts(conn, batch):
        raise _OneByOne
    # In id order, as every statement locking several deliveries does: two of them can then
    # never wait for each other in a cycle (a deadlock) on PostgreSQL.
    rows = sorted((_outcome_row(claim, outcome, now) for claim, outcome in batch), key=_by_id)
    # Each delivery counted once: a claim twice in the batch is found lost, as by the second UPDATE.
    if len(rows) >= _FROM_VALUES_AT and conn.dialect.name == "postgresql":
        if _RECORD_OUTCOMES.execute(conn, rows) != len(rows):  # one statement for both tables
            raise _OneByOne  # rolled back: which claim was lost is found one by one
        return
    # SQLite's executemany is one prepared statement stepped in C: an UPDATE … FROM a VALUES list
    # measured ~3 µs of CPU more for three outcomes.
    if _RECORD_DELIVERY.execute(conn, rows) != len(rows):
        raise _OneByOne
    _RECORD_ATTEMPT.execute(conn, rows)


class _OneByOne(Exception):
    """A batch of outcomes that must be recorded one at a time instead (rolled back, never raised on)."""


def _large_parts(conn: Connection, batch: Sequence[tuple[Claim, Outcome]]) -> bool:
    """Is a request or an answer of the batch large enough to be streamed in (_blobs.py)?"""
    for _, outcome in batch:
        for data in (outcome.request, outcome.response):
            if data is not None and streams(conn, data):
                return True
    return False


#: An outcome recorded on the delivery while its worker still holds the claim, a row per outcome: the
#: columns every kind of outcome sets (a delivery not delivered has no ``delivered_at`` to keep).
_RECORD_DELIVERY = DriverStatement(
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.state == literal_column(f"'{DeliveryState.IN_FLIGHT.value}'"),
        deliveries.c.claimed_by == bindparam("b_worker"),
        deliveries.c.attempts == bindparam("b_attempt"),
    )
    .values(
        state=bindparam("b_state"),
        next_attempt_at=bindparam("b_next", type_=UtcDateTime),
        last_error=bindparam("b_error"),
        delivered_at=bindparam("b_delivered", type_=UtcDateTime),
        response=bindparam("b_response", type_=LargeBinary),
        response_status=bindparam("b_status"),
        claimed_by=null(),
        lease_until=null(),
        updated_at=bindparam("b_now", type_=UtcDateTime),
    )
)
_RECORD_ATTEMPT = DriverStatement(
    update(attempts)
    .where(attempts.c.delivery_id == bindparam("b_id"), attempts.c.number == bindparam("b_attempt"))
    .values(
        finished_at=bindparam("b_now", type_=UtcDateTime),
        outcome=bindparam("b_outcome"),
        error=bindparam("b_attempt_error"),
        response_status=bindparam("b_status"),
        request=bindparam("b_request", type_=LargeBinary),
        response=bindparam("b_response", type_=LargeBinary),
    )
)

#: PostgreSQL: the two UPDATEs above for a batch of outcomes in one statement whose rows are a VALUES
#: list (``UPDATE … FROM``), with the same values (_sqlfast.py; tests/integration/test_store_outcome_rows.py):
#: one execute where the two per-row statements or two ``UPDATE … FROM`` took two, each ~40 µs of
#: psycopg's CPU (a batch of three, 157 → 77 µs; of one, 121 → 72 µs).
#: The rows of a list are joined to the deliveries in whatever order the plan takes (a hash join: the
#: table's), so the deliveries still held by their claims are first locked in id order by the ``held``
#: CTE (materialized: a SELECT … FOR UPDATE is never inlined; under READ COMMITTED its WHERE is checked
#: again on a row changed meanwhile), as every statement locking several deliveries locks them; the
#: UPDATE ``recorded`` then changes exactly those, each once however often the list names it, and the
#: statement returns a row for each: its row count is the number of outcomes recorded. The state test is
#: written as no index condition: the planner would otherwise walk the in-flight part of (state,
#: next_attempt_at), every row in flight and the dead entries of those that were, instead of looking each
#: id up. The attempts are updated from ``recorded``'s rows, so each only once its delivery is locked
#: (as by the claim that closes an expired one): the attempts' own order cannot deadlock. (A lost claim
#: leaves its attempt alone; the caller rolls the batch back anyway.)
#: The fewest outcomes written this way: every batch, even of one.
_FROM_VALUES_AT = 1
_RECORD_OUTCOMES = DriverUpdateFromValues(
    "WITH v (b_id, b_worker, b_attempt, b_state, b_next, b_error, b_delivered, b_response, b_status,"
    " b_outcome, b_request) AS (VALUES {values}),"
    " held AS MATERIALIZED (SELECT v.* FROM v JOIN deliveries AS d ON d.id = v.b_id"
    f" WHERE (d.state = '{DeliveryState.IN_FLIGHT.value}') IS TRUE AND d.claimed_by = v.b_worker"
    " AND d.attempts = v.b_attempt ORDER BY v.b_id FOR UPDATE OF d),"
    " recorded AS (UPDATE deliveries AS d SET state = v.b_state, next_attempt_at = v.b_next,"
    " last_error = v.b_error, delivered_at = v.b_delivered, response = v.b_response,"
    " response_status = v.b_status, claimed_by = NULL, lease_until = NULL, updated_at = %s"
    " FROM held AS v WHERE d.id = v.b_id RETURNING v.*),"
    " closed AS (UPDATE attempts AS a SET finished_at = %s, outcome = r.b_outcome, error = r.b_error,"
    " response_status = r.b_status, request = r.b_request, response = r.b_response"
    " FROM recorded AS r WHERE a.delivery_id = r.b_id AND a.number = r.b_attempt)"
    " SELECT b_id FROM recorded",
    [
        ("b_id", "bigint"),
        ("b_worker", "text"),
        ("b_attempt", "integer"),
        ("b_state", "text"),
        ("b_next", "timestamptz"),
        ("b_error", "text"),
        ("b_delivered", "timestamptz"),
        ("b_response", "bytea"),
        ("b_status", "integer"),
        ("b_outcome", "text"),
        ("b_request", "bytea"),
    ],
    ["b_now", "b_now"],  # the delivery's updated_at, the attempt's finished_at
    like=(_RECORD_DELIVERY, _RECORD_ATTEMPT),
)


#: What each kind of outcome stores: the delivery's state and the attempt's outcome, as their values
#: (read once here, not through the enums' ``value`` property for every row).
_DELIVERED = (DeliveryState.DELIVERED.value, AttemptOutcome.DELIVERED.value)
_RETRY = (DeliveryState.FAILED.value, AttemptOutcome.RETRY.value)
_DEAD = (DeliveryState.DEAD.value, AttemptOutcome.DEAD.value)


def _outcome_row(claim: Claim, outcome: Outcome, now: datetime) -> dict[str, Any]:
    if isinstance(outcome, Delivered):
        (state, attempt), error, next_at, delivered = _DELIVERED, None, None, now
    elif isinstance(outcome, RetryAt):
        (state, attempt), error, next_at, delivered = _RETRY, outcome.error, outcome.at, None
    else:
        (state, attempt), error, next_at, delivered = _DEAD, outcome.error, None, None
    return {
        "b_id": claim.delivery_id,
        "b_worker": claim.worker,
        "b_attempt": claim.attempt,
        "b_state": state,
        "b_next": next_at,
        "b_error": error,
        "b_delivered": delivered,
        "b_response": outcome.response,
        "b_status": outcome.response_status,
        "b_now": now,
        "b_outcome": attempt,
        "b_attempt_error": error,
        "b_request": outcome.request,
    }


def _claimed_header(values: Sequence[Any]) -> EnvelopeHeader:
    """A message's columns (_sqlclaim.HEADER_COLUMNS: EnvelopeHeader's fields, in order), as a claimed
    row ends with them, as an EnvelopeHeader: unpacked, where a mapping would be built per row."""
    (
        message_id,
        kind,
        sender,
        recipient,
        sender_message_id,
        correlation_id,
        content_type,
        procedure_code,
        dossier_code,
        document_id,
        document_type,
        causation_id,
        headers,
        created_at,
        received_at,
    ) = values
    return EnvelopeHeader(
        message_id=message_id,
        kind=MessageKind(kind),
        sender=sender,
        recipient=recipient,
        sender_message_id=sender_message_id,
        correlation_id=correlation_id,
        content_type=content_type,
        procedure_code=procedure_code,
        dossier_code=dossier_code,
        document_id=document_id,
        document_type=document_type,
        causation_id=causation_id,
        headers=dict(headers),
        created_at=created_at,
        received_at=received_at,
    )


def _insert_payloads(conn: Connection, payloads: Sequence[tuple[int, bytes]]) -> None:
    """``delivery_payloads`` rows: large payloads one row at a time, their bytes streamed in (_blobs.py)
    into a blob that is the row's last column, so SQLite builds no record of it; the rest in one statement."""
    small = []
    for delivery_id, payload in payloads:
        if not streams(conn, payload):
            small.append((delivery_id, payload))
            continue
        conn.execute(insert(delivery_payloads).values(delivery_id=delivery_id, payload=zeroblob(payload)))
        write_blob(conn, "delivery_payloads", "payload", delivery_id, payload)
    if small:
        _insert(conn, _INSERT_DELIVERY_PAYLOADS, small)


def _rowid(result: Any) -> int:
    rowid = result.lastrowid
    assert isinstance(rowid, int), "SQLite gives the rowid of the row just inserted"
    return rowid


def _inserted_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None and isinstance(key[0], int), "an insert into deliveries gives its id"
    return key[0]


def _update_held(claim: Claim) -> Any:
    """An UPDATE of the claimed delivery that matches only while this worker still holds the claim."""
    return update(deliveries).where(
        deliveries.c.id == claim.delivery_id,
        deliveries.c.state == DeliveryState.IN_FLIGHT.value,
        deliveries.c.claimed_by == claim.worker,
        deliveries.c.attempts == claim.attempt,
    )


def _update_attempt(claim: Claim) -> Any:
    return update(attempts).where(
        attempts.c.delivery_id == claim.delivery_id, attempts.c.number == claim.attempt
    )


def _filter_deliveries(query: Any, flt: MessageFilter) -> Any:
    if flt.message_ids:
        query = query.where(deliveries.c.message_id.in_(list(flt.message_ids)))
    if flt.targets:
        query = query.where(deliveries.c.target.in_(list(flt.targets)))
    if flt.states:
        query = query.where(deliveries.c.state.in_([s.value for s in flt.states]))
    if flt.since:
        query = query.where(deliveries.c.created_at >= flt.since)
    if flt.kind is not None or flt.sender or flt.procedure_code or flt.correlation_id is not None:
        sub = select(messages.c.id)
        if flt.kind is not None:
            sub = sub.where(messages.c.kind == flt.kind.value)
        if flt.sender:
            sub = sub.where(messages.c.sender == flt.sender)
        if flt.procedure_code:
            sub = sub.where(messages.c.procedure_code == flt.procedure_code)
        if flt.correlation_id is not None:
            sub = sub.where(messages.c.correlation_id == flt.correlation_id)
        query = query.where(deliveries.c.message_id.in_(sub))
    if flt.parties is not None:
        query = query.where(deliveries.c.message_id.in_(select(messages.c.id).where(_party_of(flt.parties))))
    return query


def _party_of(parties: Parties) -> Any:
    """A condition on ``messages``: one of ``parties`` sent it, is its recipient, or has a delivery.

    The deliveries are looked up under an alias and uncorrelated, so that inside a query over
    ``deliveries`` (replay) "routed to one of their adapters" still means any delivery of the
    message, not the one row being filtered."""
    conditions = []
    if parties.agencies:
        agencies = list(parties.agencies)
        conditions += [messages.c.sender.in_(agencies), messages.c.recipient.in_(agencies)]
    if parties.targets:
        routed = deliveries.alias("routed")
        to_them = select(routed.c.message_id).where(routed.c.target.in_(list(parties.targets)))
        conditions.append(messages.c.id.in_(to_them.correlate(None)))
    return or_(*conditions) if conditions else false()


def _insert_message(conn: Connection, envelope: Envelope, fingerprint: str, now: datetime) -> None:
    """The message row, its document links and its idempotency key: one sender id, one message, for ever."""
    conn.execute(insert(messages).values(**_message_row(envelope, fingerprint)))
    payload = {"message_id": envelope.message_id}
    if streams(conn, envelope.payload):  # a large payload's bytes streamed in (_blobs.py)
        result = conn.execute(insert(message_payloads).values(**payload, payload=zeroblob(envelope.payload)))
        write_blob(conn, "message_payloads", "payload", _rowid(result), envelope.payload)
    else:
        conn.execute(insert(message_payloads).values(**payload, payload=envelope.payload))
    links = document_links_of(envelope.headers, envelope.document_id)
    if links:
        conn.execute(
            insert(document_links),
            [{"message_id": envelope.message_id, "document_id": d, "role": role} for d, role in links],
        )
    conn.execute(
        insert(idempotency_keys).values(
            sender=envelope.sender,
            sender_message_id=envelope.sender_message_id,
            fingerprint=fingerprint,
            message_id=envelope.message_id,
            created_at=now,
        )
    )


def _message_row(envelope: Envelope, fingerprint: str) -> dict[str, Any]:
    return dict(zip(_INSERT_MESSAGES.columns, _message_values(envelope, fingerprint), strict=True))


def _message_values(envelope: Envelope, fingerprint: str) -> tuple[Any, ...]:
    """The message's row, in the order of ``messages``' columns (_INSERT_MESSAGES)."""
    return (
        envelope.message_id,
        envelope.kind.value,
        envelope.sender,
        envelope.sender_message_id,
        envelope.recipient,
        envelope.procedure_code,
        envelope.dossier_code,
        envelope.document_id,
        envelope.document_type,
        envelope.correlation_id,
        envelope.causation_id,
        envelope.content_type,
        envelope.payload_sha256,
        dict(envelope.headers),
        envelope.created_at,
        envelope.received_at,
        fingerprint,
    )


def _envelope_header(row: Any) -> EnvelopeHeader:
    """A message's row (by column name) as an EnvelopeHeader."""
    return _claimed_header([row[name] for name in HEADER_COLUMNS])


def _envelope(row: Any) -> Envelope:
    return _envelope_header(row).with_payload(row["payload"])


def _decision(row: Any) -> RouteDecision:
    return RouteDecision(
        status=RouteStatus(row["status"]),
        rule=row["rule"],
        targets=tuple(row["targets"]),
        reason=row["reason"],
    )


def _attempt(row: Any) -> AttemptRecord:
    return AttemptRecord(
        number=row["number"],
        worker=row["worker"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outcome=AttemptOutcome(row["outcome"]) if row["outcome"] else None,
        error=row["error"],
        response_status=row["response_status"],
        request=row["request"],
        response=row["response"],
    )


def _delivery(row: Any, history: list[AttemptRecord]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        message_id=row["message_id"],
        target=row["target"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        delivered_at=row["delivered_at"],
        payload=row["payload"],
        content_type=row["content_type"],
        response=row["response"],
        history=tuple(history),
        operation=row["operation"],
    )
