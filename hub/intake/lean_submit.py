"""The raw XML submit without FastAPI's routing and dependency machinery: the busiest request, made cheap.

A one-stop system sends every dossier as ``POST /api/v1/messages`` with an XML body (``raw_xml.py``).
Through FastAPI that request walks the route table (every console, SOAP and lookup route is tried
before it), resolves its dependencies (the caller, the media type, the body, the hub: each a cached,
scoped, introspected call) and hops to a worker thread twice (the route, then the answer's
validation): about a millisecond of CPU per request, more than the store's commit. Here the same
steps run as plain calls, in the same order, with one thread hop.

What a caller sees does not change, by construction rather than by copy:

* the same middlewares that count the request (``MetricsMiddleware``), bound its body and the memory
  budget (``RequestLimits``, sharing the app's budget) and answer an unexpected error (``CatchAll``)
  wrap this endpoint as they wrap the router;
* the caller is identified and authorised by the same functions as the ``Submitter`` dependency,
  the metadata and body read by the same ``read_raw_submission``, and the message accepted by
  :func:`accept_submission`, which the FastAPI route calls too;
* an error is answered by the app's own exception handlers (problem+json, 401's
  ``WWW-Authenticate``, 503's ``Retry-After``, the audit line of a refusal), looked up as Starlette
  does; ``scope["route"]`` is the declared route, so metrics and audit lines name it as before.

The FastAPI route stays declared: it documents the operation in OpenAPI and serves every submission
this path declines (a JSON envelope, a ``root_path``), and ``app.lean_submit = False`` sends all of
them there (the tests compare both answers byte for byte).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Mapping
from contextvars import Context, copy_context
from queue import SimpleQueue
from typing import Any, Final, Generic, TypeVar

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lienthong.compose import Hub
from lienthong.config.models import ApiSettings
from lienthong.envelope import new_envelope
from lienthong.errors import PayloadTooLargeError
from lienthong.intake.callers import (
    Identity,
    authorize_request,
    client_certificate,
    forbid,
    identify_request,
    registry_of,
    remote_address,
)
from lienthong.intake.public_url import public_base_url
from lienthong.intake.raw_xml import (
    SUBMIT_PATH,
    RawSubmission,
    head_of,
    payload_limit,
    read_raw_submission,
)
from lienthong.intake.refusal import note_caller
from lienthong.intake.rest_models import Receipt, SubmitMessage

__all__ = ["LeanSubmit", "accept_submission", "takes_lean_submit"]

SUBMIT_SERVICE: Final = "rest:submit"
#: Submissions accepted at once (each waits in a thread for its batch's commit): as many as anyio's
#: default limiter lets FastAPI's sync routes run, so both paths allow the same concurrency.
SUBMIT_THREADS: Final = 40
_JSON: Final = (b"content-type", b"application/json")

Handler = Callable[[Request, Exception], Any]
T = TypeVar("T")


def accept_submission(
    hub: Hub,
    settings: ApiSettings,
    caller: Identity,
    submission: SubmitMessage | RawSubmission,
    request: Request,
) -> Receipt:
    """Accept a submission for ``caller``: the sender is the caller's agency, the payload within its
    limit, the message stored (blocking until its commit). The one body of ``POST /api/v1/messages``,
    whichever way it came in; runs in a worker thread. The receipt is what the 202 says."""
    body = submission if isinstance(submission, SubmitMessage) else submission.metadata
    if body.sender != caller.agency:
        message = f"caller {caller.agency} may not send as {body.sender}"
        raise forbid(caller, SUBMIT_SERVICE, message, remote=remote_address(request))
    limit = (
        int(settings.max_payload_size)
        if isinstance(submission, SubmitMessage)
        else payload_limit(settings, body.kind.value)
    )
    content_type = submission.content_type
    payload = submission.take_payload()
    del submission  # a raw submission held the body; from here the payload is the one reference
    if len(payload) > limit:
        raise PayloadTooLargeError(f"payload of {len(payload)} bytes exceeds {limit}")
    envelope = new_envelope(
        kind=body.kind,
        sender=body.sender,
        sender_message_id=body.sender_message_id,
        payload=payload,
        content_type=content_type,
        recipient=body.recipient,
        procedure_code=body.procedure_code,
        dossier_code=body.dossier_code,
        document_id=body.document_id,
        document_type=body.document_type,
        correlation_id=body.correlation_id,
        causation_id=body.causation_id,
        headers=body.headers,
        created_at=body.created_at,
    )
    result = hub.intake.submit(envelope, keep_correlation=body.correlation_id is not None)
    status_url = f"{public_base_url(request, hub.config)}/api/v1/messages/{result.message_id}"
    return Receipt(
        message_id=result.message_id,
        sender_message_id=envelope.sender_message_id,
        correlation_id=result.correlation_id,
        status_url=status_url,
        duplicate=not result.created,
        route=result.route,
    )


def takes_lean_submit(scope: Scope) -> bool:
    """Whether this request is a raw XML ``POST /api/v1/messages`` the lean path serves as FastAPI
    would: no ``root_path`` (the router would strip it), a Content-Type naming XML (its first
    occurrence, as ``request.headers.get`` reads it). The headers are read once here, for every
    layer after (:func:`~lienthong.intake.raw_xml.head_of`)."""
    if scope["type"] != "http" or scope["path"] != SUBMIT_PATH or scope["method"] != "POST":
        return False
    if scope.get("root_path"):
        return False
    return head_of(scope).media is not None


class LeanSubmit:
    """The endpoint: identify, authorise, read the headers and the body, accept in a worker thread,
    answer 202 with the same JSON and ``Location`` as the FastAPI route; errors to the app's handlers."""

    def __init__(self, route: APIRoute, settings: ApiSettings) -> None:
        self.route = route
        self.settings = settings
        self._handlers: Mapping[Any, Handler] | None = None
        self._threads: _Threads[tuple[bytes, bytes]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route  # as the router notes its match: metrics and audit lines read it
        request = Request(scope, receive, send)
        try:
            accepted = await self._accept(request)
        except Exception as exc:
            handler = self._handler(request, exc)
            if handler is None:
                raise
            response: Response
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:  # as Starlette runs a plain function handler (the hub has none)
                response = await run_in_threadpool(handler, request, exc)
            await response(scope, receive, send)
            exc.__traceback__ = None  # as Starlette: a reused exception would gather tracebacks
            return
        body, location = accepted
        headers = [(b"content-length", str(len(body)).encode("latin-1")), _JSON, (b"location", location)]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _accept(self, request: Request) -> tuple[bytes, bytes]:
        # The dependency's three steps, with what they read taken from the head read once; a caller
        # refused is handed to the dependency's own functions, which say why (audit line, 401/403).
        scope = request.scope
        head = head_of(scope)
        registry = registry_of(request)
        identity = registry.recognise(head.api_key, client_certificate(scope))
        if identity is None:
            identity = identify_request(request, SUBMIT_SERVICE)  # raises: nobody it recognises
        note_caller(request, identity, SUBMIT_SERVICE)
        if not registry.allows(identity, SUBMIT_SERVICE):
            authorize_request(request, identity, SUBMIT_SERVICE)  # raises: 403
        media = head.media
        assert media is not None, "takes_lean_submit checked the media type"
        submission = await read_raw_submission(request, media, identity.agency)
        hub: Hub = request.app.state.hub
        # One hop to a worker thread (the accept blocks until its batch commits), in this route's
        # own threads (see _Threads). The context goes along, as anyio's does.
        threads = self._threads
        if threads is None:
            threads = self._threads = _Threads(SUBMIT_THREADS, "hub-submit")
        return await threads.run(self._accepted, hub, identity, submission, request)

    def close(self) -> None:
        """Let the worker threads go (the app's lifespan ends); a later request starts new ones."""
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.close()

    def _accepted(
        self, hub: Hub, identity: Identity, submission: RawSubmission, request: Request
    ) -> tuple[bytes, bytes]:
        receipt = accept_submission(hub, self.settings, identity, submission, request)
        # The bytes FastAPI's response_model answers (pydantic's JSON of the model), written directly.
        return receipt.json(), receipt.status_url.encode("latin-1")

    def _handler(self, request: Request, exc: Exception) -> Handler | None:
        """The app's handler for ``exc``: by status for an HTTPException, else the nearest class in
        its MRO (Starlette's ``ExceptionMiddleware`` lookup)."""
        if self._handlers is None:  # 500 and Exception are ServerErrorMiddleware's, not the routes'
            items = request.app.exception_handlers.items()
            self._handlers = {k: h for k, h in items if k not in (500, Exception)}
        handlers = self._handlers
        if isinstance(exc, HTTPException) and (by_status := handlers.get(exc.status_code)) is not None:
            return by_status
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None


_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[T], Context, Callable[..., T], tuple[Any, ...]]
_Outcome = tuple[asyncio.Future[T], T | None, BaseException | None]


class _Threads(Generic[T]):
    """Up to ``limit`` threads that run a call and settle an asyncio future with its outcome.

    ``loop.run_in_executor`` does the same through a ``concurrent.futures.Future`` chained to the
    asyncio one (a condition taken on each side, callbacks copying the state across): measured, that
    machinery cost ~30 µs of the event loop's CPU per submission, more than identifying the caller.
    Here the worker hands the outcome to the loop in one ``call_soon_threadsafe``, and outcomes that
    finish together share it: accepts committed in one batch (``store/_sqlbatch.py``) end at once,
    and each ``call_soon_threadsafe`` writes to the loop's wake-up socket (a system call, and the
    GIL let go and taken again around it); a worker whose loop already has a hand-back pending adds
    its outcome to it instead. Threads start as ``ThreadPoolExecutor`` starts them: a new one only
    when no started one is idle, up to ``limit``.
    They are daemon threads: the app's lifespan ends them (``close``) once uvicorn has answered every
    request in flight, and a process that exits without it has no answer left to give.
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._jobs: SimpleQueue[_Job[T] | None] = SimpleQueue()
        self._started = 0
        self._idle = 0  # threads back at the queue after a job, not yet promised another one
        self._lock = threading.Lock()
        #: Outcomes waiting for their loop's pending hand-back, per loop (a loop is in it while one is).
        self._outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome[T]]] = {}

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """A future for ``fn(*args)`` run in one of the threads, in a copy of the current context."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, copy_context(), fn, args))
        with self._lock:
            if self._idle:
                self._idle -= 1
                return future
            if self._started >= self._limit:
                return future  # it waits for the first thread done with its job
            self._started += 1
            number = self._started
        threading.Thread(target=self._work, name=f"{self._name}_{number - 1}", daemon=True).start()
        return future

    def close(self) -> None:
        """Each thread ends when it next looks for a job (the jobs queued before still run)."""
        with self._lock:
            started, self._started, self._idle = self._started, 0, 0
        for _ in range(started):
            self._jobs.put(None)

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while (job := jobs.get()) is not None:
            loop, future, context, fn, args = job
            del job
            try:
                result = context.run(fn, *args)
            except BaseException as exc:  # as a ThreadPoolExecutor hands on whatever its call raised
                self._hand_back(loop, (future, None, exc))
            else:
                self._hand_back(loop, (future, result, None))
            del loop, future, context, fn, args  # a request's objects are not held while idle
            with lock:
                self._idle += 1

    def _hand_back(self, loop: asyncio.AbstractEventLoop, outcome: _Outcome[T]) -> None:
        """``outcome`` to its future on ``loop``: with the hand-back already pending there, or in a
        new one."""
        with self._lock:
            pending = self._outcomes.get(loop)
            if pending is not None:
                pending.append(outcome)
                return
            self._outcomes[loop] = [outcome]
        try:
            loop.call_soon_threadsafe(self._settle_all, loop)
        except RuntimeError:  # the loop is closed: nobody waits for these answers any more
            with self._lock:
                self._outcomes.pop(loop, None)

    def _settle_all(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: every outcome handed back to it so far, in the order they came."""
        with self._lock:
            outcomes = self._outcomes.pop(loop, ())
        for future, result, exc in outcomes:
            _settle(future, result, exc)


def _settle(future: asyncio.Future[T], result: T | None, exc: BaseException | None) -> None:
    """On the loop: the outcome, unless the request was cancelled meanwhile (its client went away)."""
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
