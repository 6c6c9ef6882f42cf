"""The national document axis's REST protocol (VPCP, ``000.00.00.G22``), as one small client.

Four calls under the adapter's endpoint, every parameter in an HTTP header (``from``, ``to``,
``servicetype``, ``messagetype``, ``docId``, ``status``), every answer the same JSON shape
``{status: OK|FAIL, ErrorCode, ErrorDesc, DocId | data}``. The delivery plugin
(:mod:`~lienthong.delivery.axis_adapter`) sends with :meth:`AxisClient.send_edoc`; the receiver
(:mod:`~lienthong.delivery.axis_receive`) lists, fetches and acknowledges with the other three.

The client only reads answers; what they mean for a delivery (delivered, retry, dead) is the
plugin's decision. A call that got no answer raises the transport's ``TransientDeliveryError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from lienthong.delivery.transports.base import Transport, TransportRequest, TransportResponse
from lienthong.errors import TransientDeliveryError

__all__ = [
    "AXIS_SERVICE_TYPE",
    "AxisAnswer",
    "AxisClient",
    "AxisOptions",
    "ReceivedItem",
    "hash_file",
]

#: The axis's service type for official documents; the only one the hub speaks.
AXIS_SERVICE_TYPE: Final = "eDoc"
AxisMessageType = Literal["edoc", "status"]
AxisStatus = Literal["processing", "done", "fail"]


class AxisOptions(BaseModel):
    """The ``options:`` of an adapter with ``plugin: edxml-axis`` (docs/edxml.md, "The national axis")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key_env: str | None = Field(
        default=None,
        description="Environment variable holding the axis API key (never the key itself); unset: "
        "deliveries wait, naming it, and receiving is skipped with a warning.",
    )
    api_key_header: str = Field(default="X-API-Key", description="Header that carries the key.")
    transient_codes: list[str] = Field(
        default_factory=lambda: ["BUSY", "SYSTEM_ERROR", "TIMEOUT"],
        description="ErrorCodes of a FAIL answer meaning 'try again later'; any other code is a "
        "refusal (dead delivery). HASH_MISMATCH is tried again once, then refused.",
    )


@dataclass(frozen=True)
class AxisAnswer:
    """One answer of the axis, read: ``ok`` when ``status`` is OK; ``data`` as given (a list or text)."""

    http_status: int
    body: bytes
    ok: bool
    error_code: str
    error_desc: str
    doc_id: str | None
    data: Any

    @property
    def reason(self) -> str:
        return f"{self.error_code}: {self.error_desc}" if self.error_desc else self.error_code


@dataclass(frozen=True)
class ReceivedItem:
    """One entry of ``getReceivedEdocList``: a message waiting for the receiving agency."""

    doc_id: str
    sender: str
    to: str
    message_type: str
    created: str | None


def hash_file(body: bytes) -> str:
    """The ``hash-file`` header: SHA-256 of the exact body, lower-case hex."""
    return hashlib.sha256(body).hexdigest()


def read_answer(response: TransportResponse) -> AxisAnswer | None:
    """The answer, or None when the body is not the axis's JSON answer (a proxy's error page)."""
    try:
        value = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(value, dict) or "status" not in value:
        return None
    doc_id = value.get("DocId")
    return AxisAnswer(
        http_status=response.status,
        body=response.body,
        ok=str(value.get("status")).upper() == "OK",
        error_code=str(value.get("ErrorCode") or ""),
        error_desc=str(value.get("ErrorDesc") or ""),
        doc_id=str(doc_id) if doc_id not in (None, "") else None,
        data=value.get("data"),
    )


class AxisClient:
    """Calls of the axis protocol for one adapter: its endpoint, key and transport."""

    def __init__(self, endpoint: str, options: AxisOptions, transport: Transport) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.options = options
        self.transport = transport
        self.missing_key = bool(options.api_key_env) and not os.environ.get(options.api_key_env or "")

    def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        headers = {"servicetype": AXIS_SERVICE_TYPE, "Accept": "application/json", **extra}
        if self.options.api_key_env:
            headers[self.options.api_key_header] = os.environ.get(self.options.api_key_env, "")
        return headers

    def call(self, operation: str, headers: Mapping[str, str], body: bytes = b"") -> TransportResponse:
        """One POST to ``{endpoint}/{operation}``; the raw response (TransientDeliveryError: none)."""
        request = TransportRequest(
            url=f"{self.endpoint}/{operation}", body=body, headers=self._headers(headers), method="POST"
        )
        return self.transport.send(request)

    def send_edoc(
        self, body: bytes, *, sender: str, recipients: Sequence[str], message_type: AxisMessageType
    ) -> TransportResponse:
        headers = {
            "Content-Type": "application/xml",
            "hash-file": hash_file(body),
            "from": sender,
            "to": ",".join(recipients),
            "messagetype": message_type,
        }
        return self.call("sendEdoc", headers, body)

    def _answer(self, operation: str, response: TransportResponse) -> AxisAnswer:
        """A usable OK answer, or TransientDeliveryError saying why not (for the receiver, every
        failure is 'try again next round': nothing has been taken from the axis)."""
        answer = read_answer(response)
        if answer is None:
            raise TransientDeliveryError(
                f"{operation}: unreadable answer (HTTP {response.status}) from {self.endpoint}",
                response=response.body,
                response_status=response.status,
            )
        if not answer.ok or response.status >= 300:
            raise TransientDeliveryError(
                f"{operation}: the axis answered {answer.reason} (HTTP {response.status})",
                response=response.body,
                response_status=response.status,
            )
        return answer

    def received(self, agency: str, message_type: AxisMessageType) -> list[ReceivedItem]:
        """``getReceivedEdocList``: what waits for ``agency`` (not yet done or failed by it)."""
        response = self.call("getReceivedEdocList", {"from": agency, "messagetype": message_type})
        answer = self._answer("getReceivedEdocList", response)
        items = answer.data if isinstance(answer.data, list) else []
        found = []
        for item in items:
            if not isinstance(item, dict) or not item.get("docId"):
                continue
            found.append(
                ReceivedItem(
                    doc_id=str(item["docId"]),
                    sender=str(item.get("from") or ""),
                    to=str(item.get("to") or ""),
                    message_type=str(item.get("messageType") or message_type),
                    created=str(item["createdTime"]) if item.get("createdTime") else None,
                )
            )
        return found

    def get_edoc(self, agency: str, doc_id: str) -> bytes:
        """``getEdoc``: the message's edXML bytes, decoded from the answer's base64 ``data``."""
        response = self.call("getEdoc", {"from": agency, "docId": doc_id})
        answer = self._answer("getEdoc", response)
        if not isinstance(answer.data, str):
            raise TransientDeliveryError(f"getEdoc {doc_id}: the answer has no base64 'data'")
        try:
            return base64.b64decode(answer.data, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise TransientDeliveryError(f"getEdoc {doc_id}: 'data' is not base64: {exc}") from exc

    def update_status(self, agency: str, doc_id: str, status: AxisStatus) -> None:
        """``updateStatus``: tell the axis what became of a fetched message."""
        response = self.call("updateStatus", {"from": agency, "docId": doc_id, "status": status})
        self._answer("updateStatus", response)

    def close(self) -> None:
        self.transport.close()
