"""The REST API's request and response models: what a provincial system sends and what it reads back.

Kept apart from the routes (``rest.py``) so that the contract — the OpenAPI schemas clients and the
fuzzer read — is one small module, and the routes stay thin.
"""

from __future__ import annotations

import binascii
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lienthong.envelope import MessageKind, derive_correlation_id, nfc
from lienthong.errors import InvalidMessageError, RequestInvalidError
from lienthong.jsonxml import dumps
from lienthong.store import DeliveryState, MessageRecord, RouteDecision, TrailDelivery, TrailEntry

#: The request field that, until API 1.1, named the sender's id: accepted in place of
#: ``sender_message_id``, and deprecated, since ``message_id`` is the hub's id everywhere else.
DEPRECATED_SENDER_ID = "message_id"


def _document_deprecated_sender_id(schema: dict[str, Any]) -> None:
    """The OpenAPI schema says what the hub accepts: ``sender_message_id``, or the deprecated
    ``message_id`` in its place, exactly one of the two."""
    properties = schema.setdefault("properties", {})
    properties[DEPRECATED_SENDER_ID] = {
        **properties["sender_message_id"],
        "title": "Message Id",
        "deprecated": True,
        "description": "Deprecated old name of sender_message_id; send sender_message_id instead.",
    }
    schema["required"] = [name for name in schema.get("required", []) if name != "sender_message_id"]
    schema["oneOf"] = [{"required": ["sender_message_id"]}, {"required": [DEPRECATED_SENDER_ID]}]


class MessageMetadata(BaseModel):
    """What a provincial system says about a message, apart from its payload: the JSON envelope's
    fields, or the ``X-Hub-*`` headers of a raw XML body (``raw_xml.py``). One model, so both ways in
    are held to the same rules."""

    model_config = ConfigDict(extra="forbid")

    sender_message_id: str = Field(
        min_length=1, max_length=200, description="The sender's own id for this message."
    )
    kind: MessageKind
    sender: str = Field(min_length=1, max_length=64, description="Agency code of the sending system.")
    recipient: str | None = Field(default=None, max_length=64)
    procedure_code: str | None = Field(default=None, max_length=64, description="Mã TTHC, e.g. 1.004227.")
    dossier_code: str | None = Field(default=None, max_length=64, description="Mã hồ sơ.")
    document_id: str | None = Field(default=None, max_length=256)
    document_type: str | None = Field(default=None, max_length=64)
    correlation_id: uuid.UUID | None = Field(
        default=None, description="Defaults to one derived from the dossier code or document id."
    )
    causation_id: uuid.UUID | None = None
    created_at: datetime | None = None
    headers: dict[str, str] = Field(default_factory=dict, max_length=64)

    @field_validator("*", mode="after")
    @classmethod
    def _unicode_text(cls, value: object) -> object:
        """JSON can carry a lone surrogate (``"\\ud800"``), which is no Unicode text: no UTF-8 payload,
        database column or log line can hold it, so it is refused here, where the field is named."""
        texts = [value] if isinstance(value, str) else []
        if isinstance(value, dict):
            texts = [*value.keys(), *value.values()]
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                message = "text holds a lone surrogate (such as \\ud800), which UTF-8 cannot encode"
                raise ValueError(message) from None
        return value


class SubmitMessage(MessageMetadata):
    """A message from a provincial system. ``sender_message_id`` is the sender's own id: resubmitting
    the same id with the same content is safe and returns the first answer. The hub's id for the
    message, answered as ``message_id``, is another id (docs/api.md)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_deprecated_sender_id)

    content_type: str = Field(default="application/xml", max_length=200)
    payload: str | None = Field(default=None, description="Payload as text (sent as UTF-8).")
    payload_base64: str | None = Field(default=None, description="Payload as base64, for exact bytes.")

    @model_validator(mode="before")
    @classmethod
    def _sender_id_by_its_old_name(cls, data: Any) -> Any:
        """A client written for API 1.0 sends its id as ``message_id``: still taken, as that."""
        if isinstance(data, dict) and DEPRECATED_SENDER_ID in data:
            if "sender_message_id" in data:
                message = "give the sender's id once, as 'sender_message_id' ('message_id' is its old name)"
                raise ValueError(message)
            data = {
                ("sender_message_id" if key == DEPRECATED_SENDER_ID else key): value
                for key, value in data.items()
            }
        return data

    @model_validator(mode="after")
    def _one_payload(self) -> SubmitMessage:
        if (self.payload is None) == (self.payload_base64 is None):
            raise ValueError("give exactly one of 'payload' or 'payload_base64'")
        return self

    def payload_bytes(self) -> bytes:
        if self.payload is not None:
            return self.payload.encode("utf-8")
        assert self.payload_base64 is not None
        try:
            # Strict, as base64.b64decode(validate=True), but from the text itself: b64decode would
            # first copy it into bytes, as large as the request. A non-ASCII character is a ValueError.
            return binascii.a2b_base64(self.payload_base64, strict_mode=True)
        except ValueError as exc:
            raise InvalidMessageError(f"payload_base64 is not valid base64: {exc}") from exc

    def take_payload(self) -> bytes:
        """The payload's bytes, the model forgetting its text form as it gives them.

        The text is as large as the request, and FastAPI holds the model until the route returns: kept,
        it would sit beside the payload, its parsed tree and the translation through all of intake.
        """
        payload = self.payload_bytes()
        self.payload = self.payload_base64 = None
        return payload


class RouteView(BaseModel):
    status: str
    rule: str | None
    targets: list[str]
    reason: str


class Accepted(BaseModel):
    message_id: uuid.UUID = Field(description="The hub's id for the message: the one to read it by.")
    sender_message_id: str = Field(description="The sender's own id, as it was submitted.")
    correlation_id: uuid.UUID
    status_url: str
    duplicate: bool = Field(description="True when this repeats an earlier submission.")
    route: RouteView


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the answer to an accepted submission says: :class:`Accepted` as the FastAPI route returns
    it (``model``), or its JSON written at once (``json``) for the lean path, which would otherwise
    build two models (~10 µs of pydantic per submission) only to serialise them. The bytes are the
    same (tests/unit/test_receipt.py compares them over hostile text)."""

    message_id: uuid.UUID
    sender_message_id: str
    correlation_id: uuid.UUID
    status_url: str
    duplicate: bool
    route: RouteDecision

    def model(self) -> Accepted:
        """The model, field for field (the names are :class:`Accepted`'s; a test holds them equal)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        return Accepted(**{**values, "route": route_view(self.route)})

    def json(self) -> bytes:
        """``model()``'s JSON, in :class:`Accepted`'s field order, without the models."""
        route = self.route
        answer = {
            "message_id": str(self.message_id),
            "sender_message_id": self.sender_message_id,
            "correlation_id": str(self.correlation_id),
            "status_url": self.status_url,
            "duplicate": self.duplicate,
            "route": {
                "status": route.status.value,
                "rule": route.rule,
                "targets": route.targets,
                "reason": route.reason,
            },
        }
        # jsonxml's compact JSON is pydantic's for these values: UTF-8, the same escapes (a test
        # checks every code point).
        return dumps(answer)


class AttemptView(BaseModel):
    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None
    response_status: int | None


class DeliveryView(BaseModel):
    target: str
    operation: str | None = Field(
        default=None, description="The adapter operation the delivery calls (None: the adapter has one)."
    )
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    history: list[AttemptView]


class MessageView(BaseModel):
    message_id: uuid.UUID
    sender_message_id: str
    kind: MessageKind
    sender: str
    recipient: str | None
    procedure_code: str | None
    dossier_code: str | None
    document_id: str | None
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None
    content_type: str
    payload_sha256: str
    payload_size: int
    received_at: datetime
    route: RouteView
    route_history: list[RouteView]
    deliveries: list[DeliveryView]


def route_view(r: Any) -> RouteView:
    return RouteView(status=r.status.value, rule=r.rule, targets=list(r.targets), reason=r.reason)


def message_view(record: MessageRecord) -> MessageView:
    env = record.envelope
    return MessageView(
        message_id=env.message_id,
        sender_message_id=env.sender_message_id,
        kind=env.kind,
        sender=env.sender,
        recipient=env.recipient,
        procedure_code=env.procedure_code,
        dossier_code=env.dossier_code,
        document_id=env.document_id,
        correlation_id=env.correlation_id,
        causation_id=env.causation_id,
        content_type=env.content_type,
        payload_sha256=env.payload_sha256,
        payload_size=len(env.payload),
        received_at=env.received_at,
        route=route_view(record.route),
        route_history=[route_view(r) for r in record.route_history],
        deliveries=[
            DeliveryView(
                target=d.target,
                operation=d.operation,
                state=d.state,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_error=d.last_error,
                delivered_at=d.delivered_at,
                history=[
                    AttemptView(
                        number=a.number,
                        worker=a.worker,
                        started_at=a.started_at,
                        finished_at=a.finished_at,
                        outcome=a.outcome.value if a.outcome else None,
                        error=a.error,
                        response_status=a.response_status,
                    )
                    for a in d.history
                ],
            )
            for d in record.deliveries
        ],
    )


# ---------------------------------------------------------------- a dossier's trail

#: The longest dossier code the hub stores (``messages.dossier_code``, as ``SubmitMessage`` allows).
DOSSIER_CODE_MAX = 64


def checked_dossier_code(text: str) -> str:
    """The dossier code a reader asks for, in the NFC form intake stores codes in; a code no message
    can have (too long, control characters) is the reader's mistake, not an unknown dossier."""
    code = nfc(text) or ""
    problem = None
    if len(code) > DOSSIER_CODE_MAX:
        problem = f"a dossier code has at most {DOSSIER_CODE_MAX} characters, not {len(code)}"
    elif any(unicodedata.category(ch) == "Cc" for ch in code):
        problem = "a dossier code holds no control characters (U+0000–U+001F, U+007F–U+009F)"
    if problem is not None:
        raise RequestInvalidError(
            f"invalid dossier code: {problem}",
            detail={"errors": [{"location": "path.code", "message": problem}]},
        )
    return code


class TrailDeliveryView(BaseModel):
    """One delivery of a message on the trail: the system it goes to and how it has fared."""

    #: A field of TrailDelivery the view lacks is an error, not silently dropped (see trail_view).
    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="The adapter (the system) it is delivered to.")
    operation: str | None = Field(description="The adapter's operation it calls (None: it has one).")
    state: DeliveryState
    attempts: int = Field(description="Attempts so far, over the delivery's whole life.")
    last_error: str | None
    delivered_at: datetime | None
    response_status: int | None = Field(description="HTTP status of the system's last answer.")
    updated_at: datetime = Field(description="When its state last changed.")
    status_url: str | None = Field(
        description="The message's status resource, with every attempt of this delivery. Always set "
        "by the API; `hub trail --json` sets it only when `api.public_url` is configured."
    )


class TrailMessageView(BaseModel):
    """One message in or out of the hub about the dossier."""

    message_id: uuid.UUID = Field(description="The hub's id for the message.")
    kind: MessageKind
    sender: str = Field(description="Agency code of the system that sent it to the hub.")
    recipient: str | None
    sender_message_id: str
    received_at: datetime
    procedure_code: str | None
    dossier_code: str | None = Field(
        description="Null for a message that names only the dossier's correlation id."
    )
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = Field(description="The message that caused this one, if known.")
    route: RouteView = Field(description="The route decision in force.")
    status_url: str | None = Field(description="Its status resource (see the deliveries' status_url).")
    deliveries: list[TrailDeliveryView]


class DossierTrail(BaseModel):
    """Every message of one dossier, in and out, across all systems, oldest first."""

    dossier_code: str
    correlation_id: uuid.UUID = Field(description="The correlation id derived from the dossier code.")
    messages: list[TrailMessageView]


def trail_view(code: str, entries: Sequence[TrailEntry], base_url: str | None) -> DossierTrail:
    """The trail as the API and ``hub trail --json`` show it; links under ``base_url`` when known."""
    messages = []
    for entry in entries:
        env = entry.envelope
        url = None if base_url is None else f"{base_url}/api/v1/messages/{env.message_id}"
        messages.append(
            TrailMessageView(
                message_id=env.message_id,
                kind=env.kind,
                sender=env.sender,
                recipient=env.recipient,
                sender_message_id=env.sender_message_id,
                received_at=env.received_at,
                procedure_code=env.procedure_code,
                dossier_code=env.dossier_code,
                correlation_id=env.correlation_id,
                causation_id=env.causation_id,
                route=route_view(entry.route),
                status_url=url,
                deliveries=[_trail_delivery_view(d, url) for d in entry.deliveries],
            )
        )
    return DossierTrail(
        dossier_code=code, correlation_id=derive_correlation_id(code, None), messages=messages
    )


def _trail_delivery_view(delivery: TrailDelivery, status_url: str | None) -> TrailDeliveryView:
    """Every field of the store's TrailDelivery but its row id, by name: a field added there is shown
    once TrailDeliveryView declares it (and refused until then, by ``extra="forbid"``)."""
    shown = {f.name: getattr(delivery, f.name) for f in fields(delivery) if f.name != "id"}
    return TrailDeliveryView(**shown, status_url=status_url)
