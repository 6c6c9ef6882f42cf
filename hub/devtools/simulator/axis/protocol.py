"""The national axis's REST protocol, as both edXML simulators serve it (design: docs/simulators.md).

Every parameter travels in an HTTP header (``from``, ``to``, ``servicetype``, ``messagetype``,
``docId``, ``status``, ``hash-file``); every answer is ``{"status": "OK"|"FAIL", "ErrorCode",
"ErrorDesc", …}``. A ``FAIL`` with HTTP 4xx is the caller's mistake (sending again will not help); a 5xx,
a cut connection or a timeout is the axis's trouble (sending again will). Faults come from the live
:class:`~lienthong.devtools.simulator.faults.FaultPlan`, before anything is read.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lienthong.devtools.simulator.axis.core import EdxmlCore
from lienthong.devtools.simulator.axis.facts import EdocFacts, read_facts
from lienthong.devtools.simulator.core import retry_after, stall_or_cut
from lienthong.errors import HubError

__all__ = ["AxisProtocol", "axis_answer", "read_or_none"]

log = logging.getLogger("lienthong.simulator")
MESSAGE_TYPES: Final = ("edoc", "status")
UPDATE_STATUSES: Final = ("processing", "done", "fail")


class _Fail(Exception):
    def __init__(self, http: int, code: str, desc: str) -> None:
        super().__init__(desc)
        self.http, self.code, self.desc = http, code, desc


def axis_answer(
    http: int = 200, code: str = "0", desc: str = "", headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    """``{"status", "ErrorCode", "ErrorDesc", …extra}`` in that order: OK when ``code`` is "0"."""
    body: dict[str, object] = {
        "status": "OK" if code == "0" else "FAIL",
        "ErrorCode": code,
        "ErrorDesc": desc,
    }
    return JSONResponse(body | extra, http, headers=headers)


def read_or_none(body: bytes, what: str) -> EdocFacts | None:
    """The facts of a message the simulator carries, or None (logged) when it cannot read them."""
    try:
        return read_facts(body)
    except HubError as exc:
        log.warning("simulator: cannot read %s (%s); no simulated agency will answer it", what, exc)
        return None


def _header(request: Request, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise _Fail(400, "MISSING_PARAMETER", f"missing header '{name}'")
    return value


class AxisProtocol:
    """``sendEdoc``, ``getReceivedEdocList``, ``getEdoc``, ``updateStatus`` under the spec's base path."""

    def __init__(self, core: EdxmlCore) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        base = self.core.spec.base_path
        handlers = {
            "sendEdoc": self.send,
            "getReceivedEdocList": self.received_list,
            "getEdoc": self.get,
            "updateStatus": self.update,
        }
        return [Route(f"{base}/{name}", self._guarded(h), methods=["POST"]) for name, h in handlers.items()]

    def _guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            core = self.core
            core.count("total")
            if core.faults.latency:
                await asyncio.sleep(core.faults.latency)
            if (mode := core.faults.next_transport_fault()) is not None:
                core.count("faults_served")
                await stall_or_cut(request, mode, core.faults)
                if mode == "fault":
                    return axis_answer(500, "INTERNAL_ERROR", "Lỗi hệ thống / internal error (simulated)")
                return axis_answer(
                    503,
                    "SERVICE_UNAVAILABLE",
                    "Hệ thống đang bảo trì / service unavailable (simulated)",
                    headers=retry_after(core.faults),
                )
            try:
                self._authenticate(request)
                return await handler(request)
            except _Fail as fail:
                core.count("refused")
                return axis_answer(fail.http, fail.code, fail.desc)

        return endpoint

    def _authenticate(self, request: Request) -> None:
        if (api_key := self.core.spec.api_key) is None:
            return
        header, expected = api_key
        if not hmac.compare_digest(request.headers.get(header, "").encode(), expected.encode()):
            raise _Fail(401, "UNAUTHORIZED", f"missing or wrong API key ({header})")

    async def send(self, request: Request) -> Response:
        sender, to = _header(request, "from"), _header(request, "to")
        service_type, message_type = _header(request, "servicetype"), _header(request, "messagetype").lower()
        if service_type.lower() != "edoc":
            raise _Fail(400, "INVALID_SERVICE_TYPE", f"servicetype must be eDoc, not '{service_type}'")
        if message_type not in MESSAGE_TYPES:
            raise _Fail(
                400, "INVALID_MESSAGE_TYPE", f"messagetype must be edoc or status, not '{message_type}'"
            )
        declared = _header(request, "hash-file").lower()
        recipients = [r.strip() for r in to.split(",") if r.strip()]
        body = await request.body()
        if not body:
            raise _Fail(400, "EMPTY_BODY", "the body must hold the edXML message")
        digest = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(digest, declared):
            raise _Fail(400, "HASH_MISMATCH", f"hash-file does not match the body (SHA-256 {digest})")
        if self.core.faults.next_rejection():
            self.core.count("rejected")
            raise _Fail(400, "REJECTED", "Từ chối / rejected (simulated rejection, fault plan)")
        facts = read_or_none(body, f"the message from {sender}")
        sender_doc_id = request.headers.get("docId", "").strip() or None
        stored, duplicate = self.core.mailbox.put(
            sender=sender,
            recipients=recipients,
            message_type=message_type,
            body=body,
            sha256=digest,
            facts=facts,
            origin="sent",
            service_type=service_type,
            sender_doc_id=sender_doc_id,
            answers=self.core.script(facts, recipients) if message_type == "edoc" else (),
        )
        if duplicate:
            if stored.sha256 != digest:
                raise _Fail(
                    409, "DUPLICATE_DOCID", f"docId {sender_doc_id} was sent before with other content"
                )
            self.core.count("duplicates")
        else:
            self.core.count("sent")
            self.core.wake()
        return axis_answer(DocId=stored.doc_id)

    async def received_list(self, request: Request) -> Response:
        agency = _header(request, "from")
        message_type = request.headers.get("messagetype", "").strip().lower() or None
        if message_type is not None and message_type not in MESSAGE_TYPES:
            raise _Fail(
                400, "INVALID_MESSAGE_TYPE", f"messagetype must be edoc or status, not '{message_type}'"
            )
        pending = self.core.mailbox.mailbox(agency, pending_only=True, message_type=message_type)
        data = [
            {
                "docId": m.doc_id,
                "from": m.sender,
                "to": ",".join(m.recipients),
                "messageType": m.message_type,
                "serviceType": m.service_type,
                "status": status,
                "createdTime": m.created_at,
            }
            for m, status in pending
        ]
        return axis_answer(data=data)

    async def get(self, request: Request) -> Response:
        doc_id, agency = _header(request, "docId"), _header(request, "from")
        message = self.core.mailbox.get(doc_id)
        if message is None or self.core.mailbox.delivery(doc_id, agency) is None:
            raise _Fail(404, "NOT_FOUND", f"no message {doc_id} for {agency}")
        self.core.count("fetched")
        return axis_answer(DocId=doc_id, data=base64.b64encode(message.body).decode("ascii"))

    async def update(self, request: Request) -> Response:
        doc_id, agency = _header(request, "docId"), _header(request, "from")
        status = _header(request, "status").lower()
        if status not in UPDATE_STATUSES:
            raise _Fail(400, "INVALID_STATUS", f"status must be processing, done or fail, not '{status}'")
        if not self.core.mailbox.set_delivery(doc_id, agency, status):
            raise _Fail(404, "NOT_FOUND", f"no message {doc_id} for {agency}")
        self.core.count("updated")
        return axis_answer(DocId=doc_id)
