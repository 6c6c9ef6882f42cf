"""A simulated SOAP service: SOAP 1.1 and 1.2, bodies validated against the system's XSD, answers by XSLT.

* requests parsed with the hub's hardened :func:`~lienthong.xml.parse_xml`; request and answer bodies
  validated against the XSD (an invalid request gets a Client/Sender fault);
* idempotency on the hub's ``lt:messageId`` header, kept in the simulator's records: a repeat gets the
  first answer's exact bytes, as an AS4 receiver eliminates duplicates, even after a restart;
* an X-Road style ``lt:requestHash`` in every answer, binding it to the exact request bytes;
* the query operation (``query: {element: ...}``): what the system holds, in the system's namespace.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Final

from lxml import etree
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from lienthong.devtools.simulator.core import SimulatorCore, compile_xslt, retry_after, run_xslt, stall_or_cut
from lienthong.devtools.simulator.faults import FaultMode
from lienthong.devtools.simulator.records import Accepted, Record, RecordFilter
from lienthong.devtools.simulator.spec import OperationSpec, ServiceSpec
from lienthong.errors import XmlRefusedError
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, parse_trusted_file, parse_xml

__all__ = ["SIM_NS", "SoapService", "soap_envelope"]

SIM_NS: Final = "urn:lienthong:simulator:1"  #: namespace of the entries in a fault's detail
SHA256_URI: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
_XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
_XSD: Final = "http://www.w3.org/2001/XMLSchema"
_ADDRESSES: Final = (
    "{http://schemas.xmlsoap.org/wsdl/soap/}address",
    "{http://schemas.xmlsoap.org/wsdl/soap12/}address",
)
#: The fields of one record in a query answer, element name -> Record attribute.
_QUERY_FIELDS: Final = (
    ("messageId", "message_id"),
    ("operation", "operation"),
    ("key", "key"),
    ("status", "status"),
    ("sequence", "sequence"),
    ("receivedAt", "received_at"),
    ("updatedAt", "updated_at"),
    ("count", "count"),
)


class _Fault(Exception):
    """An answer in SOAP Fault form; ``sender`` means the caller's fault (Client / env:Sender)."""

    def __init__(self, sender: bool, vi: str, en: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(en)
        self.sender, self.vi, self.en, self.details = sender, vi, en, details or []

    def element(self, version: str) -> etree._Element:
        el = etree.Element(f"{{{version}}}Fault", nsmap={"sim": SIM_NS})
        if version == SOAP11_NS:
            etree.SubElement(el, "faultcode").text = "soap:Client" if self.sender else "soap:Server"
            etree.SubElement(el, "faultstring").text = f"{self.vi} / {self.en}"
            detail = etree.SubElement(el, "detail")
        else:
            code = etree.SubElement(etree.SubElement(el, f"{{{version}}}Code"), f"{{{version}}}Value")
            code.text = "env:Sender" if self.sender else "env:Receiver"
            reason = etree.SubElement(el, f"{{{version}}}Reason")
            for lang, text in (("vi", self.vi), ("en", self.en)):
                etree.SubElement(reason, f"{{{version}}}Text", {_XML_LANG: lang}).text = text
            detail = etree.SubElement(el, f"{{{version}}}Detail")
        for entry in self.details:
            attributes = {k: v for k, v in entry.items() if k != "message" and v}
            etree.SubElement(detail, f"{{{SIM_NS}}}error", attributes).text = entry.get("message", "")
        return el


def soap_envelope(
    version: str, header: dict[str, str], request_hash: str | None, body_child: etree._Element
) -> bytes:
    """An answer: the hub's header blocks echoed, ``requestHash`` last, then the body."""
    prefix = "soap" if version == SOAP11_NS else "env"
    env = etree.Element(f"{{{version}}}Envelope", nsmap={prefix: version, "lt": HUB_NS})
    head = etree.SubElement(env, f"{{{version}}}Header")
    for name, value in header.items():
        etree.SubElement(head, f"{{{HUB_NS}}}{name}").text = value
    if request_hash is not None:
        etree.SubElement(head, f"{{{HUB_NS}}}requestHash", algorithm=SHA256_URI).text = request_hash
    etree.SubElement(env, f"{{{version}}}Body").append(body_child)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _schema_errors(log: etree._ListErrorLog) -> list[dict[str, str]]:
    return [
        {"code": "schema", "line": str(e.line), "column": str(e.column), "message": e.message} for e in log
    ]


def _media(version: str) -> str:
    return ("text/xml" if version == SOAP11_NS else "application/soap+xml") + "; charset=utf-8"


def _body_child(env: etree._Element, version: str) -> etree._Element:
    children = [c for c in env.iterfind(f"{{{version}}}Body/*") if isinstance(c.tag, str)]
    if len(children) != 1:
        raise _Fault(True, "SOAP Body phải có đúng một phần tử", "SOAP Body must hold exactly one element")
    return children[0]


class SoapService:
    """The state and endpoints of one simulated SOAP service."""

    def __init__(self, spec: ServiceSpec, core: SimulatorCore) -> None:
        assert spec.schema is not None
        self.spec, self.core = spec, core
        schema_tree = parse_trusted_file(str(spec.schema))
        schema_tree.docinfo.URL = str(spec.schema)  # relative xs:import / xs:include resolve beside it
        self.schema = etree.XMLSchema(schema_tree)
        self.ops = {op.name: op for op in spec.operations}
        self.by_local = {etree.QName(op.name).localname: op for op in spec.operations}
        cases = core.case_function(spec, self.request_tree)  # sim:case(key), for lookup answers
        self.answers = {
            op.name: compile_xslt(op.answer, cases if op.lookup else None) for op in spec.operations
        }
        self.keys = {op.name: core.key_xpath(spec, op) for op in spec.operations}
        self.wsdl: etree._ElementTree | None = None
        self.schema_files: dict[str, Path] = {}  # what the WSDL imports: the only files ?xsd= serves
        if spec.wsdl is not None:
            self.wsdl = parse_trusted_file(str(spec.wsdl))
            for el in self.wsdl.iter(f"{{{_XSD}}}import", f"{{{_XSD}}}include"):
                location = el.get("schemaLocation", "")
                if location and "/" not in location and ":" not in location:  # a sibling file only
                    self.schema_files[location] = spec.wsdl.parent / location
                    el.set("schemaLocation", f"{spec.path}?xsd={location}")

    def routes(self) -> list[BaseRoute]:
        return [
            Route(self.spec.path, self.soap, methods=["POST"]),
            Route(self.spec.path, self.contract, methods=["GET"]),
        ]

    def operation(self, record: Record) -> OperationSpec:
        return self.by_local[record.operation]

    def request_tree(self, record: Record) -> etree._Element:
        """The body element of the stored request, as it came."""
        env = parse_xml(record.request, what="stored SOAP request")
        return _body_child(env, env.tag.split("}", 1)[0][1:])

    async def soap(self, request: Request) -> Response:
        body = await request.body()
        core = self.core
        core.count("total")
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        version = {"text/xml": SOAP11_NS, "application/soap+xml": SOAP12_NS}.get(media)
        request_hash = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        if core.faults.latency:
            await asyncio.sleep(core.faults.latency)
        if (mode := core.faults.next_transport_fault()) is not None:
            core.count("faults_served")
            return await self._transport_fault(request, mode, version or SOAP11_NS, request_hash)
        if version is None:
            core.count("invalid")
            return PlainTextResponse("SOAP 1.1 (text/xml) or SOAP 1.2 (application/soap+xml) only", 415)
        header: dict[str, str] = {}  # what the request's hub header said, echoed in the answer
        try:
            if version == SOAP11_NS and "soapaction" not in request.headers:
                raise _Fault(True, "Thiếu tiêu đề HTTP SOAPAction", "missing SOAPAction HTTP header")
            status, payload, version = self._process(body, version, request_hash, header)
        except _Fault as fault:
            core.count("invalid" if fault.sender else "faults_served")
            status, payload = 500, soap_envelope(version, header, request_hash, fault.element(version))
        return Response(payload, status, media_type=_media(version))

    def _process(
        self, body: bytes, version: str, request_hash: str, header: dict[str, str]
    ) -> tuple[int, bytes, str]:
        """Status, answer bytes and their SOAP version: a repeat gets the first answer exactly as it was."""
        try:
            env = parse_xml(body, what="SOAP request")
        except XmlRefusedError as exc:
            where = {k: str(v) for k, v in exc.detail.items() if k in ("line", "column") and v is not None}
            detail = [{"code": exc.code, "message": exc.message, **where}]
            raise _Fault(True, "Thông điệp XML không được chấp nhận", exc.message, detail) from exc
        if env.tag != f"{{{version}}}Envelope":
            soap = "1.1" if version == SOAP11_NS else "1.2"
            raise _Fault(True, f"Không phải SOAP {soap} Envelope", f"not a SOAP {soap} Envelope: {env.tag}")
        meta: dict[str, str | None] = {}
        for name in ("messageId", "correlationId", "client", "service"):
            meta[name] = (env.findtext(f"{{{version}}}Header/{{{HUB_NS}}}{name}") or "").strip() or None
        header.update({k: v for k, v in meta.items() if v and k in ("messageId", "correlationId")})
        child = _body_child(env, version)
        if (query := self.spec.query) is not None and child.tag == query.element:
            return 200, soap_envelope(version, header, request_hash, self._query(child)), version
        if not self.schema.validate(child):
            errors = _schema_errors(self.schema.error_log)
            raise _Fault(
                True, "Dữ liệu không hợp lệ theo lược đồ XSD", "body does not conform to the schema", errors
            )
        if (op := self.ops.get(child.tag)) is None:
            raise _Fault(True, "Thao tác không được hỗ trợ", f"unknown operation {child.tag}")
        xpath = self.keys[op.name]
        key = (str(xpath(child)).strip() or None) if xpath is not None else None
        if op.lookup:
            params = self.core.lookup_params(self.spec, key or "")
            answer = self._answer(op, child, params)
            return 200, soap_envelope(version, header, request_hash, answer), version
        if (message_id := meta["messageId"]) is None:
            raise _Fault(
                True, "Thiếu lt:messageId trong SOAP Header", f"missing {{{HUB_NS}}}messageId header"
            )

        def decide(sequence: int, received_at: str) -> Accepted | None:
            if self.core.faults.next_rejection():
                return None
            params: dict[str, str | int] = {"message_id": message_id, "received_at": received_at}
            params |= {"sequence": sequence, "key": key or "", "status": op.status}
            answer = self._answer(op, child, params)
            return Accepted(
                operation=etree.QName(op.name).localname,
                key=key,
                status=op.status,
                answer=soap_envelope(version, header, request_hash, answer),
                answer_status=200,
                answer_type=version,
                first_step_after=op.then[0].after if op.then else None,
            )

        record, duplicate = self.core.store.accept(
            self.spec.name, message_id, body, request_hash, meta, decide
        )
        if record is None:
            # A rejected dossier was not taken in, so there is nothing to de-duplicate against:
            # once the cause is fixed, the same message id sent again is processed afresh.
            self.core.count("rejected")
            rejection = _Fault(
                True,
                "Hồ sơ bị từ chối: thông tin thửa đất không khớp cơ sở dữ liệu đất đai",
                "dossier rejected: parcel data does not match the land database",
                [{"code": "rejected", "message": "simulated rejection (fault plan)"}],
            ).element(version)
            return 500, soap_envelope(version, header, request_hash, rejection), version
        if duplicate:
            self.core.count("duplicates")
            self.core.count("conflicts", int(record.request_hash != request_hash))
        # A planned loss (docs/reconciliation.md): answered as usual, then forgotten, steps and all.
        elif not self.core.dropped(self.spec.name, message_id) and op.then:
            self.core.wake()
        return record.answer_status, record.answer, record.answer_type

    def _answer(
        self, op: OperationSpec, body: etree._Element, params: dict[str, str | int]
    ) -> etree._Element:
        root = run_xslt(self.answers[op.name], body, params)
        if root is None or not self.schema.validate(root):
            errors = _schema_errors(self.schema.error_log) if root is not None else []
            raise _Fault(
                False, "Lỗi nội bộ hệ thống mô phỏng", "simulator produced an invalid response", errors
            )
        return root

    def _query(self, request: etree._Element) -> etree._Element:
        """The generic query answer: ``<element>Response`` with a ``total`` and one ``record`` each."""
        given = {etree.QName(c).localname: (c.text or "").strip() for c in request if isinstance(c.tag, str)}
        try:
            where = RecordFilter(
                endpoint=self.spec.name,
                status=given.get("status") or None,
                key=given.get("key") or None,
                operation=given.get("operation") or None,
                since=datetime.fromisoformat(given["since"]).timestamp() if given.get("since") else None,
                until=datetime.fromisoformat(given["until"]).timestamp() if given.get("until") else None,
                limit=int(given.get("limit") or 1000),
            )
        except ValueError as exc:
            raise _Fault(True, "Điều kiện tra cứu không hợp lệ", f"invalid query: {exc}") from exc
        ns = etree.QName(request).namespace
        answer = etree.Element(
            f"{{{ns}}}{etree.QName(request).localname}Response", nsmap={request.prefix: ns}
        )
        records = self.core.store.query(where)
        etree.SubElement(answer, f"{{{ns}}}total").text = str(len(records))
        for record in records:
            entry = etree.SubElement(answer, f"{{{ns}}}record")
            for name, attribute in _QUERY_FIELDS:
                if (value := getattr(record, attribute)) is not None:
                    etree.SubElement(entry, f"{{{ns}}}{name}").text = str(value)
        return answer

    async def _transport_fault(
        self, request: Request, mode: FaultMode, version: str, digest: str
    ) -> Response:
        await stall_or_cut(request, mode, self.core.faults)
        if mode == "fault":
            fault = _Fault(False, "Hệ thống tạm thời gián đoạn", "service temporarily unavailable")
            return Response(
                soap_envelope(version, {}, digest, fault.element(version)), 500, media_type=_media(version)
            )
        headers = retry_after(self.core.faults)
        return PlainTextResponse("Hệ thống đang bảo trì / Service Unavailable", 503, headers=headers)

    async def contract(self, request: Request) -> Response:
        """``?wsdl`` with its addresses pointing at this server; ``?xsd=name`` for a schema it imports."""
        if (name := request.query_params.get("xsd")) in self.schema_files and name is not None:
            return Response(self.schema_files[name].read_bytes(), media_type="text/xml; charset=utf-8")
        if "wsdl" not in request.query_params or self.wsdl is None:
            return PlainTextResponse("POST SOAP requests here; GET ?wsdl for the contract", 404)
        wsdl = copy.deepcopy(self.wsdl)
        for el in wsdl.iter(*_ADDRESSES):
            el.set("location", str(request.base_url).rstrip("/") + self.spec.path)
        return Response(etree.tostring(wsdl, xml_declaration=True, encoding="UTF-8"), media_type="text/xml")
