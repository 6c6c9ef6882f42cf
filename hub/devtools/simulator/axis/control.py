"""The control API of an edXML simulator (``/_sim/…``): inspection, faults, injection, reset.

* ``GET /_sim/stats`` — counters since start or reset; ``held``: messages held;
* ``GET /_sim/mailbox/{agency}?pending=true&messagetype=`` — what is addressed to an agency, with its
  delivery status, SHA-256, size and edXML facts; ``GET /_sim/records`` — every message held;
* ``GET /_sim/messages/{docId}`` — a message's exact bytes;
* ``GET /_sim/answers?docId=`` — the simulated agencies' status packages, planned and sent;
* ``GET`` / ``PUT`` / ``POST /_sim/faults`` — the fault plan (the same settings as every simulator);
* ``POST /_sim/inject`` — a simulated agency sends a message (axis only);
* ``POST /_sim/reset`` — forget everything, clear the faults.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lienthong.devtools.simulator.axis.core import EdxmlCore
from lienthong.devtools.simulator.axis.packages import document_for, serialize
from lienthong.devtools.simulator.axis.protocol import read_or_none
from lienthong.edxml.model import Organ
from lienthong.errors import HubError

__all__ = ["control_routes"]


def _list(value: object) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
    return [str(i).strip() for i in items if str(i).strip()]


class _Control:
    def __init__(self, core: EdxmlCore) -> None:
        self.core = core

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.core.stats())

    async def mailbox(self, request: Request) -> Response:
        pending = request.query_params.get("pending", "").lower() in ("1", "true", "yes")
        held = self.core.mailbox.mailbox(
            request.path_params["agency"],
            pending_only=pending,
            message_type=request.query_params.get("messagetype") or None,
        )
        return JSONResponse([m.public(status) for m, status in held])

    async def records(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit") or 1000)
        return JSONResponse([m.public() for m in self.core.mailbox.messages(limit)])

    async def message(self, request: Request) -> Response:
        found = self.core.mailbox.get(request.path_params["doc_id"])
        if found is None:
            return JSONResponse({"error": "no such message"}, 404)
        return Response(found.body, media_type="application/xml")

    async def answers(self, request: Request) -> Response:
        return JSONResponse(self.core.mailbox.answers(request.query_params.get("docId")))

    async def get_faults(self, request: Request) -> Response:
        return JSONResponse(self.core.faults.as_dict())

    async def put_faults(self, request: Request) -> Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            self.core.faults.update(changes)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.core.faults.as_dict())

    async def reset(self, request: Request) -> Response:
        self.core.reset()
        self.core.faults.update({"clear": True})
        return JSONResponse(self.core.stats())

    async def inject(self, request: Request) -> Response:
        """A simulated agency sends a message: raw bytes (``Content-Type: application/xml``, headers
        ``from``, ``to``, ``messagetype``), or JSON naming a file (``path``), giving bytes
        (``data_base64``) or describing a document to build (``from``, ``to``, ``subject``, …)."""
        try:
            if "json" in request.headers.get("content-type", ""):
                given = json.loads(await request.body() or b"{}")
                if not isinstance(given, dict):
                    raise ValueError("expected a JSON object")
            else:
                given = {
                    "from": request.headers.get("from"),
                    "to": request.headers.get("to"),
                    "messagetype": request.headers.get("messagetype"),
                    "_raw": await request.body(),
                }
            return self._inject(given)
        except (ValueError, OSError, HubError) as exc:
            return JSONResponse({"error": str(exc)}, 400)

    def _inject(self, given: dict[str, object]) -> Response:
        signed = False
        if isinstance(raw := given.get("_raw"), bytes):
            body = raw
        elif given.get("path"):
            body = Path(str(given["path"])).read_bytes()
        elif given.get("data_base64"):
            try:
                body = base64.b64decode(str(given["data_base64"]), validate=True)
            except binascii.Error as exc:
                raise ValueError("data_base64 is not base64") from exc
        else:
            sender, recipients = str(given.get("from") or ""), _list(given.get("to"))
            if not sender or not recipients:
                raise ValueError("a document to build needs 'from' and 'to'")
            name = agency.name if (agency := self.core.spec.agencies.get(sender)) else None
            root = document_for(given, Organ(sender, name=name), [Organ(r) for r in recipients])
            if given.get("sign", True):
                root, signed = self.core.signers.sign(sender, root)
            body = serialize(root)
        if not body:
            raise ValueError("nothing to inject: the message is empty")
        facts = read_or_none(body, "the injected message")
        sender = str(given.get("from") or (facts.sender if facts else "") or "")
        recipients = _list(given.get("to")) or list(facts.recipients if facts else ())
        message_type = str(given.get("messagetype") or (facts.message_type if facts else "edoc")).lower()
        if not sender or not recipients:
            raise ValueError("give 'from' and 'to': the message does not say them (or cannot be read)")
        if message_type not in ("edoc", "status"):
            raise ValueError(f"messagetype must be edoc or status, not '{message_type}'")
        stored, _ = self.core.mailbox.put(
            sender=sender,
            recipients=recipients,
            message_type=message_type,
            body=body,
            sha256=hashlib.sha256(body).hexdigest(),
            facts=facts,
            origin="injected",
        )
        return JSONResponse(stored.public() | {"signed": signed}, 201)


def control_routes(core: EdxmlCore) -> list[BaseRoute]:
    control = _Control(core)
    routes: list[BaseRoute] = [
        Route("/_sim/stats", control.stats, methods=["GET"]),
        Route("/_sim/mailbox/{agency}", control.mailbox, methods=["GET"]),
        Route("/_sim/records", control.records, methods=["GET"]),
        Route("/_sim/messages/{doc_id}", control.message, methods=["GET"]),
        Route("/_sim/answers", control.answers, methods=["GET"]),
        Route("/_sim/faults", control.get_faults, methods=["GET"]),
        Route("/_sim/faults", control.put_faults, methods=["PUT", "POST"]),
        Route("/_sim/reset", control.reset, methods=["POST"]),
    ]
    if core.spec.kind == "edxml-axis":
        routes.append(Route("/_sim/inject", control.inject, methods=["POST"]))
    return routes
