"""Intake: the one service function every entry point (REST, SOAP, CLI) calls to accept a message.

It runs the front of the pipeline in order — validate, route, translate (and sign) — and hands the
result to the store in one transaction. Only after that commit does the caller get an answer, so
an acknowledged message survives any crash; anything that fails before it is refused whole.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence

from lxml import etree

from .adapter import Adapter
from .envelope import Envelope
from .errors import SignatureMissingError, UnknownAdapterError
from .route import Router
from .store import AcceptResult, MessageFilter, PreparedDelivery, RouteDecision, RouteStatus, Store
from .verify import XmlVerifier
from .xml import parse_xml

log = logging.getLogger("lienthong.intake")


def _whole_document(root: etree._Element) -> etree._Element:
    return root


class Intake:
    def __init__(
        self,
        store: Store,
        router: Router,
        adapters: Mapping[str, Adapter],
        on_accepted: Callable[[], None] | None = None,
        verifier: XmlVerifier | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.adapters = adapters
        self.on_accepted = on_accepted
        self.verifier = verifier

    def _prepare(
        self, envelope: Envelope, tree: etree._Element | None, decision: RouteDecision
    ) -> list[PreparedDelivery]:
        prepared = []
        for target in decision.targets:
            adapter = self.adapters.get(target)
            if adapter is None:
                raise UnknownAdapterError(f"route '{decision.rule}' targets unknown adapter '{target}'")
            prepared.append(adapter.prepare(envelope, tree))
        return prepared

    def authenticate(self, signed_content: bytes | etree._Element, agency: str) -> None:
        """Check the sender's signature under its agency's trust policy, or refuse the message.

        The whole of ``signed_content`` must be what the signature covers: the hub acts on nothing a
        signature does not vouch for. Unsigned content passes only where the agency's policy allows it.
        """
        if self.verifier is not None:
            self.verifier.check(signed_content, agency, expect=_whole_document)

    def submit(
        self,
        envelope: Envelope,
        *,
        tree: etree._Element | None = None,
        signed_content: bytes | None = None,
    ) -> AcceptResult:
        """Validate, authenticate, route, translate and store; raises HubError subclasses for refused input.

        ``tree`` is the payload already parsed by the caller (with the hardened parser), so it is not
        parsed twice. ``signed_content`` is the part of the payload a sender's signature covers when
        that is not the whole payload (the body element of a SOAP request, whose envelope is stored as
        received).
        """
        if tree is None and envelope.is_xml:
            tree = parse_xml(envelope.payload)
        if signed_content is not None:
            self.authenticate(signed_content, envelope.sender)
        elif tree is not None:
            self.authenticate(tree, envelope.sender)  # verification leaves the tree as it found it
        elif self.verifier is not None and self.verifier.trust.policy_for(envelope.sender).require_signature:
            raise SignatureMissingError(
                f"this agency's messages must be signed XML; a {envelope.content_type} payload "
                "cannot carry an XML signature",
                reason="unsigned",
                agency=envelope.sender,
            )
        decision = self.router.decide(envelope, tree)
        result = self.store.accept(envelope, decision, self._prepare(envelope, tree, decision))
        if result.created:
            log.info(
                "accepted %s from %s (%s) → %s",
                result.message_id,
                envelope.sender,
                envelope.sender_message_id,
                ", ".join(decision.targets) or "unroutable",
            )
            if self.on_accepted is not None:
                self.on_accepted()
        return result

    def reroute_unroutable(self, message_ids: Sequence[uuid.UUID] = (), limit: int = 1000) -> list[uuid.UUID]:
        """Route unroutable messages again with the current rules (after the operator fixed them)."""
        rerouted = []
        for record in self.store.list_messages(
            MessageFilter(message_ids=message_ids, unroutable=True, limit=limit)
        ):
            envelope = record.envelope
            tree = parse_xml(envelope.payload) if envelope.is_xml else None
            decision = self.router.decide(envelope, tree)
            if decision.status is RouteStatus.UNROUTABLE:
                continue
            self.store.reroute(envelope.message_id, decision, self._prepare(envelope, tree, decision))
            rerouted.append(envelope.message_id)
        if rerouted and self.on_accepted is not None:
            self.on_accepted()
        return rerouted
