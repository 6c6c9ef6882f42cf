"""How the HTTP edge answers what it refuses or fails at: one audit line per refusal, and never a bare 500.

A refusal is the caller's doing (4xx): it leaves exactly one line on ``lienthong.audit`` through
``callers.audit_refusal``, the same line the SOAP gateway writes, naming the reason, the agency (when the
caller was identified), the service, the remote address and a detail — never a key, nor a payload.
An unexpected error is the hub's doing (5xx): the caller gets a generic answer carrying a reference,
and the log gets that reference with the traceback.

``CatchAll`` is the last line of defence, an ASGI middleware around the routes: an exception nothing
else handled becomes that generic answer instead of the server's ``text/plain`` "Internal Server Error".
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lienthong.errors import HubError, SchemaValidationError
from lienthong.intake.callers import Identity, audit_refusal, remote_address

log = logging.getLogger("lienthong.api")

#: Key in the request state under which the REST dependencies note who called and for what.
IDENTITY_STATE = "identity"
SERVICE_STATE = "service"


class ProblemResponse(JSONResponse):
    """``application/problem+json`` that renders whatever the detail holds.

    JSON text may carry a lone surrogate (``"\\ud800"``), which no UTF-8 encoder accepts; a problem
    that quotes one (a field name in a validation error, say) is sent with non-ASCII escaped rather
    than failing while the refusal is being written."""

    media_type = "application/problem+json"

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def refusal_detail(exc: HubError) -> str:
    """What an audit line may say about ``exc``. A schema violation's message can quote a value from
    the payload (an ID number that is not a valid xs:integer), so only where it is goes to the log."""
    if isinstance(exc, SchemaValidationError) and exc.violations:
        first = exc.violations[0]
        where = " ".join(p for p in (f"line {first.line}" if first.line else "", first.path or "") if p)
        return f"{len(exc.violations)} schema violation(s), the first at {where or 'an unknown place'}"
    return exc.message


def note_caller(conn: HTTPConnection, identity: Identity, service: str) -> None:
    """Remember who is calling, so that a later refusal of the same request names them.

    Written to the scope's state dictionary itself, which ``conn.state`` (and every later
    ``request.state`` of this request) reads and writes: the same place, without a ``State`` object."""
    state = conn.scope.setdefault("state", {})
    state[IDENTITY_STATE] = identity
    state[SERVICE_STATE] = service


def audit_http_refusal(conn: HTTPConnection, reason: str, detail: str, *, service: str | None = None) -> None:
    """The audit line for a refusal at the HTTP edge, with what is known of the caller by now."""
    identity = getattr(conn.state, IDENTITY_STATE, None)
    audit_refusal(
        reason,
        service=getattr(conn.state, SERVICE_STATE, None) or service,
        agency=identity.agency if isinstance(identity, Identity) else None,
        remote=remote_address(conn),
        detail=f"{detail} ({conn.scope.get('method', '-')} {conn.url.path})",
    )


def new_reference() -> str:
    """What an operator searches the log for when a caller quotes an internal error."""
    return str(uuid.uuid4())


class CatchAll:
    """Turn an exception no handler took into ``answer(scope, reference)``, logged with that reference.

    Starlette's own last resort answers ``text/plain`` and raises again; this one answers in the
    caller's protocol (problem+json, or a SOAP Fault under ``/soap/``). Once a response has started
    nothing can be answered any more, and the error propagates to the server as before.
    """

    def __init__(self, app: ASGIApp, answer: Callable[[Scope, str], Response]) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            reference = new_reference()
            log.error(
                "internal error ref=%s %s %s", reference, scope.get("method"), scope.get("path"), exc_info=exc
            )
            await self.answer(scope, reference)(scope, receive, send)
