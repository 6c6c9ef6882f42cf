"""Intake: the one service function every entry point (REST, SOAP, CLI) calls to accept a message.

It runs the front of the pipeline in order — authenticate, route, then each target's stages (validate,
translate, validate, sign: :mod:`~lienthong.prepare`) — and hands the result to the store in one
transaction. Only after that commit does the caller get an answer, so
an acknowledged message survives any crash; anything that fails before it is refused whole.

The hub acts only on what a signature covers. When a payload is signed, routing XPaths, the adapters'
input schemas and mappings all see :attr:`Verified.signed`: a canonical copy of the signed element
without the signature, and so without whatever a sender (or anyone on the way) can add to a signed
document without breaking its signature — comments (outside the digest of a ``URI=""`` reference),
a ``ds:Object`` or ``KeyInfo`` content inside the enveloped signature. What is stored is still the
payload as received, signature included, so ``hub verify`` and xmlsec1 can check it again.
Unsigned payloads (where the agency's policy allows them) are acted on as they are.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from lxml import etree

from .envelope import Envelope
from .errors import SignatureError, SignatureMissingError, UnknownAdapterError
from .prepare import Preparation
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
        preparations: Mapping[str, Preparation],
        on_accepted: Callable[[], None] | None = None,
        verifier: XmlVerifier | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.preparations = preparations
        self.on_accepted = on_accepted
        self.verifier = verifier

    def _prepare(
        self, envelope: Envelope, tree: etree._Element | None, decision: RouteDecision
    ) -> list[PreparedDelivery]:
        prepared = []
        for target in decision.targets:
            stages = self.preparations.get(target)
            if stages is None:
                raise UnknownAdapterError(f"route '{decision.rule}' targets unknown adapter '{target}'")
            prepared.append(stages.prepare(envelope, tree))
        return prepared

    def authenticate(
        self, tree: etree._Element, agency: str, *, at: datetime | None = None
    ) -> etree._Element:
        """Check the sender's signature under its agency's trust policy, or refuse the message; return
        what the hub may act on.

        The root of ``tree`` must be what the signature covers; what comes back is the verifier's
        canonical copy of it (comment-free, the enveloped signature removed), never ``tree`` itself.
        Unsigned content passes, as it is, only where the agency's policy allows it.
        """
        if self.verifier is None:
            return tree
        verified = self.verifier.check(tree, agency, expect=_whole_document, at=at)
        return tree if verified is None else verified.signed

    def submit(
        self,
        envelope: Envelope,
        *,
        tree: etree._Element | None = None,
        authenticated: etree._Element | None = None,
    ) -> AcceptResult:
        """Authenticate, route, translate and store; raises HubError subclasses for refused input.

        ``tree`` is the payload already parsed by the caller (with the hardened parser), so it is not
        parsed twice. ``authenticated`` is what :meth:`authenticate` returned for this payload, when
        the caller needed it first (the SOAP gateway reads the dossier code from it).
        """
        if tree is None and authenticated is None and envelope.is_xml:
            tree = parse_xml(envelope.payload)
        if authenticated is not None:
            tree = authenticated
        elif tree is not None:
            tree = self.authenticate(tree, envelope.sender)
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
            tree = None
            if envelope.is_xml:
                # Act on what the signature covered at intake, as intake did: checked again at the time
                # of receipt, so an expired certificate does not strand a message accepted before.
                try:
                    tree = self.authenticate(
                        parse_xml(envelope.payload), envelope.sender, at=envelope.received_at
                    )
                except SignatureError as exc:
                    log.warning("not re-routed %s: %s", envelope.message_id, exc.message)
                    continue
            decision = self.router.decide(envelope, tree)
            if decision.status is RouteStatus.UNROUTABLE:
                continue
            self.store.reroute(envelope.message_id, decision, self._prepare(envelope, tree, decision))
            rerouted.append(envelope.message_id)
        if rerouted and self.on_accepted is not None:
            self.on_accepted()
        return rerouted
