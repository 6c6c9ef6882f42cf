"""Memory bounds on requests: how many bytes one body may have, and how many all bodies may hold at once.

A hub process has as much memory as its request bodies make it need: every byte of a body it keeps
costs a small multiple of itself while it is parsed, validated, stored and answered (see
docs/benchmarks.md, "Memory"). So two limits hold, both at the ASGI layer, before any route runs:

* ``api.max_body_size`` per request: a declared ``Content-Length`` above it is refused (413) before a
  byte is read; a body sent without one (chunked) is cut off as soon as it passes it. A route may
  allow more to some requests, told apart by their headers alone (``larger``): a raw XML official
  document may be up to ``api.max_document_size`` (``raw_xml.py``).
* ``api.memory_budget`` across requests: the bytes of the bodies being held and processed right now.
  A request's share is taken when its route starts reading the body (its whole declared size at
  once, or chunk by chunk as it streams) and given back only when its response has been sent, so the
  share covers everything done with the body, not just reading it. A body that would take the total
  over the budget is not read: the caller gets 503 with ``Retry-After`` (problem+json, or a SOAP
  Receiver fault on ``/soap/``), and may simply send it again; nothing of it was stored.

The share is taken on the first read, not on arrival, because the hub reads nothing before it knows
the caller (``rest.py`` and ``soap_gateway.py`` authenticate first): anonymous requests cannot use up the
budget of the partners who are entitled to it. A route that reads a body only to hash it and drop it
says so with :func:`body_not_kept`, and is not counted either.

A response sent before the body was read (a refusal) leaves the rest of the body to uvicorn, which
discards it as it arrives without buffering it, and closes the connection when it goes idle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

from lxml import etree
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lienthong.errors import HubError, OverBudgetError, PayloadTooLargeError, Title
from lienthong.intake.callers import audit_refusal
from lienthong.soap import CONTENT_TYPES, FaultMessage, SoapVersion, build_fault
from lienthong.xml import HUB_NS, qname

__all__ = ["MemoryBudget", "RequestLimits", "body_not_kept", "limit_requests"]

log = logging.getLogger("lienthong.limits")

#: Seconds a caller refused for lack of memory is told to wait: long enough for the requests in
#: flight to finish (a 10 MB request takes well under a second), short enough not to stall a partner.
RETRY_AFTER_SECONDS: Final = 2
#: Where the per-request :class:`_Share` lives in the ASGI scope.
_SCOPE_KEY: Final = "lienthong.body_share"


class MemoryBudget:
    """The bytes of request bodies a process may hold at once, and how many it holds now.

    Thread-safe, though today only the event loop takes and gives back.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    def take(self, size: int) -> bool:
        """Take ``size`` bytes if they fit under the capacity; False (and nothing taken) if not."""
        with self._lock:
            if self._in_use + size > self.capacity:
                return False
            self._in_use += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self._in_use -= size


class _OverBudgetError(Exception):
    """Raised out of ``receive`` when a body does not fit in the budget.

    Deliberately not a HubError: no exception handler of the app may turn it into an answer, since
    only :class:`RequestLimits`, which owns the budget, knows to answer 503 with ``Retry-After`` in
    the caller's protocol. It never leaves that middleware, which answers with the code and title of
    ``errors.OverBudgetError``.
    """


class _Share:
    """One request's share of the budget: what it has taken so far, given back when it is done."""

    def __init__(self, budget: MemoryBudget, declared: int | None) -> None:
        self.budget = budget
        self.declared = declared
        self.taken = 0
        self.kept = True

    def cover(self, size: int) -> None:
        """Make the share at least ``size`` bytes, or raise _OverBudgetError."""
        if not self.kept or size <= self.taken:
            return
        if not self.budget.take(size - self.taken):
            raise _OverBudgetError
        self.taken = size

    def release(self) -> None:
        if self.taken:
            self.budget.give_back(self.taken)
            self.taken = 0


def body_not_kept(connection: HTTPConnection) -> None:
    """Say, before reading it, that this request's body is only streamed through (hashed, counted)
    and never held, so it takes no share of the memory budget."""
    share = connection.scope.get(_SCOPE_KEY)
    if isinstance(share, _Share):
        share.kept = False
        share.release()


class RequestLimits:
    """ASGI middleware enforcing ``api.max_body_size`` per request and ``api.memory_budget`` across them."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_size: int,
        budget: MemoryBudget,
        larger: Callable[[Scope], int | None] | None = None,
    ) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.budget = budget
        self.larger = larger

    def body_limit(self, scope: Scope) -> int:
        """The largest body this request may have: ``max_body_size``, or more where ``larger`` says so."""
        larger = self.larger(scope) if self.larger is not None else None
        return max(self.max_body_size, larger) if larger is not None else self.max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.body_limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._answer(scope, send, 413, limit)
            return
        share = _Share(self.budget, declared)
        scope[_SCOPE_KEY] = share
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            # The whole declared size is taken before the first byte is read: a body that cannot
            # fit is refused unread, not read and then dropped.
            share.cover(share.declared or 0)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException: FastAPI turns any other error raised while reading into a 400.
                    raise StarletteHTTPException(413, f"request body exceeds {limit} bytes")
                share.cover(seen)
            return message

        async def noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, noting_start)
        except _OverBudgetError:
            if started:  # cannot happen: bodies are read before answering; never send a second start
                raise
            await self._answer(scope, send, 503, limit)
        finally:
            share.release()

    async def _answer(self, scope: Scope, send: Send, status: int, limit: int) -> None:
        """413 or 503, as problem+json or, under ``/soap/``, as a SOAP fault of the request's version."""
        path: str = scope.get("path", "")
        client = scope.get("client")
        remote = client[0] if client else None
        if status == 503:
            detail = (
                f"the hub holds as many request bodies as its memory budget allows "
                f"({self.budget.capacity} bytes); send the request again in {RETRY_AFTER_SECONDS} s"
            )
            refusal: type[HubError] = OverBudgetError
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            log.warning(
                "memory budget full: refused %s %s from %s with 503", scope.get("method"), path, remote
            )
        else:
            detail = f"request body exceeds {limit} bytes"
            refusal, headers = PayloadTooLargeError, {}
        code, title = refusal.code, refusal.title
        audit_refusal(code, service=_service(scope), remote=remote, detail=detail)
        response: Response
        if path.startswith("/soap/"):
            response = _soap_fault(scope, status, code, title, detail, headers)
        else:
            body = {
                "type": f"urn:lienthong:problem:{code}",
                "title": str(title),
                "status": status,
                "detail": detail,
            }
            response = JSONResponse(body, status, headers=headers, media_type="application/problem+json")
        await response(scope, _nothing, send)


def limit_requests(
    app: Starlette,
    max_body_size: int,
    memory_budget: int,
    larger: Callable[[Scope], int | None] | None = None,
) -> MemoryBudget:
    """Put :class:`RequestLimits` in front of ``app``; the budget it returns shows what is held now.
    ``larger`` names the requests that may exceed ``max_body_size``, and by how much (None: they may not)."""
    budget = MemoryBudget(memory_budget)
    app.add_middleware(RequestLimits, max_body_size=max_body_size, budget=budget, larger=larger)
    return budget


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def _service(scope: Scope) -> str:
    path: str = scope.get("path", "")
    if path.startswith("/soap/"):
        return "soap:" + path.removeprefix("/soap/").strip("/")
    return "rest"


def _soap_fault(
    scope: Scope, status: int, code: str, title: Title, detail: str, headers: dict[str, str]
) -> Response:
    """A SOAP fault: Receiver (1.1: Server) for 503, the sender did nothing wrong and may send the same
    again; Sender (1.1: Client) for 413. No ``requestHash``: the request was not read, so the hub does
    not know its bytes."""
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"").decode("latin-1")
    version: SoapVersion = "soap12" if content_type.lower().startswith("application/soap+xml") else "soap11"
    fault_detail = etree.Element(qname(HUB_NS, "faultDetail"), nsmap={"lt": HUB_NS})
    etree.SubElement(fault_detail, qname(HUB_NS, "code")).text = code
    etree.SubElement(fault_detail, qname(HUB_NS, "message")).text = detail
    fault = FaultMessage(
        code="Receiver" if status >= 500 else "Sender",
        title_vi=title.vi,
        title_en=title.en,
        text=detail,
        subcode=code,
        detail=fault_detail,
    )
    content = build_fault(version, fault)
    return Response(content, status, headers=headers, media_type=CONTENT_TYPES[version])


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
