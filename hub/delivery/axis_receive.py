"""Receiving from the national document axis: what waits for the province, fetched on a schedule.

An adapter with ``plugin: edxml-axis`` and a ``receiving:`` section (config ``ReceivingConfig``) gets
one :class:`AxisReceiver`, run every ``interval`` by the same APScheduler schedule as the polls, in
every hub process (``hub serve``, ``hub worker``). One round:

1. takes the adapter's lease in ``poll_state`` (``<adapter>/axis-receive``): a round another process
   is running, or ran less than an interval ago, is skipped, so several processes never fetch at once;
2. lists what waits for the hub's agency (``getReceivedEdocList``, per message type), at most
   ``max_per_run`` messages, and fetches each one (``getEdoc``, base64);
3. checks that the edXML ``From`` is the agency the axis says sent it, and submits it to intake as a
   message from that agency (sender message id ``axis:<docId>``, kind ``document`` or ``status``):
   intake verifies its signature under that agency's trust, routes and stores it. A message fetched
   twice is the same sender message id: a repeat, delivered once;
4. for a document (not a status package), accepted new or as a repeat, submits the hub's own status
   01 (arrived) as a message from the hub's agency (``axis-status01:<docId>``, its timestamp the
   document's reception time, so a second submission is a repeat too); routes.yaml sends it back to the
   axis, signed per that adapter's policy;
5. confirms each message on the axis: ``done`` when intake holds it, ``fail`` when it was refused (bad
   signature, sender mismatch, malformed), with an ERROR line naming the docId and the reason.
   A message is never dropped silently: what the hub could not take for its own reasons (the database
   away, a target's mapping failing) is left pending on the axis and fetched again next round.

Each round is one INFO line on ``lienthong.axis``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from lienthong.adapter import adapter_file, http_transport
from lienthong.config.files import issue_at
from lienthong.config.models import AdapterConfig, Configuration, ReceivingConfig
from lienthong.delivery.axis_adapter import AXIS_PLUGIN
from lienthong.delivery.axis_client import AxisClient, AxisOptions, ReceivedItem
from lienthong.delivery.axis_facts import AxisFacts, axis_facts
from lienthong.delivery.breaker import BreakerState, CircuitBreaker
from lienthong.delivery.transports.base import Transport
from lienthong.edxml.build import build_status
from lienthong.edxml.model import Organ, ResponseFor
from lienthong.edxml.names import STATUS_CODES
from lienthong.envelope import MessageKind, derive_correlation_id, new_envelope
from lienthong.errors import (
    ConfigIssue,
    HubError,
    IdempotencyConflictError,
    InvalidMessageError,
    SignatureError,
    StoreUnavailableError,
    TransientDeliveryError,
)
from lienthong.intake.service import Intake
from lienthong.store import AcceptResult, Store, lease_held
from lienthong.trust.sender import check_edxml_sender
from lienthong.xml import parse_xml, serialize

__all__ = [
    "AXIS_DOC_HEADER",
    "AxisReceiver",
    "ReceiveOutcome",
    "build_receivers",
    "check_receiving",
]

log = logging.getLogger("lienthong.axis")

#: The envelope header a fetched message (and the hub's 01 for it) carries: the axis's DocId.
AXIS_DOC_HEADER: Final = "axis.doc_id"
_EARLY: Final = timedelta(seconds=1)
_LEASE_MARGIN: Final = timedelta(seconds=60)


@dataclass
class ReceiveOutcome:
    """What one round did (what its log line says)."""

    adapter: str
    listed: int = 0
    new: int = 0
    repeats: int = 0
    refused: int = 0
    kept: int = 0  # fetched or listed but left pending on the axis, for the next round
    errors: list[str] = field(default_factory=list)


class AxisReceiver:
    """The receiving of one axis adapter, run by the schedule (or a test) with :meth:`run`."""

    def __init__(
        self,
        adapter: AdapterConfig,
        receiving: ReceivingConfig,
        client: AxisClient,
        store: Store,
        intake: Intake,
        breaker: CircuitBreaker,
        *,
        hub_agency: str,
        hub_name: str,
        owner: str,
    ) -> None:
        self.adapter = adapter
        self.receiving = receiving
        self.client = client
        self.store = store
        self.intake = intake
        self.breaker = breaker
        self.hub_agency = hub_agency
        self.hub_name = hub_name
        self.owner = owner
        self.name = f"{adapter.name}/axis-receive"
        self.interval = receiving.interval
        self._told_missing_key = False

    def close(self) -> None:
        self.client.close()

    def run(self) -> list[ReceiveOutcome]:
        """One round, if this process gets the lease. Never raises (it runs on a timer)."""
        try:
            return self._run()
        except StoreUnavailableError as exc:
            log.warning("axis receive %s skipped: %s", self.adapter.name, exc.message)
        except Exception:  # a bug must not stop the schedule; the next round tries again
            log.exception("axis receive %s failed", self.adapter.name)
        return []

    def _run(self) -> list[ReceiveOutcome]:
        if self.client.missing_key:
            if not self._told_missing_key:  # once per process, not every interval
                log.warning(
                    "axis receive %s off: environment variable %s is not set (set it and restart the hub)",
                    self.adapter.name,
                    self.client.options.api_key_env,
                )
                self._told_missing_key = True
            return []
        if self.breaker.view().state is BreakerState.OPEN:
            log.info("axis receive %s: not asked while its circuit is open", self.adapter.name)
            return []
        calls = len(self.receiving.messagetypes) + 3 * self.receiving.max_per_run
        lease = self.adapter.timeout * calls + _LEASE_MARGIN
        next_due = self.interval - min(self.interval / 10, _EARLY)
        with lease_held(self.store, self.name, self.owner, lease, next_due) as held:
            if not held:
                return []
            outcome = self.receive()
        log.info(
            "axis receive %s: %d listed, %d new, %d repeats, %d refused, %d left pending%s",
            self.adapter.name,
            outcome.listed,
            outcome.new,
            outcome.repeats,
            outcome.refused,
            outcome.kept,
            f" ({'; '.join(outcome.errors)})" if outcome.errors else "",
        )
        return [outcome]

    def receive(self) -> ReceiveOutcome:
        """List, fetch, submit and confirm (no lease: :meth:`run` takes it)."""
        outcome = ReceiveOutcome(self.adapter.name)
        items: list[ReceivedItem] = []
        try:
            for message_type in self.receiving.messagetypes:
                items += self.client.received(self.hub_agency, message_type)
        except TransientDeliveryError as exc:
            self.breaker.record_failure(f"axis receive: {exc.message}")
            outcome.errors.append(exc.message)
            return outcome
        self.breaker.record_success()
        outcome.listed = len(items)
        for index, item in enumerate(items[: self.receiving.max_per_run]):
            try:
                result = self.receive_one(item)
            except (TransientDeliveryError, StoreUnavailableError) as exc:
                # The axis or the database is away: stop here, the rest stays pending on the axis.
                outcome.errors.append(exc.message)
                outcome.kept += len(items[index:])
                return outcome
            setattr(outcome, result, getattr(outcome, result) + 1)
        outcome.kept += max(0, len(items) - self.receiving.max_per_run)
        return outcome

    def receive_one(self, item: ReceivedItem) -> str:
        """One message: 'new', 'repeats', 'refused' (failed on the axis) or 'kept' (left pending)."""
        payload = self.client.get_edoc(self.hub_agency, item.doc_id)
        try:
            facts = axis_facts(payload, what=f"axis message {item.doc_id}")
            # The edXML From (a status package: its status's From) must be the axis's 'from'.
            check_edxml_sender(facts.sender or "", item.sender)
            tree = parse_xml(payload, what=f"axis message {item.doc_id}")
            kind = MessageKind.STATUS if facts.message_type == "status" else MessageKind.DOCUMENT
            envelope = new_envelope(
                kind=kind,
                sender=item.sender,
                sender_message_id=f"axis:{item.doc_id}",
                payload=payload,
                content_type="application/xml",
                recipient=self.hub_agency,
                # Derived, so that a second fetch is the same submission (a repeat, not a conflict):
                # the document's (a status package: the answered document's) DocumentId.
                correlation_id=derive_correlation_id(None, facts.document_id or f"axis:{item.doc_id}"),
                headers={AXIS_DOC_HEADER: item.doc_id},
            )
            accepted = self.intake.submit(envelope, tree=tree)
        except (InvalidMessageError, SignatureError, IdempotencyConflictError) as exc:
            self._refuse(item, exc)
            return "refused"
        except StoreUnavailableError:
            raise
        except HubError as exc:  # the hub's own trouble (a target's stage failed): try again next round
            log.error(
                "axis receive %s: docId %s from %s not taken, left pending on the axis: %s",
                self.adapter.name,
                item.doc_id,
                item.sender,
                exc.message,
            )
            return "kept"
        if kind is MessageKind.DOCUMENT and self.receiving.status_01:
            self._answer_arrived(item, facts, accepted)
        self._confirm(item, "done")
        return "new" if accepted.created else "repeats"

    def _refuse(self, item: ReceivedItem, exc: HubError) -> None:
        log.error(
            "axis receive %s: docId %s from %s refused (%s): %s",
            self.adapter.name,
            item.doc_id,
            item.sender,
            exc.code,
            exc.message,
        )
        self._confirm(item, "fail")

    def _confirm(self, item: ReceivedItem, status: str) -> None:
        """``updateStatus``; a failure is only logged: the message stays listed, is fetched again next
        round, is a repeat for intake, and is confirmed then."""
        try:
            self.client.update_status(self.hub_agency, item.doc_id, "done" if status == "done" else "fail")
        except TransientDeliveryError as exc:
            log.warning(
                "axis receive %s: docId %s not confirmed (%s), confirmed next round: %s",
                self.adapter.name,
                item.doc_id,
                status,
                exc.message,
            )

    def _answer_arrived(self, item: ReceivedItem, facts: AxisFacts, accepted: AcceptResult) -> None:
        """Status 01 for the document, from the hub's agency, through intake (routed to the axis)."""
        about = ResponseFor(
            organ_id=facts.sender,
            code=facts.code,
            promulgation_date=facts.promulgation_date,
            document_id=facts.document_id,
        )
        status = build_status(
            about=about,
            sender=Organ(organ_id=self.hub_agency, name=self.hub_name),
            code="01",
            description=STATUS_CODES["01"][0],
            timestamp=_vietnam_time(accepted.received_at),
        )
        envelope = new_envelope(
            kind=MessageKind.STATUS,
            sender=self.hub_agency,
            sender_message_id=f"axis-status01:{item.doc_id}",
            payload=serialize(status),
            content_type="application/xml",
            recipient=item.sender,
            correlation_id=accepted.correlation_id,
            causation_id=accepted.message_id,
            headers={AXIS_DOC_HEADER: item.doc_id},
        )
        try:
            self.intake.submit(envelope, tree=status)
        except StoreUnavailableError:
            raise
        except HubError as exc:  # the document is the hub's; its 01 is retried when it is fetched again
            log.error(
                "axis receive %s: status 01 for docId %s not sent: %s",
                self.adapter.name,
                item.doc_id,
                exc.message,
            )


def _vietnam_time(moment: datetime) -> datetime:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))


def _axis_settings(adapter: AdapterConfig) -> AdapterConfig | None:
    """The adapter as its (first) edxml-axis operation sees it: endpoint, options, timeouts."""
    for name in adapter.operation_names():
        settings = adapter.operation_config(name)
        if settings.plugin == AXIS_PLUGIN.name:
            return settings
    return None


def check_receiving(config: Configuration) -> list[ConfigIssue]:
    """A ``receiving:`` section needs an operation of the adapter on ``plugin: edxml-axis``."""
    issues = []
    for name, adapter in config.adapters.items():
        if adapter.receiving is not None and _axis_settings(adapter) is None:
            issues.append(
                issue_at(
                    config,
                    adapter_file(config, name),
                    ("receiving",),
                    "receiving",
                    f"'receiving:' fetches from the national axis: it needs plugin {AXIS_PLUGIN.name}",
                )
            )
    return issues


def build_receivers(
    config: Configuration,
    store: Store,
    intake: Intake,
    breakers: Mapping[str, CircuitBreaker],
    owner: str,
    *,
    transports: Mapping[str, Transport] | None = None,
) -> list[AxisReceiver]:
    """One receiver per adapter with a ``receiving:`` section (checked by :func:`check_receiving`),
    sharing the adapter's breaker with its deliveries; ``transports`` replace HTTP (tests)."""
    receivers = []
    for name, adapter in config.adapters.items():
        settings = _axis_settings(adapter)
        if adapter.receiving is None or settings is None:
            continue
        options = AxisOptions.model_validate(settings.options)
        given = (transports or {}).get(name)
        transport = given if given is not None else http_transport(settings)
        receivers.append(
            AxisReceiver(
                adapter,
                adapter.receiving,
                AxisClient(settings.endpoint or "", options, transport),
                store,
                intake,
                breakers.get(name) or CircuitBreaker(adapter.circuit_breaker, name=name),
                hub_agency=config.hub.hub.agency,
                hub_name=config.hub.hub.name,
                owner=owner,
            )
        )
    return receivers
