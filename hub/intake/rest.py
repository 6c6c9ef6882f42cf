"""REST intake for provincial systems. Thin routes: validate the request, call one service, answer.

Every error leaves as ``application/problem+json`` (RFC 9457) with a title in Vietnamese and English,
and every refusal leaves one line on ``lienthong.audit`` (``refusal.py``); under ``/soap/`` errors are
SOAP Faults (``soap_gateway.py``). Every route but ``/healthz`` and the API docs needs a caller identity
(see ``callers.py``): submitting needs the service ``rest:submit`` and may only send as the caller's own
agency; reading needs ``rest:read`` and shows only the messages of the caller's agency, unless the
caller holds ``rest:read-all`` (docs/api.md).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from lienthong.compose import Hub
from lienthong.delivery.breaker import BreakerState
from lienthong.errors import (
    ForbiddenError,
    HubError,
    MalformedRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RequestInvalidError,
    ServiceUnavailableError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    title_of,
)
from lienthong.intake.callers import (
    API_KEY_HEADER,
    READ_ALL,
    CallerRegistry,
    Identity,
    authorize_request,
    identify_request,
    note_peer_certificate,
    registry_of,
)
from lienthong.intake.lean_submit import LeanSubmit, accept_submission, takes_lean_submit
from lienthong.intake.limits import RequestLimits, limit_requests
from lienthong.intake.raw_xml import (
    RawSubmission,
    document_body_limit,
    raw_xml_media_type,
    read_raw_submission,
)
from lienthong.intake.refusal import (
    CatchAll,
    ProblemResponse,
    audit_http_refusal,
    log,
    new_reference,
    note_caller,
    refusal_detail,
)
from lienthong.intake.rest_models import (
    Accepted,
    MessageView,
    SubmitMessage,
    message_view,
)
from lienthong.observe.metrics import MetricsMiddleware
from lienthong.observe.routes import observe
from lienthong.reports.api import report_router
from lienthong.store import DeliveryState, MessageFilter, MessageRecord, Parties

PROBLEM_TYPE = "urn:lienthong:problem:"


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem whose title is the error code's, from the one table (``errors.TITLES``)."""
    body = {"type": PROBLEM_TYPE + code, "title": str(title_of(code)), "status": status, "detail": detail}
    body.update(extra)
    return ProblemResponse(body, status_code=status)


def health_view(hub: Hub) -> dict[str, object]:
    """``/healthz``: message and delivery counts, and each adapter's circuit as this process sees it.

    A breaker is per process, so each hub process answers for its own view."""
    counts = hub.store.counts()
    breakers = hub.workers.breakers()
    degraded = any(view.state is not BreakerState.CLOSED for view in breakers.values())
    return {
        "status": "degraded" if degraded else "ok",
        "messages": counts.messages,
        "unroutable": counts.unroutable,
        "deliveries": {t: {s.value: n for s, n in c.items()} for t, c in counts.by_target.items()},
        "adapters": {name: view.as_dict() for name, view in sorted(breakers.items())},
    }


async def unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After: nothing was stored, and the same request may simply be sent again."""
    assert isinstance(exc, ServiceUnavailableError)
    response = problem(exc.http_status, exc.code, exc.message, **exc.detail)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


# ---------------------------------------------------------------- application


async def get_hub(request: Request) -> Hub:
    """The hub this app was built with (see create_app); tests swap it in the composition root.

    ``async``, like the caller check below, although nothing here waits: FastAPI runs a plain ``def``
    dependency in its thread pool, a hand-over to another thread and back for a dictionary lookup."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]

#: Documents the header in OpenAPI; the check itself (key or client certificate) is ``callers.py``'s.
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="The caller's API key. Callers with a client certificate (mutual TLS) need none.",
    auto_error=False,
)


def caller_for(service: str) -> Any:
    """A dependency that identifies the caller and checks it may call ``service`` (401 / 403)."""

    async def dependency(request: Request, _key: Annotated[str | None, Security(api_key_scheme)]) -> Identity:
        # In memory (a key digest, a certificate's fields): run on the event loop, not in a thread.
        identity = identify_request(request, service)
        note_caller(request, identity, service)
        authorize_request(request, identity, service)
        return identity

    return Depends(dependency)


@dataclass(frozen=True)
class ReadAccess:
    """A reader, and the messages it may see: ``parties`` None means every agency's (``rest:read-all``)."""

    identity: Identity
    parties: Parties | None


def read_access(
    request: Request, hub: HubDep, _key: Annotated[str | None, Security(api_key_scheme)]
) -> ReadAccess:
    """``rest:read`` shows a caller the messages its agency is party to: those it sent, those addressed
    to it, and those routed to an adapter standing for it (what its system receives from the hub).
    Only ``rest:read-all``, listed as such, shows everything: the province's operators and auditors."""
    identity = identify_request(request, "rest:read")
    if registry_of(request).reads_all(identity):
        note_caller(request, identity, READ_ALL)
        return ReadAccess(identity, None)
    note_caller(request, identity, "rest:read")
    authorize_request(request, identity, "rest:read")
    adapters = [a.name for a in hub.config.adapters.values() if a.agency == identity.agency]
    return ReadAccess(identity, Parties([identity.agency], adapters))


def readable_message(hub: Hub, access: ReadAccess, message_id: uuid.UUID) -> MessageRecord:
    """The message if this reader may see it. Another agency's message is "not found", word for word
    as an unknown id is, so that a reader cannot even learn which ids exist."""
    if access.parties is None:
        return hub.store.get_message(message_id)
    flt = MessageFilter(message_ids=[message_id], parties=access.parties, limit=1)
    for record in hub.store.list_messages(flt):
        return record
    raise NotFoundError(f"no message with id {message_id}")


def submission_media(request: Request) -> str | None:
    """None for a JSON envelope, the media type for a raw XML body; 415 for a body that says it is
    neither: it would otherwise be read as something else."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return None
    raw = raw_xml_media_type(content_type)
    if raw is None:
        raise UnsupportedMediaTypeError(
            f"Content-Type {media or '(none)'} is neither application/json nor application/xml",
            detail={"accept": "application/json, application/xml"},
        )
    return raw


Submitter = Annotated[Identity, caller_for("rest:submit")]
Reader = Annotated[ReadAccess, Depends(read_access)]
#: After the caller in a route's parameters, so that a stranger gets 401 before any 415.
SubmissionMedia = Annotated[str | None, Depends(submission_media)]

#: The service each route is, for the audit line of a refusal made before the caller was identified.
ROUTE_SERVICES: dict[str, str] = {
    "submit": "rest:submit",
    "message_status": "rest:read",
    "message_payload": "rest:read",
    "list_messages": "rest:read",
    "dossier_trail": "rest:read",
    "document_states": "rest:read",
    "list_documents": "rest:read",
}


async def read_submission(
    request: Request, caller: Submitter, media: SubmissionMedia
) -> SubmitMessage | RawSubmission:
    """The submitted message, read from the body only once the caller is known and allowed to submit:
    a JSON envelope, or a raw XML body with its metadata in headers (``raw_xml.py``).

    Not a body parameter: FastAPI reads and parses those before any dependency runs, authentication
    included, so an anonymous caller could make the hub buffer and parse a body up to
    ``api.max_body_size`` just to be told 401. ``Submission`` is declared after ``Submitter`` and
    dependencies resolve in order. The body is gathered in one bytearray (no list of chunks joined
    into a copy) and parsed by pydantic straight from the JSON bytes (no intermediate dict), so the
    payload exists once as JSON text and once as the model's string.
    """
    if media is not None:
        return await read_raw_submission(request, media, caller.agency)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
    if not data:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return SubmitMessage.model_validate_json(data)
    except ValidationError as exc:
        errors = [
            _surrogate_as_text_error(e)
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def _surrogate_as_text_error(error: Any) -> Any:
    """pydantic's JSON parser refuses a lone surrogate escape (``"\\ud800"``) as invalid JSON; the JSON
    grammar allows it, so the sender deserves the same 422 as when the model's own check finds it:
    the text is not Unicode, whatever field holds it."""
    message = str(error.get("msg", ""))
    if error.get("type") == "json_invalid" and ("surrogate" in message or "hex escape" in message):
        return {
            "type": "string_unicode",
            "loc": tuple(error.get("loc", ())),
            "msg": f"text holds a lone surrogate (such as \\ud800), which UTF-8 cannot encode ({message})",
        }
    return error


Submission = Annotated[SubmitMessage | RawSubmission, Depends(read_submission)]

#: What FastAPI would document for ``submit`` if its body were a parameter (clients and fuzzers read it).
SUBMIT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SubmitMessage"}},
            "application/xml": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "The payload's exact bytes; the envelope's fields in X-Hub-* "
                    "headers (docs/api.md).",
                }
            },
        },
    },
    "responses": {
        "422": {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
        }
    },
}


class _HubApp(FastAPI):
    """FastAPI that notes the TLS client certificate before any middleware wraps ``send``, serves the
    raw XML submit on its lean path (``lean_submit.py``), and documents the submitted message."""

    #: The raw XML submit inside the hub's request middlewares; None until ``create_app`` sets it.
    lean_app: ASGIApp | None = None
    #: False sends raw XML submissions through FastAPI's route too (tests compare both answers).
    lean_submit: bool = True

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, plus the schemas ``SUBMIT_OPENAPI`` refers to (read by a dependency, so
        FastAPI does not know them)."""
        if self.openapi_schema is None:
            document = super().openapi()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            submit = SubmitMessage.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, schema in submit.pop("$defs", {}).items():
                schemas.setdefault(name, schema)
            schemas.setdefault("SubmitMessage", submit)
        return self.openapi_schema  # type: ignore[return-value]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_peer_certificate(scope, send)
        if self.lean_submit and self.lean_app is not None and takes_lean_submit(scope):
            scope["app"] = self  # as Starlette notes it: the handlers read app.state through it
            await self.lean_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(hub: Hub, *, manage_workers: bool = True, callers: CallerRegistry | None = None) -> _HubApp:
    """The REST API; ``callers`` defaults to the registry built from ``hub.yaml`` and the environment."""
    settings = hub.config.hub.api

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_workers:
            hub.start()
        try:
            yield
        finally:
            lean_endpoint.close()
            if manage_workers:
                hub.stop()

    app = _HubApp(
        title="Lien thong hub — trục tích hợp liên thông",
        version="1.0",
        description="Intake and status API for provincial systems (Một cửa điện tử, QLVB).",
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.callers = callers if callers is not None else hub.callers
    app.state.memory_budget = budget = limit_requests(
        app, int(settings.max_body_size), settings.effective_memory_budget, document_body_limit(settings)
    )
    from lienthong.intake.documents import document_router  # official documents' states (edXML)
    from lienthong.intake.dossiers import dossier_router  # a dossier's trail, built on this module
    from lienthong.intake.soap_gateway import soap_router  # inbound SOAP for ministry systems (docs/soap.md)

    app.include_router(soap_router(hub))
    app.include_router(dossier_router())
    app.include_router(document_router())
    from lienthong.intake.lookups import lookup_router  # synchronous lookups (docs/api.md)

    app.include_router(lookup_router(hub, api_key_scheme))
    app.include_router(import_module("lienthong.reconcile.api").reconciliation_router())  # reconciliation
    app.include_router(report_router())  # monthly statistics (docs/reports.md)
    from lienthong.console.router import console_router  # the web console (docs/console.md)

    app.include_router(console_router(hub))
    observe(app, hub)  # /metrics, /readyz and the request counters (docs/metrics.md)
    from lienthong.intake.soap_gateway import internal_fault

    internal_answer = _internal_answer(internal_fault)
    _answer_errors(app, internal_answer)

    @app.post(
        "/api/v1/messages",
        status_code=202,
        response_model=Accepted,
        tags=["intake"],
        openapi_extra=SUBMIT_OPENAPI,
        responses={415: {"description": "The body is sent neither as application/json nor as XML."}},
    )
    def submit(
        caller: Submitter,
        submission: Submission,
        request: Request,
        response: Response,
        hub: HubDep,
    ) -> Accepted:
        """Accept a message. 202 means it is stored: it will be delivered, or shown as dead, never lost.

        The body is a JSON envelope, or the payload itself as XML with the envelope's fields in
        ``X-Hub-*`` headers (docs/api.md)."""
        receipt = accept_submission(hub, settings, caller, submission, request)
        response.headers["Location"] = receipt.status_url
        return receipt.model()

    @app.get("/api/v1/messages/{message_id}", response_model=MessageView, tags=["status"])
    def message_status(message_id: uuid.UUID, hub: HubDep, reader: Reader) -> MessageView:
        """Where a message is: its route and, per target, its state and every attempt."""
        return message_view(readable_message(hub, reader, message_id))

    @app.get("/api/v1/messages/{message_id}/payload", tags=["status"])
    def message_payload(message_id: uuid.UUID, hub: HubDep, reader: Reader) -> Response:
        """The payload exactly as it was received, byte for byte."""
        env = readable_message(hub, reader, message_id).envelope
        return Response(
            env.payload, media_type=env.content_type, headers={"Digest": f"sha-256={env.payload_sha256}"}
        )

    @app.get("/api/v1/messages", response_model=list[MessageView], tags=["status"])
    def list_messages(
        hub: HubDep,
        reader: Reader,
        state: Annotated[list[DeliveryState] | None, Query()] = None,
        target: Annotated[list[str] | None, Query()] = None,
        unroutable: bool = False,
        correlation_id: Annotated[
            uuid.UUID | None, Query(description="Only the messages of this exchange (e.g. one dossier's).")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[MessageView]:
        """Recent messages, optionally only those with deliveries in a state (e.g. dead), unroutable,
        or of one exchange (``correlation_id``); only the caller's agency's, unless it may read all."""
        flt = MessageFilter(
            states=state or (),
            targets=target or (),
            unroutable=unroutable,
            correlation_id=correlation_id,
            parties=reader.parties,
            limit=limit,
        )
        return [message_view(r) for r in hub.store.list_messages(flt)]

    @app.get("/healthz", tags=["operations"])
    def health(hub: HubDep) -> dict[str, object]:
        """Liveness and what this process sees: 200 with ``degraded`` while a circuit is open (the hub
        still accepts and stores; deliveries to that ministry wait), 503 while the database is down."""
        return health_view(hub)

    # The raw XML submit's lean path, inside the same request middlewares as the router: counted,
    # bounded by the same body limits and memory budget, its unexpected errors answered alike.
    lean_endpoint = LeanSubmit(_route_named(app, "submit"), settings)
    limits = int(settings.max_body_size), document_body_limit(settings)
    lean = RequestLimits(lean_endpoint, max_body_size=limits[0], budget=budget, larger=limits[1])
    app.lean_app = MetricsMiddleware(CatchAll(lean, answer=internal_answer), metrics=hub.metrics)
    return app


def _route_named(app: FastAPI, name: str) -> APIRoute:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.name == name:
            return route
    raise LookupError(f"no route named {name!r}")


# ---------------------------------------------------------------- errors and refusals


def _answer_errors(app: FastAPI, internal_answer: Callable[[Scope, str], Response]) -> None:
    """Every error as problem+json (a SOAP Fault under ``/soap/``); every refusal audited once."""
    from lienthong.intake.soap_gateway import http_refusal, internal_fault

    app.add_middleware(CatchAll, answer=internal_answer)
    app.add_exception_handler(ServiceUnavailableError, unavailable)  # 503 + Retry-After, before HubError's

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> Response:
        if exc.http_status == 500:  # the hub's own error, not a refusal: its details go to the log
            return _internal(request, exc, internal_fault)
        response = problem(exc.http_status, exc.code, exc.message, **exc.detail)
        if isinstance(exc, UnauthenticatedError):
            response.headers["WWW-Authenticate"] = "ApiKey"
        refusal = exc.http_status < 500
        if refusal and not isinstance(exc, UnauthenticatedError | ForbiddenError):  # callers.py audited those
            audit_http_refusal(request, exc.code, refusal_detail(exc), service=_service(request))
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            refusal: type[HubError] = MalformedRequestError
            detail = "the request body is not valid JSON"
        else:
            refusal, detail = RequestInvalidError, "the request does not match the API contract"
        code, status = refusal.code, refusal.http_status
        where = ", ".join(str(e["location"]) for e in errors[:5])
        audit_http_refusal(
            request, code, f"{detail}: {where}" if where else detail, service=_service(request)
        )
        return problem(status, code, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        refusal: type[HubError] = {
            404: NotFoundError,
            405: MethodNotAllowedError,
            413: PayloadTooLargeError,
            415: UnsupportedMediaTypeError,
        }.get(exc.status_code, MalformedRequestError)
        code = refusal.code
        detail = str(exc.detail)
        if exc.status_code == 404:
            detail = f"nothing at {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not served at {request.url.path}"
        if _is_soap(request):
            return http_refusal(request, exc.status_code, refusal(detail), exc.headers)
        # A 405 matched no route for its method, so no service either (FastAPI notes a near miss).
        audit_http_refusal(
            request, code, detail, service=_service(request) if exc.status_code != 405 else None
        )
        response = problem(exc.status_code, code, detail)
        response.headers.update(exc.headers or {})
        return response


def _service(request: Request) -> str | None:
    """The service named in the audit line: as the caller was authorised for, else by the route."""
    noted: str | None = getattr(request.state, "service", None)
    route = getattr(request.scope.get("route"), "name", None)
    return noted or ROUTE_SERVICES.get(route or "")


def _is_soap(conn: HTTPConnection) -> bool:
    path = conn.url.path
    return path == "/soap" or path.startswith("/soap/")


def _internal(request: Request, exc: Exception, soap_fault: Callable[[str], Response]) -> Response:
    """A generic 500 for the caller, the error and its reference for the operators."""
    reference = new_reference()
    log.error("internal error ref=%s %s %s", reference, request.method, request.url.path, exc_info=exc)
    return _internal_answer(soap_fault)(request.scope, reference)


def _internal_answer(soap_fault: Callable[[str], Response]) -> Callable[[Scope, str], Response]:
    def answer(scope: Scope, reference: str) -> Response:
        if _is_soap(HTTPConnection(scope)):
            return soap_fault(reference)
        detail = "the hub could not process the request; quote the reference to its operators"
        return problem(500, "hub-error", detail, reference=reference)

    return answer
