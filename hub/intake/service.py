"""Intake: the one service function every entry point (REST, SOAP, CLI) calls to accept a message.

It runs the front of the pipeline in order — authenticate, route, then each target's stages (validate,
translate, validate, sign: :mod:`~lienthong.pipeline.prepare`) — and hands the result to the store in one
transaction. Only after that commit does the caller get an answer, so
an acknowledged message survives any crash; anything that fails before it is refused whole.

The hub acts only on what a signature covers. When a payload is signed, routing XPaths, the adapters'
input schemas and mappings all see :attr:`Verified.signed`: a canonical copy of the signed element
without the signature, and so without whatever a sender (or anyone on the way) can add to a signed
document without breaking its signature — comments (outside the digest of a ``URI=""`` reference),
a ``ds:Object`` or ``KeyInfo`` content inside the enveloped signature. What is stored is still the
payload as received, signature included, so ``hub verify`` and xmlsec1 can check it again.
Unsigned payloads (where the agency's policy allows them) are acted on as they are.

Text comes first (:mod:`~lienthong.intake.text`): right after the signature check, what the hub acts on is
put in NFC and the fields ``intake.legacy_text`` marks are read from legacy encodings; an unsigned payload
is stored in that form, a signed one as it was signed (docs/vietnamese-text.md).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from lxml import etree

from lienthong.edxml.headers import STATUS_CODE
from lienthong.envelope import Envelope, MessageKind
from lienthong.errors import LegacyTextError, SignatureError, SignatureMissingError, UnknownAdapterError
from lienthong.intake.edxml_facts import DOCUMENT_TYPE, apply_facts, is_edxml, refuse_foreign_facts
from lienthong.intake.text import TextIntake, TextOutcome
from lienthong.jsonxml import is_json_content_type
from lienthong.pipeline.prepare import Stages, one_message, payload_tree
from lienthong.pipeline.route import Router
from lienthong.store import (
    AcceptResult,
    Claim,
    ClaimOffer,
    MessageFilter,
    PreparedDelivery,
    RouteDecision,
    RouteStatus,
    Store,
)
from lienthong.trust.verify import XmlVerifier
from lienthong.xml import DEFAULT_LIMITS, XmlLimits, parse_xml

log = logging.getLogger("lienthong.intake")


class Dispatch(Protocol):
    """The delivery side of this process, as the intake sees it (``DeliveryWorkers``)."""

    def offer(self, targets: Sequence[str]) -> ClaimOffer | None:
        """Free delivery threads for an accept storing deliveries to ``targets``, reserved until
        :meth:`accepted`; None when there are none (or claiming at accept would not be fair)."""
        ...

    def accepted(self, offer: ClaimOffer | None, claims: Sequence[Claim], left: int) -> None:
        """After the accept's commit (or its failure: no claims, ``left`` 0): start ``claims``, give
        back the slots they did not use, and look for the ``left`` deliveries stored queued."""
        ...


@dataclass(frozen=True)
class Routed:
    """A message authenticated, routed and translated, ready for the store (see :meth:`Intake.route`)."""

    envelope: Envelope
    decision: RouteDecision
    prepared: list[PreparedDelivery]


def _whole_document(root: etree._Element) -> etree._Element:
    return root


class Intake:
    def __init__(
        self,
        store: Store,
        router: Router,
        preparations: Mapping[str, Stages],
        on_accepted: Callable[[], None] | None = None,
        verifier: XmlVerifier | None = None,
        text: TextIntake | None = None,
        document_limits: XmlLimits = DEFAULT_LIMITS,
        dispatch: Dispatch | None = None,
    ) -> None:
        self.store = store
        #: How large an official document's XML may be (``api.max_document_size``; see limits_for).
        self.document_limits = document_limits
        self.text = text if text is not None else TextIntake()
        self.router = router
        self.preparations = preparations
        #: Told of every message stored (counted; without a ``dispatch``, also what wakes delivery).
        self.on_accepted = on_accepted
        #: Offered the deliveries of each accept, to start them at once (:class:`ClaimOffer`).
        self.dispatch = dispatch
        self.verifier = verifier

    def _prepare(
        self, envelope: Envelope, parsed: list[etree._Element], decision: RouteDecision
    ) -> list[PreparedDelivery]:
        """Each target's delivery. ``parsed`` holds the payload's tree (or nothing), and only it does.

        The tree is lent to each target's adapter but handed to the last one: popped in the call, so
        no frame here keeps it, and an adapter done with it (SoapAdapter after its translation) lets
        the input go before it validates and writes its output — the two trees of a translation are
        the largest things a request makes the hub hold.
        """
        prepared = []
        last = len(decision.targets) - 1
        with one_message():  # the payload is checked against an input schema once, whichever targets share it
            for index, target in enumerate(decision.targets):
                stages = self.preparations.get(target)
                if stages is None:
                    raise UnknownAdapterError(f"route '{decision.rule}' targets unknown adapter '{target}'")
                # Chosen in the call itself, not through a local, which would hold it until the next turn.
                prepared.append(
                    stages.prepare(
                        envelope,
                        (parsed[0] if index < last else parsed.pop()) if parsed else None,
                        handed_over=index == last,
                    )
                )
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
        keep_correlation: bool = False,
    ) -> AcceptResult:
        """Authenticate, route, translate and store; raises HubError subclasses for refused input.

        ``tree`` is the payload already parsed by the caller (with the hardened parser), so it is not
        parsed twice. ``authenticated`` is what :meth:`authenticate` returned for this payload, when
        the caller needed it first (the SOAP gateway reads the dossier code from it). A caller that
        holds a tree should rather call :meth:`route`, drop the tree, then :meth:`commit`.
        """
        return self.commit(
            self.route(envelope, tree=tree, authenticated=authenticated, keep_correlation=keep_correlation)
        )

    def route(
        self,
        envelope: Envelope,
        *,
        tree: etree._Element | None = None,
        authenticated: etree._Element | None = None,
        keep_correlation: bool = False,
    ) -> Routed:
        """The first half of :meth:`submit`: authenticate, route and translate, nothing stored yet.

        What comes back holds no tree. The parsed payload is the largest thing a request makes the
        hub hold (libxml2 nodes take 3–4 times the bytes they were parsed from), and the store needs
        none of it: parsed here, it is gone when this returns, before the store makes its own copies
        of the payload; a caller that passed its own tree lets go of it before :meth:`commit`.

        An edXML payload's facts fill the envelope before routing (:mod:`~lienthong.intake.edxml_facts`),
        read from what the hub acts on; ``keep_correlation`` says the sender chose the correlation id
        (otherwise it follows the document id).
        """
        if tree is None and authenticated is None and envelope.is_xml:
            tree = parse_xml(envelope.payload, limits=self.limits_for(envelope))
        if authenticated is not None:
            tree = authenticated  # the caller has put its text in order (see normalise_xml)
        elif tree is not None:
            acted = self.authenticate(tree, envelope.sender)
            envelope = self.normalise_xml(envelope, acted, signed=acted is not tree)
            tree = acted
            del acted
        elif self.verifier is not None and self.verifier.trust.policy_for(envelope.sender).require_signature:
            raise SignatureMissingError(
                f"this agency's messages must be signed XML; a {envelope.content_type} payload "
                "cannot carry an XML signature",
                reason="unsigned",
                agency=envelope.sender,
            )
        elif is_json_content_type(envelope.content_type):
            envelope = _with_text(envelope, self.text.json(envelope.payload, envelope.sender))
        if tree is None:  # JSON (unsigned, where that is allowed) is routed and mapped as its XML form
            tree = payload_tree(envelope)
        if tree is not None and is_edxml(tree):
            envelope = apply_facts(envelope, tree, keep_correlation=keep_correlation)
        else:
            refuse_foreign_facts(envelope)
        decision = self.router.decide(envelope, tree)
        parsed = [tree] if tree is not None else []
        del tree, authenticated  # _prepare hands the tree on; a reference here would keep it
        return Routed(envelope, decision, self._prepare(envelope, parsed, decision))

    def limits_for(self, envelope: Envelope) -> XmlLimits:
        """The parser's bounds for this message's payload: an official document's may be large (its
        attachments are base64 text nodes of tens of MB; the door let it in by ``api.max_document_size``),
        every other kind keeps the common limits."""
        return self.document_limits if envelope.kind is MessageKind.DOCUMENT else DEFAULT_LIMITS

    def normalise_xml(self, envelope: Envelope, acted: etree._Element, *, signed: bool) -> Envelope:
        """Put what the hub acts on in NFC, legacy fields converted (in place), and return the envelope
        to store: with the NFC payload when unsigned, the signed bytes otherwise; headers record it."""
        return _with_text(envelope, self.text.xml(envelope.payload, acted, envelope.sender, signed=signed))

    def commit(self, routed: Routed) -> AcceptResult:
        """The second half of :meth:`submit`: store the message and its deliveries in one transaction.
        Deliveries a free delivery thread can start are stored claimed and handed to it from memory."""
        envelope, decision, prepared = routed.envelope, routed.decision, routed.prepared
        dispatch = self.dispatch
        if dispatch is None:
            result = self.store.accept(envelope, decision, prepared)
        else:
            offer = dispatch.offer([p.target for p in prepared]) if prepared else None
            try:
                result = self.store.accept(envelope, decision, prepared, offer)
            except BaseException:
                dispatch.accepted(offer, (), 0)
                raise
            dispatch.accepted(
                offer, result.claims, len(prepared) - len(result.claims) if result.created else 0
            )
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
            if envelope.kind is MessageKind.STATUS and envelope.document_type == DOCUMENT_TYPE:
                self._warn_if_unmatched(envelope)
        return result

    def _warn_if_unmatched(self, envelope: Envelope) -> None:
        """A status package about a document the hub has never seen is kept (it is a message) and
        reported: here, and in ``GET /api/v1/documents?unmatched=true`` (docs/edxml.md)."""
        document_id = envelope.document_id
        if document_id is not None and any(
            entry.envelope.kind is MessageKind.DOCUMENT for entry in self.store.document_trail(document_id)
        ):
            return
        log.warning(
            "status package %s from %s (code %s) is about a document the hub does not know: %s",
            envelope.message_id,
            envelope.sender,
            envelope.headers.get(STATUS_CODE, "?"),
            document_id or "(no DocumentId in ResponseFor)",
        )

    def reroute_unroutable(self, message_ids: Sequence[uuid.UUID] = (), limit: int = 1000) -> list[uuid.UUID]:
        """Route unroutable messages again with the current rules (after the operator fixed them)."""
        rerouted = []
        for record in self.store.list_messages(
            MessageFilter(message_ids=message_ids, unroutable=True, limit=limit)
        ):
            envelope = record.envelope
            tree = None if envelope.is_xml else payload_tree(envelope)
            if envelope.is_xml:
                # Act on what the signature covered at intake, as intake did: checked again at the time
                # of receipt, so an expired certificate does not strand a message accepted before.
                try:
                    stored = parse_xml(envelope.payload, limits=self.limits_for(envelope))
                    tree = self.authenticate(stored, envelope.sender, at=envelope.received_at)
                    self.text.xml(envelope.payload, tree, envelope.sender, signed=tree is not stored)
                except (SignatureError, LegacyTextError) as exc:
                    log.warning("not re-routed %s: %s", envelope.message_id, exc.message)
                    continue
            decision = self.router.decide(envelope, tree)
            if decision.status is RouteStatus.UNROUTABLE:
                continue
            parsed = [tree] if tree is not None else []
            self.store.reroute(envelope.message_id, decision, self._prepare(envelope, parsed, decision))
            rerouted.append(envelope.message_id)
        if rerouted:
            if self.dispatch is not None:
                self.dispatch.accepted(None, (), len(rerouted))
            if self.on_accepted is not None:
                self.on_accepted()
        return rerouted


def _with_text(envelope: Envelope, outcome: TextOutcome) -> Envelope:
    if outcome.payload is envelope.payload and not outcome.headers:
        return envelope
    return replace(envelope, payload=outcome.payload, headers={**envelope.headers, **outcome.headers})
