"""Inbound SOAP: the endpoints where ministry systems push status updates, results and documents.

Each adapter with an ``inbound`` section (compiled in ``inbound.py``) gets ``POST /soap/<adapter>``
(SOAP 1.1 as ``text/xml`` with a ``SOAPAction`` header, SOAP 1.2 as ``application/soap+xml`` with an
optional ``action`` parameter) and ``GET /soap/<adapter>?wsdl`` (its WSDL, the addresses pointing where
it was fetched from; imported schemas at ``?xsd=<name>``).

A request goes, in order, through: authentication (a caller of the adapter's agency, before the body
is parsed) → size limit → the one hardened parser → Envelope version, structure and mandatory header
blocks (``soap.read_request``) → the hub header (``lt:messageId`` required) → the operation (by action
and by body element, which must agree) → authorisation for ``soap:<adapter>/<operation>`` → XSD
validation → :meth:`Intake.submit`, the service every entry point calls (stored and committed) →
``lt:Ack``. Every answer, faults included, carries ``lt:requestHash`` over the exact request bytes.

What is stored, verified, routed and translated is the body element alone, as its own XML document
(``application/xml``): the hub acts only on what a signature covers, and a ministry signs the body
element. The envelope around it is read for the hub header and then set aside:

* The stored payload is exactly the bytes whose signature was verified (the body element serialised
  with the namespace declarations in scope), so ``hub verify`` and xmlsec1 check it again later.
  Route XPaths, the inbound operations' metadata XPaths and mappings see the verified element as the
  document root (for a signed body, the verifier's canonical copy of it: no comments, no signature).
* Header blocks other than the hub's (``urn:lienthong:hub:1``: message id, correlation and causation
  ids, client, service) are never stored nor acted on. Those a SOAP stack adds on its own
  (WS-Addressing ``To`` / ``Action`` / ``MessageID``, a ``wsu:Timestamp``) are kept apart and named in
  the audit line; a header that carries an element of the service's own body vocabulary is refused
  (``header-invalid``): it can only be a copy of business data outside the signature.
* The binding to the request is kept: the request's SHA-256 is the ``soap.request_hash`` header of
  the stored message and is named in the audit line, and every answer carries it as ``lt:requestHash``.
* Idempotency: a repeat is "the same message" when it has the same ``lt:messageId`` and the same body
  element, whatever header blocks the sender's stack regenerated around it.

Errors become SOAP Faults here and only here (STYLE 9), per the specs: SOAP 1.1 answers every fault
with HTTP 500; SOAP 1.2 answers ``env:Sender`` with 400 and the others with 500 (``soap.fault_http_status``).
Refusals made at the HTTP layer keep their HTTP status and still carry a fault: 401 (no or unknown
credential, with ``WWW-Authenticate``), 403 (caller not allowed), 404 (no such service), 415 (not a
SOAP media type). Every refusal is one audit line on ``lienthong.audit``; an unexpected error is a
generic Server / Receiver fault with a reference the operators find in the log, and leaks nothing.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response

from lienthong.compose import Hub
from lienthong.envelope import REQUEST_HASH_HEADER, new_envelope
from lienthong.errors import (
    ForbiddenError,
    HubError,
    NotFoundError,
    PayloadTooLargeError,
    SchemaValidationError,
    ServiceUnavailableError,
    SignatureError,
    SoapRequestError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    XmlRefusedError,
    title_of,
)
from lienthong.intake.callers import (
    Identity,
    audit_refusal,
    authorize_request,
    forbid,
    identify_request,
    remote_address,
)
from lienthong.intake.inbound import InboundService
from lienthong.intake.limits import body_not_kept
from lienthong.intake.public_url import public_base_url
from lienthong.intake.refusal import refusal_detail
from lienthong.pipeline.validate import column_of
from lienthong.soap import (
    CONTENT_TYPES,
    FaultCode,
    FaultMessage,
    ResponseHeader,
    SoapVersion,
    body_payload,
    build_envelope,
    build_fault,
    fault_http_status,
    foreign_header_blocks,
    read_request,
)
from lienthong.store import AcceptResult
from lienthong.xml import HUB_NS, XmlLimits, parse_xml, qname

__all__ = ["SoapGateway", "soap_router"]

log = logging.getLogger("lienthong.gateway")
audit = logging.getLogger("lienthong.audit")

#: Media types of the two SOAP versions, as received.
SOAP_MEDIA: dict[str, SoapVersion] = {"text/xml": "soap11", "application/soap+xml": "soap12"}
#: The media type of what is stored: the body element as a document of its own.
STORED_MEDIA = "application/xml"


@dataclass
class _Call:
    """One request, and what is known about it so far: a fault answers with as much as there is."""

    service: InboundService
    version: SoapVersion
    soap_action: str | None  # the SOAPAction header; None when absent
    params: dict[str, str]  # Content-Type parameters (SOAP 1.2 action)
    body: bytes
    digest: str
    identity: Identity
    remote: str | None
    message_id: str | None = None
    operation: str | None = None


@dataclass(frozen=True)
class _Answer:
    content: bytes
    status: int
    version: SoapVersion
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return Response(
            self.content, self.status, media_type=CONTENT_TYPES[self.version], headers=self.headers
        )


class SoapGateway:
    """The inbound SOAP endpoints of every adapter with an ``inbound`` section."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.services = hub.inbound  # compiled once, while the configuration was checked
        self.limit = int(hub.config.hub.api.max_payload_size)
        self.limits = XmlLimits(max_bytes=self.limit)
        self.province = hub.config.hub.hub.agency
        self.router = APIRouter(tags=["soap"])
        self.router.add_api_route(
            "/soap/{adapter}", self.call, methods=["POST"], name="soap_endpoint", include_in_schema=False
        )
        self.router.add_api_route(
            "/soap/{adapter}", self.describe, methods=["GET"], name="soap_wsdl", include_in_schema=False
        )

    # ------------------------------------------------------------ HTTP

    async def describe(self, request: Request, adapter: str) -> Response:
        """``?wsdl``: the WSDL with this endpoint's address; ``?xsd=<name>``: a schema it imports.
        Public, like any service description: it holds no data and no secret."""
        service = self.services.get(adapter)
        if service is None:
            return http_refusal(request, 404, NotFoundError(f"no inbound SOAP service '{adapter}'"))
        params = {k.lower(): v for k, v in request.query_params.items()}
        endpoint = f"{public_base_url(request, self.hub.config)}/soap/{adapter}"
        data = None
        if "wsdl" in params:
            data = service.published.render(endpoint)
        elif "xsd" in params:
            data = service.published.render(endpoint, params["xsd"])
        if data is None:
            wanted = f"no schema '{params['xsd']}' here" if "xsd" in params else "no such document"
            return http_refusal(request, 404, NotFoundError(f"{wanted}: the WSDL is at {endpoint}?wsdl"))
        return Response(data, media_type="text/xml; charset=utf-8")

    async def call(self, request: Request, adapter: str) -> Response:
        """One SOAP request: the caller is checked before its body is parsed; the answer comes after
        intake has committed."""
        media, params = _content_type(request.headers.get("content-type", ""))
        version = SOAP_MEDIA.get(media)
        service = self.services.get(adapter)
        remote = remote_address(request)
        if service is None or version is None:
            return await self._unserved(request, adapter, media, version is None and service is not None)
        try:
            identity = identify_request(request, f"soap:{adapter}")
            if identity.agency != service.agency:
                message = (
                    f"caller {identity.name} ({identity.agency}) may not call soap:{adapter}: only "
                    f"{service.agency}, the agency this adapter stands for, may"
                )
                raise forbid(identity, f"soap:{adapter}", message, remote=remote)
        except (UnauthenticatedError, ForbiddenError) as exc:  # callers.py has written the audit line
            digest, _ = await _read(request, keep=0)
            return self._refused(version, exc, digest, None).response()
        digest, body = await _read(request, keep=self.limit)
        if body is None or digest is None:
            too_large = PayloadTooLargeError(f"the request exceeds {self.limit} bytes")
            _audit(too_large, service, identity, remote, None, digest)
            return _fault(version, too_large, digest, None, None).response()
        call = _Call(
            service, version, request.headers.get("soapaction"), params, body, digest, identity, remote
        )
        del body  # the call holds it, and lets go of it as soon as the envelope is read (see _accept)
        answer = await run_in_threadpool(self._handle, call, request)
        return answer.response()

    async def _unserved(self, request: Request, adapter: str, media: str, bad_media: bool) -> Response:
        """404 for an adapter without inbound service, 415 for a body that is not SOAP by its type."""
        digest, _ = await _read(request, keep=0)
        problem: HubError
        if bad_media:
            problem = UnsupportedMediaTypeError(
                f"Content-Type {media or '(none)'} is neither text/xml (SOAP 1.1) nor "
                "application/soap+xml (SOAP 1.2)"
            )
        else:
            problem = NotFoundError(f"no inbound SOAP service '{adapter}'")
        remote = remote_address(request)
        audit_refusal(problem.code, service=f"soap:{adapter}", remote=remote, detail=problem.message)
        version = SOAP_MEDIA.get(media, "soap11")
        return _fault(version, problem, digest, None, problem.http_status).response()

    # ------------------------------------------------------------ SOAP (in a worker thread)

    def _handle(self, call: _Call, request: Request) -> _Answer:
        try:
            return self._accept(call, request)
        except (UnauthenticatedError, ForbiddenError) as exc:  # callers.py has written the audit line
            return self._refused(call.version, exc, call.digest, call)
        except ServiceUnavailableError as exc:
            return self._unavailable(call, exc)
        except HubError as exc:
            if exc.http_status >= 500 and not isinstance(exc, SoapRequestError):
                return self._internal(call, exc)
            _audit(exc, call.service, call.identity, call.remote, call, call.digest)
            return _fault(call.version, exc, call.digest, call, None)
        except Exception as exc:
            return self._internal(call, exc)

    def _accept(self, call: _Call, request: Request) -> _Answer:
        service = call.service
        action = _action(call.version, call.soap_action, call.params)
        root = parse_xml(call.body, limits=self.limits, what="SOAP request")
        header, entry = read_request(root, call.version)
        hub_header = service.hub_header(header)
        call.message_id = hub_header.message_id
        op = service.dispatch(action, entry)
        call.operation = op.name
        authorize_request(request, call.identity, f"soap:{service.adapter}/{op.name}")
        service.check_binding(hub_header, op, self.province)
        service.check_header_blocks(header)
        service.validator.validate(entry, what=f"the body of {op.name}", source=call.body)
        # The request bytes only served to give a column to the envelope's schema errors (libxml2 gives
        # none); errors found later are about the stored payload, whose own bytes give theirs. Let go
        # of them before the body element is copied out: the request is held in two forms at most.
        call.body = b""
        set_apart = foreign_header_blocks(header)
        # The body element alone is what is verified, acted on and stored, as one document: parsed from
        # the very bytes that are stored, so the stored payload verifies as it did here.
        payload = body_payload(entry)
        del root, header, entry  # nothing below may read the envelope again, and its tree goes now
        parsed = parse_xml(payload, limits=self.limits, what=f"the body of {op.name}")
        acted = self.hub.intake.authenticate(parsed, service.agency)
        # Text in NFC and legacy fields read before anything looks at it (metadata XPaths included).
        text = self.hub.intake.text.xml(payload, acted, service.agency, signed=acted is not parsed)
        del parsed
        meta = op.metadata(acted)
        envelope = new_envelope(
            kind=op.kind,
            sender=service.agency,
            sender_message_id=hub_header.message_id,
            payload=text.payload,
            content_type=STORED_MEDIA,
            recipient=op.recipient or self.province,
            procedure_code=meta.get("procedure_code"),
            dossier_code=meta.get("dossier_code"),
            document_id=meta.get("document_id"),
            document_type=meta.get("document_type"),
            correlation_id=hub_header.correlation_id,
            causation_id=hub_header.causation_id,
            headers={
                "soap.adapter": service.adapter,
                "soap.operation": op.name,
                "soap.version": "1.1" if call.version == "soap11" else "1.2",
                REQUEST_HASH_HEADER: call.digest,
                **text.headers,
            },
        )
        routed = self.hub.intake.route(envelope, authenticated=acted)
        del acted  # the store needs no tree: let it go (3–4 times the payload) before the commit
        result = self.hub.intake.commit(routed)
        audit.info(
            "accepted service=soap:%s/%s agency=%s message=%s sender_message=%s duplicate=%s "
            "request_hash=%s header_blocks_set_apart=%s",
            service.adapter,
            op.name,
            service.agency,
            result.message_id,
            hub_header.message_id,
            not result.created,
            call.digest,
            ",".join(set_apart) or "-",
        )
        ack = _ack(result, envelope.sender_message_id)
        header_out = ResponseHeader(call.digest, hub_header.message_id, str(result.correlation_id))
        return _Answer(build_envelope(call.version, header_out, ack), 200, call.version)

    # ------------------------------------------------------------ faults

    def _refused(
        self,
        version: SoapVersion,
        exc: UnauthenticatedError | ForbiddenError,
        digest: str | None,
        call: _Call | None,
    ) -> _Answer:
        """401 / 403 with a Client / Sender fault inside: the HTTP layer refused, so HTTP says so too."""
        answer = _fault(version, exc, digest, call, exc.http_status)
        if isinstance(exc, UnauthenticatedError):
            answer.headers["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
        return answer

    def _internal(self, call: _Call, exc: Exception) -> _Answer:
        """An error that is the hub's, not the sender's: a generic answer, the details in the log."""
        reference = str(uuid.uuid4())
        log.error(
            "internal error ref=%s service=soap:%s/%s message=%s request_hash=%s",
            reference,
            call.service.adapter,
            call.operation or "*",
            call.message_id,
            call.digest,
            exc_info=exc,
        )
        generic = HubError("the hub could not process the request; quote the reference to its operators")
        return _fault(call.version, generic, call.digest, call, None, reference=reference)

    def _unavailable(self, call: _Call, exc: ServiceUnavailableError) -> _Answer:
        """The hub cannot take the request now (its database is down): a Receiver / Server fault whose
        detail says when to retry, with HTTP 503 and Retry-After, which HTTP clients, proxies and load
        balancers understand as "try again". Nothing was stored, so resending the same message (same
        lt:messageId) is safe and is stored once. The outage is logged once, by the store."""
        answer = _fault(call.version, exc, call.digest, call, exc.http_status)
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer


def soap_router(hub: Hub) -> APIRouter:
    """The inbound SOAP routes, for ``create_app`` (raises ConfigError when an inbound section is wrong)."""
    return SoapGateway(hub).router


# ---------------------------------------------------------------- refusals at the HTTP layer


def http_refusal(
    conn: HTTPConnection, status: int, refusal: HubError, headers: Mapping[str, str] | None = None
) -> Response:
    """A refusal before any SOAP service took the request (no such service or schema, a method the
    endpoint does not serve): a Client / Sender fault under the HTTP status, and its audit line.

    Answered in SOAP 1.2 when the request said it spoke it, in SOAP 1.1 otherwise (a bare GET)."""
    media, _ = _content_type(conn.headers.get("content-type", ""))
    version = SOAP_MEDIA.get(media, "soap11")
    method, path = conn.scope.get("method", "-"), conn.url.path
    detail = f"{refusal.message} ({method} {path})"
    audit_refusal(refusal.code, service=_service_of(path), remote=remote_address(conn), detail=detail)
    answer = _fault(version, refusal, None, None, status)
    return Response(answer.content, status, media_type=CONTENT_TYPES[version], headers=dict(headers or {}))


def internal_fault(reference: str) -> Response:
    """The generic Server fault for an error nothing else answered; the details are in the log."""
    generic = HubError("the hub could not process the request; quote the reference to its operators")
    return _fault("soap11", generic, None, None, None, reference=reference).response()


def _service_of(path: str) -> str:
    """``soap:<adapter>`` for the audit line, from ``/soap/<adapter>`` (or ``soap:-``)."""
    adapter = path.removeprefix("/soap").strip("/").split("/")[0]
    return f"soap:{adapter or '-'}"


def _fault(
    version: SoapVersion,
    exc: HubError,
    digest: str | None,
    call: _Call | None,
    http_status: int | None,
    reference: str | None = None,
) -> _Answer:
    """The fault answering ``exc``; a ``reference`` or a 5xx error makes it the hub's fault (Server /
    Receiver): the sender did nothing wrong, and may send the same request again."""
    code: FaultCode = "Receiver" if reference is not None or exc.http_status >= 500 else "Sender"
    about_header, reply = False, version
    not_understood: tuple[str, ...] = ()
    if isinstance(exc, SoapRequestError):
        code, about_header, not_understood = exc.fault, exc.about_header, exc.not_understood
        reply = exc.reply_version or version
    title = title_of(exc.code)
    fault = FaultMessage(
        code=code,
        title_vi=title.vi,
        title_en=title.en,
        text=exc.message,
        subcode=exc.code,
        detail=_detail(exc, reference, _violations(exc, call)),
        about_header=about_header,
        not_understood=not_understood,
        upgrade=code == "VersionMismatch",
    )
    header = ResponseHeader(digest, call.message_id if call is not None else None)
    return _Answer(build_fault(reply, fault, header), http_status or fault_http_status(reply, code), reply)


# ---------------------------------------------------------------- helpers


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    media, *rest = value.split(";")
    params = {}
    for part in rest:
        key, sep, val = part.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


def _action(version: SoapVersion, soap_action: str | None, params: Mapping[str, str]) -> str | None:
    """SOAP 1.1: the SOAPAction header (required, may be ""); SOAP 1.2: the optional action parameter."""
    if version == "soap12":
        return params.get("action") or None
    if soap_action is None:
        raise SoapRequestError(
            "a SOAP 1.1 request needs a SOAPAction HTTP header (SOAP 1.1 section 6.1.1); send "
            'SOAPAction: "" to have the operation chosen by the body element'
        )
    return soap_action.strip().strip('"').strip() or None


async def _read(request: Request, *, keep: int) -> tuple[str | None, bytes | None]:
    """The base64 SHA-256 of the whole body, and the body itself if it is at most ``keep`` bytes.

    Larger bodies are hashed as they stream by, never held. The hash is None only when the HTTP layer
    cut the body off (over ``api.max_body_size``).
    """
    if not keep:
        body_not_kept(request)  # hashed and dropped: it takes no share of the memory budget
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
            if size <= keep:
                chunks.append(chunk)
            elif chunks:
                chunks.clear()
    except StarletteHTTPException:
        return None, None
    return base64.b64encode(digest.digest()).decode("ascii"), b"".join(chunks) if size <= keep else None


def _audit(
    exc: HubError,
    service: InboundService,
    identity: Identity,
    remote: str | None,
    call: _Call | None,
    digest: str | None,
) -> None:
    """What was refused, from whom, and why: one line, without the payload."""
    operation = call.operation if call is not None and call.operation else "*"
    message_id = call.message_id if call is not None else None
    audit_refusal(
        exc.code,
        service=f"soap:{service.adapter}/{operation}",
        agency=identity.agency,
        remote=remote,
        detail=f"{refusal_detail(exc)} (messageId={message_id or '-'} requestHash={digest or '-'})",
    )


def _ack(result: AcceptResult, sender_message_id: str) -> etree._Element:
    """``lt:Ack``; for a repeat, the first submission's ids and time, as the store answered them."""
    ack = etree.Element(qname(HUB_NS, "Ack"), nsmap={"lt": HUB_NS})
    for local, value in (
        ("messageId", str(result.message_id)),
        ("senderMessageId", sender_message_id),
        ("correlationId", str(result.correlation_id)),
        ("duplicate", "false" if result.created else "true"),
        ("routeStatus", result.route.status.value),
        ("receivedAt", result.received_at.isoformat()),
    ):
        etree.SubElement(ack, qname(HUB_NS, local)).text = value
    return ack


def _violations(exc: HubError, call: _Call | None) -> list[dict[str, object]]:
    body = call.body if call is not None else b""
    if isinstance(exc, SchemaValidationError | SoapRequestError):
        return [v.as_dict() | {"column": v.column or column_of(body, v.line, v.path)} for v in exc.violations]
    if isinstance(exc, XmlRefusedError) and exc.detail.get("line") is not None:
        return [{"line": exc.detail["line"], "column": exc.detail.get("column"), "message": exc.message}]
    return []


def _detail(exc: HubError, reference: str | None, violations: list[dict[str, object]]) -> etree._Element:
    """``lt:faultDetail`` (schemas/hub/hub.xsd): code, message, reference, and each violation."""
    detail = etree.Element(qname(HUB_NS, "faultDetail"), nsmap={"lt": HUB_NS})
    etree.SubElement(detail, qname(HUB_NS, "code")).text = exc.code
    etree.SubElement(detail, qname(HUB_NS, "message")).text = exc.message
    if reference is not None:
        etree.SubElement(detail, qname(HUB_NS, "reference")).text = reference
    if isinstance(exc, ServiceUnavailableError):
        etree.SubElement(detail, qname(HUB_NS, "retryAfter")).text = str(exc.retry_after)
    if isinstance(exc, SignatureError):  # which rule refused it: what problem+json says as ``reason``
        etree.SubElement(detail, qname(HUB_NS, "reason")).text = exc.reason
    for v in violations:
        el = etree.SubElement(detail, qname(HUB_NS, "violation"))
        for key in ("line", "column", "path", "message", "rule", "reason"):
            value = v.get(key)
            if key == "message" or value not in (None, ""):
                etree.SubElement(el, qname(HUB_NS, key)).text = "" if value is None else str(value)
    return detail
