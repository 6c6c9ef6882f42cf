"""The doors of the synchronous lookups (``delivery/lookup.py``): REST and SOAP, for provincial systems.

* ``GET /api/v1/lookups/<adapter>/<key>``: the answer element as JSON (``Accept: application/json``,
  the default) or as the system's XML (``Accept: application/xml``); header ``X-Message-Id`` names
  the message the exchange is logged as, ``X-Lookup-Source`` says ``call`` or ``cache``. Errors are
  problem+json: 422 (the key fails its check; nothing was sent), 404 (the system holds nothing for
  it), 503 with Retry-After (the system did not answer in time, or its circuit is open), 502.
* ``POST /soap/lookups/<adapter>``: the same as a SOAP 1.1 / 1.2 operation ``Lookup{Key}`` →
  ``LookupResponse{MessageId, FromCache, AnsweredAt, Answer}``; WSDL at ``GET ...?wsdl``. Errors are
  SOAP Faults with the same codes and titles (a 503 keeps its HTTP status and Retry-After).

Both need the caller's right ``lookup:<adapter>`` (hub.yaml ``callers``; deny by default).
"""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Request, Response, Security
from fastapi import Path as PathParam
from lxml import etree
from starlette.concurrency import run_in_threadpool

from lienthong.compose import Hub
from lienthong.delivery.lookup import LookupAnswer, LookupService
from lienthong.errors import (
    ForbiddenError,
    HubError,
    NotFoundError,
    ServiceUnavailableError,
    SoapRequestError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    title_of,
)
from lienthong.intake.callers import authorize_request, identify_request
from lienthong.intake.public_url import public_base_url
from lienthong.intake.refusal import note_caller
from lienthong.soap import (
    CONTENT_TYPES,
    FaultCode,
    FaultMessage,
    ResponseHeader,
    SoapVersion,
    build_envelope,
    build_fault,
    fault_http_status,
    read_request,
    request_hash,
)
from lienthong.xml import XmlLimits, parse_trusted_file, parse_xml

LOOKUP_NS: Final = "urn:lienthong:hub:lookup:1"
_XSD_NS: Final = "http://www.w3.org/2001/XMLSchema"
_ADDRESSES: Final = (
    "{http://schemas.xmlsoap.org/wsdl/soap/}address",
    "{http://schemas.xmlsoap.org/wsdl/soap12/}address",
)
_SOAP_MEDIA: Final[dict[str, SoapVersion]] = {"text/xml": "soap11", "application/soap+xml": "soap12"}
#: A lookup request is a key in an envelope: a few hundred bytes. Anything much larger is not one.
_LIMITS: Final = XmlLimits(max_bytes=64 * 1024)


def _contract(name: str) -> Path:
    return Path(str(files("lienthong.intake").joinpath(name)))


def lookup_router(hub: Hub, api_key_scheme: Any) -> APIRouter:
    """The REST and SOAP lookup routes; ``api_key_scheme`` documents the API key header in OpenAPI."""
    router = APIRouter()
    wsdl = parse_trusted_file(str(_contract("lookup.wsdl")))
    xsd = _contract("lookup.xsd").read_bytes()

    def service_for(request: Request, adapter: str) -> LookupService:
        """401/403 before anything else is said, then 404 for an adapter without a lookup."""
        identity = identify_request(request, f"lookup:{adapter}")
        note_caller(request, identity, f"lookup:{adapter}")
        authorize_request(request, identity, f"lookup:{adapter}")
        request.state.lookup_agency = identity.agency
        service = hub.lookups.get(adapter)
        if service is None:
            known = ", ".join(sorted(hub.lookups)) or "none configured"
            raise NotFoundError(f"no lookup '{adapter}' (lookups: {known})")
        return service

    @router.get(
        "/api/v1/lookups/{adapter}/{key}",
        tags=["lookups"],
        responses={
            200: {"content": {"application/json": {}, "application/xml": {}}},
            404: {"description": "No lookup of that name, or the system holds nothing for the key."},
            422: {"description": "The key fails its check (e.g. an enterprise code's check digit)."},
            503: {"description": "The system did not answer within the lookup's timeout."},
        },
    )
    def lookup(
        adapter: str,
        key: Annotated[str, PathParam(description="The key, e.g. an enterprise code 5700100256.")],
        request: Request,
        _key: str | None = Security(api_key_scheme),  # a default, not Annotated: the scheme is local
    ) -> Response:
        """Ask a ministry system through the hub, now (business: the EntCert of an enterprise code)."""
        service = service_for(request, adapter)
        answer = service.lookup(key, request.state.lookup_agency)
        headers = {
            "X-Message-Id": str(answer.message_id),
            "X-Lookup-Source": "cache" if answer.from_cache else "call",
            "Vary": "Accept",
        }
        if _wants_xml(request.headers.get("accept", "")):
            return Response(answer.answer, media_type="application/xml", headers=headers)
        body = _json_view(service, answer)
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return Response(content, media_type="application/json", headers=headers)

    @router.get("/soap/lookups/{adapter}", include_in_schema=False)
    def describe(adapter: str, request: Request) -> Response:
        """``?wsdl`` (this lookup's address in it) or ``?xsd=lookup.xsd``; public, like any WSDL."""
        if adapter not in hub.lookups:
            raise NotFoundError(f"no lookup '{adapter}'")
        endpoint = f"{public_base_url(request, hub.config)}/soap/lookups/{adapter}"
        if request.query_params.get("xsd") == "lookup.xsd":
            return Response(xsd, media_type="text/xml; charset=utf-8")
        if "wsdl" not in request.query_params:
            raise NotFoundError(f"no such document: the WSDL is at {endpoint}?wsdl")
        out = copy.deepcopy(wsdl)
        for el in out.iter(f"{{{_XSD_NS}}}import"):
            el.set("schemaLocation", f"{endpoint}?xsd=lookup.xsd")
        for el in out.iter(*_ADDRESSES):
            el.set("location", endpoint)
        return Response(etree.tostring(out, xml_declaration=True, encoding="UTF-8"), media_type="text/xml")

    @router.post("/soap/lookups/{adapter}", include_in_schema=False)
    async def soap_lookup(adapter: str, request: Request) -> Response:
        """``Lookup{Key}`` → ``LookupResponse``; every answer, faults too, carries ``lt:requestHash``."""
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        version = _SOAP_MEDIA.get(media, "soap11")
        body = await request.body()
        digest = request_hash(body)
        try:
            if media not in _SOAP_MEDIA:
                raise UnsupportedMediaTypeError(
                    f"Content-Type {media or '(none)'} is neither text/xml (SOAP 1.1) nor "
                    "application/soap+xml (SOAP 1.2)"
                )
            service = service_for(request, adapter)
            key = _soap_key(body, version)
            answer = await run_in_threadpool(service.lookup, key, request.state.lookup_agency)
        except HubError as exc:
            return _fault(version, exc, digest)
        return Response(
            build_envelope(version, ResponseHeader(digest), _soap_answer(answer)),
            200,
            media_type=CONTENT_TYPES[version],
        )

    return router


# ---------------------------------------------------------------- JSON


def _wants_xml(accept: str) -> bool:
    """XML only when asked for before (or instead of) JSON: JSON is the default."""
    for item in accept.split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media in ("application/json", "*/*", "application/*") or media.endswith("+json"):
            return False
        if media in ("application/xml", "text/xml"):
            return True
    return False


def _json_view(service: LookupService, answer: LookupAnswer) -> dict[str, Any]:
    """``{adapter, <key name>, message_id, from_cache, answered_at, <AnswerElement>: {...}}``."""
    root = parse_xml(answer.answer, what="lookup answer")
    return {
        "adapter": answer.adapter,
        service.config.key.name: answer.key,
        "message_id": str(answer.message_id),
        "from_cache": answer.from_cache,
        "answered_at": answer.answered_at.isoformat(),
        etree.QName(root).localname: _element_value(root, service.repeated, service.booleans),
    }


def _element_value(el: etree._Element, repeated: frozenset[str], booleans: frozenset[str]) -> Any:
    """An element as JSON: children by local name (a list where the schema lets the element repeat,
    even when it holds one), text as a string (``true``/``false`` for an ``xs:boolean``)."""
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        text = el.text or ""
        if etree.QName(el).localname in booleans and text.strip() in ("true", "false", "1", "0"):
            return text.strip() in ("true", "1")
        return text
    out: dict[str, Any] = {}
    for child in children:
        name = etree.QName(child).localname
        value = _element_value(child, repeated, booleans)
        if name in repeated:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


# ---------------------------------------------------------------- SOAP


def _soap_key(body: bytes, version: SoapVersion) -> str:
    root = parse_xml(body, limits=_LIMITS, what="SOAP lookup request")
    _header, entry = read_request(root, version)
    if entry.tag != f"{{{LOOKUP_NS}}}Lookup":
        raise SoapRequestError(f"the body must be {{{LOOKUP_NS}}}Lookup, not {entry.tag}")
    key = entry.findtext(f"{{{LOOKUP_NS}}}Key")
    if key is None:
        raise SoapRequestError(f"Lookup needs its {{{LOOKUP_NS}}}Key")
    return key.strip()


def _soap_answer(answer: LookupAnswer) -> etree._Element:
    response = etree.Element(f"{{{LOOKUP_NS}}}LookupResponse", nsmap={"lk": LOOKUP_NS})
    etree.SubElement(response, f"{{{LOOKUP_NS}}}MessageId").text = str(answer.message_id)
    etree.SubElement(response, f"{{{LOOKUP_NS}}}FromCache").text = "true" if answer.from_cache else "false"
    etree.SubElement(response, f"{{{LOOKUP_NS}}}AnsweredAt").text = answer.answered_at.isoformat()
    found = parse_xml(answer.answer, what="lookup answer")
    etree.SubElement(response, f"{{{LOOKUP_NS}}}Answer").append(found)
    return response


def _fault(version: SoapVersion, exc: HubError, digest: str) -> Response:
    """A Sender fault for the caller's mistakes, Receiver for the rest; 401/403/415/503 keep their
    HTTP status (a 503 its Retry-After), as on the hub's other SOAP endpoints."""
    code: FaultCode = "Receiver" if exc.http_status >= 500 else "Sender"
    if isinstance(exc, SoapRequestError):
        code = exc.fault
    title = title_of(exc.code)
    detail = etree.Element("{urn:lienthong:hub:1}faultDetail", nsmap={"lt": "urn:lienthong:hub:1"})
    etree.SubElement(detail, "{urn:lienthong:hub:1}code").text = exc.code
    etree.SubElement(detail, "{urn:lienthong:hub:1}message").text = exc.message
    fault = FaultMessage(
        code=code, title_vi=title.vi, title_en=title.en, text=exc.message, subcode=exc.code, detail=detail
    )
    status = fault_http_status(version, code)
    headers: dict[str, str] = {}
    if isinstance(exc, UnauthenticatedError | ForbiddenError | UnsupportedMediaTypeError):
        status = exc.http_status
    if isinstance(exc, ServiceUnavailableError):
        status = exc.http_status
        headers["Retry-After"] = str(exc.retry_after)
    content = build_fault(version, fault, ResponseHeader(digest))
    return Response(content, status, media_type=CONTENT_TYPES[version], headers=headers)
