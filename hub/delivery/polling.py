"""Polling: results fetched on a schedule from systems that never push them (docs/polling.md).

Justice's civil status service takes a registration (``NhanDKHT``) and keeps the result until asked
(``LayKetQua``). For such a system an adapter declares a ``polling:`` section, and every ``interval``
each hub process (``hub serve``, ``hub worker``; an APScheduler interval job per poll) does, per poll:

1. reads the dossiers awaiting a result (``Store.awaiting_answers``): delivered through the awaited
   operation, with no message of the awaited kind from the adapter's agency yet;
2. groups them (by procedure code, or all in one), and for each group takes the group's lease
   (``Store.start_poll``): a group another process is polling, or polled less than an interval ago,
   is skipped, so the processes together poll each group once per interval, never two at once;
3. builds the hub's ``lt:Poll`` document (the dossier codes and the group's value), runs the poll's
   mapping and schema, and calls the system once per ``batch`` through the plugin, synchronously, as
   a lookup does (same breaker as the adapter's deliveries: no call while its circuit is open);
4. reads the answer (JSON as its XML representation, or a SOAP body), takes each result the
   ``each`` XPath selects, and submits each *ready* one through intake as a message from the
   adapter's agency (kind ``answer`` by default, the dossier's code and procedure, caused by the
   message that carried the dossier there), routed by routes.yaml like any other.

A result's sender message id is derived from the poll, the dossier code and (optionally) the
system's id of the result, so a result polled twice (two processes, a crash before the lease was
given back) is a repeat intake recognises, never a second message. Each poll is one INFO line on
``lienthong.poll``: what was asked, how many results, how many ready, how many new.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from lxml import etree

from lienthong.config.models import Configuration
from lienthong.delivery.breaker import BreakerState, CircuitBreaker
from lienthong.delivery.poll_config import CompiledPoll
from lienthong.envelope import MessageKind, new_envelope, utcnow
from lienthong.errors import (
    HubError,
    IdempotencyConflictError,
    PermanentDeliveryError,
    StoreUnavailableError,
    TransientDeliveryError,
    XmlRefusedError,
)
from lienthong.intake.service import Intake
from lienthong.jsonxml import JSON_CONTENT_TYPE, is_json_tree, json_to_tree, tree_to_json
from lienthong.store import AwaitingDossier, Claim, Store, lease_held
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, parse_xml, serialize

__all__ = ["GroupOutcome", "Poller", "Pollers", "ScheduledJob", "poll_document"]

log = logging.getLogger("lienthong.poll")

#: A group is due again this much before a full interval has passed, so that a timer firing a few
#: milliseconds early in one process does not skip a round.
_EARLY: Final = 0.1
_MAX_EARLY: Final = timedelta(seconds=1)
#: Time a poll may take beyond its calls (reading the store, submitting results) before its lease ends.
_LEASE_MARGIN: Final = timedelta(seconds=60)
#: The header a polled result carries: which adapter's poll fetched it.
POLL_HEADER: Final = "poll"


@dataclass(frozen=True)
class GroupOutcome:
    """What one poll of one group did (what the log line says)."""

    key: str
    asked: tuple[str, ...]
    results: int = 0
    ready: int = 0
    new: int = 0
    repeats: int = 0
    refused: int = 0
    error: str | None = None


def poll_document(adapter: str, poll: str, group: str, dossiers: Sequence[AwaitingDossier]) -> etree._Element:
    """The hub's ``lt:Poll`` (schemas/hub/hub.xsd): what the poll's mapping turns into the request."""

    def child(parent: etree._Element, name: str, text: str) -> None:
        etree.SubElement(parent, f"{{{HUB_NS}}}{name}").text = text

    root = etree.Element(f"{{{HUB_NS}}}Poll", nsmap={"lt": HUB_NS})
    child(root, "adapter", adapter)
    child(root, "poll", poll)
    child(root, "group", group)
    for dossier in dossiers:
        item = etree.SubElement(root, f"{{{HUB_NS}}}dossier")
        child(item, "code", dossier.dossier_code)
        if dossier.procedure_code:
            child(item, "procedureCode", dossier.procedure_code)
        child(item, "messageId", str(dossier.message_id))
        child(item, "deliveredAt", dossier.delivered_at.astimezone(UTC).isoformat())
    return root


class ScheduledJob(Protocol):
    """What the schedule runs every ``interval``: a poll, or the axis's receiving
    (:mod:`~lienthong.delivery.axis_receive`). ``run`` never raises."""

    name: str
    interval: timedelta

    def run(self) -> Sequence[Any]: ...

    def close(self) -> None: ...


class Poller:
    """One compiled poll, run by the scheduler (or a test) with :meth:`run`."""

    def __init__(
        self,
        poll: CompiledPoll,
        store: Store,
        intake: Intake,
        breaker: CircuitBreaker,
        *,
        hub_agency: str,
        owner: str,
    ) -> None:
        self.poll = poll
        self.store = store
        self.intake = intake
        self.breaker = breaker
        self.hub_agency = hub_agency
        self.owner = owner
        self.adapter = poll.adapter
        self.config = poll.config
        self.name = f"{self.adapter.name}/{poll.name}"
        self.interval = self.config.interval
        self.timeout = (
            self.adapter.timeout if poll.config.request.timeout is None else poll.config.request.timeout
        )

    def close(self) -> None:
        self.poll.close()

    def run(self) -> list[GroupOutcome]:
        """One round: every group that is due and free. Never raises (it runs on a timer)."""
        try:
            return self._run()
        except StoreUnavailableError as exc:
            log.warning("poll %s skipped: %s", self.name, exc.message)
        except Exception:  # a bug must not stop the schedule; the next round tries again
            log.exception("poll %s failed", self.name)
        return []

    def _run(self) -> list[GroupOutcome]:
        awaiting = self.store.awaiting_answers(
            self.adapter.name,
            self.config.awaiting.operation,
            self.adapter.agency,
            MessageKind(self.config.awaiting.answered_by.kind),
            utcnow() - self.config.awaiting.give_up_after,
            self.config.awaiting.max_dossiers,
        )
        if not awaiting:
            return []
        if self.breaker.view().state is BreakerState.OPEN:
            log.info(
                "poll %s: %d dossiers await, not asked while %s's circuit is open",
                self.name,
                len(awaiting),
                self.adapter.name,
            )
            return []
        outcomes = []
        for group, dossiers in self.groups(awaiting).items():
            key = f"{self.name}/{group or '*'}"
            calls = math.ceil(len(dossiers) / self.config.request.batch)
            lease = self.timeout * calls + _LEASE_MARGIN
            next_due = self.interval - min(self.interval * _EARLY, _MAX_EARLY)
            with lease_held(self.store, key, self.owner, lease, next_due) as held:
                if not held:
                    continue
                outcome = self.poll_group(key, group, dossiers)
            outcomes.append(outcome)
            log.info(
                "poll %s asked %d dossiers (%s): %d results, %d ready, %d new, %d repeats%s",
                key,
                len(outcome.asked),
                ", ".join(outcome.asked),
                outcome.results,
                outcome.ready,
                outcome.new,
                outcome.repeats,
                f", {outcome.refused} refused" if outcome.refused else "",
            )
        return outcomes

    def groups(self, awaiting: Sequence[AwaitingDossier]) -> dict[str, list[AwaitingDossier]]:
        """The dossiers by group value (the procedure code, or '' for one group), in order."""
        grouped: dict[str, list[AwaitingDossier]] = {}
        for dossier in awaiting:
            value = dossier.procedure_code or "" if self.config.group_by == "procedure_code" else ""
            grouped.setdefault(value, []).append(dossier)
        return grouped

    def poll_group(self, key: str, group: str, dossiers: Sequence[AwaitingDossier]) -> GroupOutcome:
        """Ask about ``dossiers`` (``batch`` at a time) and submit the ready results."""
        batch = self.config.request.batch
        totals = GroupOutcome(key, tuple(d.dossier_code for d in dossiers))
        counts = {"results": 0, "ready": 0, "new": 0, "repeats": 0, "refused": 0}
        for start in range(0, len(dossiers), batch):
            part = dossiers[start : start + batch]
            try:
                answer = self._call(group, part)
            except HubError as exc:  # no answer, a refusal, an unreadable answer, a request not made
                log.warning("poll %s: no results from %s: %s", key, self.adapter.name, exc.message)
                return _outcome(totals, counts, exc.message)
            for name, value in self._submit(key, answer, {d.dossier_code: d for d in part}).items():
                counts[name] += value
        return _outcome(totals, counts, None)

    def _call(self, group: str, dossiers: Sequence[AwaitingDossier]) -> etree._Element:
        document = poll_document(self.adapter.name, self.poll.name, group, dossiers)
        envelope = new_envelope(
            kind=MessageKind.QUERY,
            sender=self.hub_agency,
            sender_message_id=f"poll:{self.name}",
            payload=serialize(document),
            content_type="application/xml",
            recipient=self.adapter.agency,
            headers={POLL_HEADER: self.name},
        )
        prepared = self.poll.stages.prepare(envelope, document)
        started = utcnow()
        claim = Claim(
            delivery_id=0,
            target=self.adapter.name,
            attempt=1,
            round_attempt=1,
            first_attempt_at=started,
            payload=prepared.payload,
            content_type=prepared.content_type,
            envelope=envelope.header(),
            worker=f"poll:{self.owner}",
            lease_until=started + self.timeout,
        )
        try:
            delivered = self.poll.plugin.deliver(claim)
        except TransientDeliveryError as exc:
            self.breaker.record_failure(f"poll {self.name}: {exc.message}")
            raise
        except PermanentDeliveryError:
            self.breaker.record_success()  # it answered: it is up, and said no
            raise
        self.breaker.record_success()
        return answer_tree(delivered.response or b"")

    def _submit(
        self, key: str, answer: etree._Element, asked: Mapping[str, AwaitingDossier]
    ) -> dict[str, int]:
        xpaths = self.poll.xpaths
        counts = {"results": 0, "ready": 0, "new": 0, "repeats": 0, "refused": 0}
        found = xpaths.each(answer)
        for result in found if isinstance(found, list) else []:
            if not isinstance(result, etree._Element):
                continue
            counts["results"] += 1
            code = _text(xpaths.dossier_code(result))
            dossier = asked.get(code or "")
            if dossier is None:
                log.warning("poll %s: a result for dossier %r, which was not asked about, ignored", key, code)
                continue
            if xpaths.ready is not None and not bool(xpaths.ready(result)):
                continue
            counts["ready"] += 1
            own_id = _text(xpaths.id(result)) if xpaths.id is not None else None
            outcome = self._submit_one(result, dossier, own_id)
            counts[outcome] += 1
        return counts

    def _submit_one(self, result: etree._Element, dossier: AwaitingDossier, own_id: str | None) -> str:
        """Intake one ready result; 'new', 'repeats' or 'refused'."""
        element = copy.deepcopy(result)
        if is_json_tree(element):
            if "key" in element.attrib:  # a member of its parent, a document on its own
                del element.attrib["key"]
            payload, content_type = tree_to_json(element), JSON_CONTENT_TYPE
        else:
            payload, content_type = serialize(element), "application/xml"
        sender_message_id = f"poll:{self.name}:{dossier.dossier_code}" + (f":{own_id}" if own_id else "")
        envelope = new_envelope(
            kind=MessageKind(self.config.results.kind),
            sender=self.adapter.agency,
            sender_message_id=sender_message_id,
            payload=payload,
            content_type=content_type,
            recipient=self.hub_agency,
            procedure_code=dossier.procedure_code,
            dossier_code=dossier.dossier_code,
            causation_id=dossier.message_id,
            headers={POLL_HEADER: self.name},
        )
        try:
            accepted = self.intake.submit(envelope)
        except IdempotencyConflictError as exc:
            log.warning(
                "poll %s: dossier %s answered differently than before; the first result is kept (%s)",
                self.name,
                dossier.dossier_code,
                exc.message,
            )
            return "refused"
        except StoreUnavailableError:
            raise
        except HubError as exc:  # routing or a target's mapping refused it: it stays awaiting
            log.error(
                "poll %s: the result for dossier %s was refused: %s",
                self.name,
                dossier.dossier_code,
                exc.message,
            )
            return "refused"
        return "new" if accepted.created else "repeats"


def _outcome(totals: GroupOutcome, counts: Mapping[str, int], error: str | None) -> GroupOutcome:
    return GroupOutcome(
        totals.key,
        totals.asked,
        results=counts["results"],
        ready=counts["ready"],
        new=counts["new"],
        repeats=counts["repeats"],
        refused=counts["refused"],
        error=error,
    )


def answer_tree(response: bytes) -> etree._Element:
    """The answer as a tree: JSON as its XML representation, SOAP as its body element, XML as is."""
    if response.lstrip()[:1] in (b"{", b"["):
        tree: etree._Element = json_to_tree(response, what="poll answer")
        return tree
    root: etree._Element = parse_xml(response, what="poll answer")
    for ns in (SOAP11_NS, SOAP12_NS):
        if root.tag == f"{{{ns}}}Envelope":
            entry: etree._Element | None = root.find(f"{{{ns}}}Body/*")
            if entry is None:
                raise XmlRefusedError("the poll answer is a SOAP envelope without a body element")
            return entry
    return root


def _text(value: Any) -> str | None:
    """An XPath result as trimmed text: a string, the first node's string value, or None."""
    if isinstance(value, list):
        value = value[0] if value else None
        if isinstance(value, etree._Element):
            value = value.xpath("string()")
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


class Pollers:
    """Every poll of the configuration (and every adapter's receiving from the axis), on an
    APScheduler background scheduler (one interval job each, one run at a time, runs missed while one
    was running merged into one)."""

    def __init__(self, pollers: Sequence[ScheduledJob]) -> None:
        self.pollers = list(pollers)
        self._scheduler: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self.pollers:
            return
        from apscheduler.schedulers.background import BackgroundScheduler  # only hubs that poll load it
        from apscheduler.triggers.interval import IntervalTrigger

        with self._lock:
            if self._scheduler is not None:
                return
            scheduler = BackgroundScheduler(timezone=UTC)
            now = datetime.now(UTC)
            for poller in self.pollers:
                scheduler.add_job(
                    poller.run,
                    getattr(poller, "trigger", None)  # a cron (reconciliation), else the interval
                    or IntervalTrigger(seconds=poller.interval.total_seconds(), timezone=UTC),
                    id=poller.name,
                    name=poller.name,
                    max_instances=1,
                    coalesce=True,
                    # dossiers awaiting from before a restart are asked at once; a job may say otherwise
                    next_run_time=getattr(poller, "first_run", lambda at: at)(now),
                )
            scheduler.start()
            self._scheduler = scheduler
        log.info(
            "polling: %s", ", ".join(f"{p.name} every {p.interval.total_seconds():g}s" for p in self.pollers)
        )

    def stop(self) -> None:
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        for poller in self.pollers:
            poller.close()

    def run_once(self) -> list[Any]:
        """Every poll once, now (tests, and ``hub poll``-style one-off runs)."""
        return [outcome for poller in self.pollers for outcome in poller.run()]


def build_pollers(
    config: Configuration,
    polls: Sequence[CompiledPoll],
    store: Store,
    intake: Intake,
    breakers: Mapping[str, CircuitBreaker],
    owner: str,
    receivers: Sequence[ScheduledJob] = (),
) -> Pollers:
    """The pollers of the compiled polls, sharing each adapter's breaker with its deliveries, and
    ``receivers`` (the axis adapters' receiving) on the same schedule."""
    polling: list[ScheduledJob] = [
        Poller(
            poll,
            store,
            intake,
            breakers.get(poll.adapter.name)
            or CircuitBreaker(poll.adapter.circuit_breaker, name=poll.adapter.name),
            hub_agency=config.hub.hub.agency,
            owner=owner,
        )
        for poll in polls
    ]
    return Pollers([*polling, *receivers])
