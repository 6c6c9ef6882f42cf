"""A simulated REST/JSON service: operations by method and path (and body fields), JSON Schemas, XSLT answers.

Ministries that speak JSON (justice's civil status service, the national portal) answer like the SOAP
ones do here: the request is validated against the operation's JSON Schema, turned into the W3C XML
representation of JSON (:mod:`lienthong.jsonxml`) and answered through an XSLT whose output, in the
same vocabulary, becomes the JSON answer, itself validated. Idempotency is on a header (the hub's
message id, ``X-Message-Id`` by default) or a body field; faults are those of the SOAP services, in
JSON: a 503 with Retry-After, a 500, a stalled or cut connection, and a 422 rejection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import jsonschema_rs
from lxml import etree
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lienthong.devtools.simulator.core import SimulatorCore, compile_xslt, retry_after, run_xslt, stall_or_cut
from lienthong.devtools.simulator.records import Accepted, Record, RecordFilter
from lienthong.devtools.simulator.spec import OperationSpec, ServiceSpec
from lienthong.errors import InvalidMessageError, TranslationError
from lienthong.jsonxml import JSON_NS, is_json_tree, json_to_tree, loads, tree_to_json, value_to_tree

__all__ = ["RestService"]

_JSON: Final = "application/json"
_PROBLEM: Final = "application/problem+json"


class _Problem(Exception):
    """An error answer as problem+json (RFC 9457), titles in Vietnamese and English like the hub's."""

    def __init__(self, status: int, vi: str, en: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(en)
        self.status, self.vi, self.en, self.errors = status, vi, en, errors or []

    def body(self) -> bytes:
        problem: dict[str, object] = {
            "title": f"{self.vi} / {self.en}",
            "status": self.status,
            "detail": self.en,
        }
        if self.errors:
            problem["errors"] = self.errors
        return json.dumps(problem, ensure_ascii=False).encode()

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return Response(self.body(), self.status, headers=dict(headers or {}), media_type=_PROBLEM)


def _validator(path: object) -> Any:
    if path is None:
        return None
    with open(str(path), encoding="utf-8") as f:
        return jsonschema_rs.validator_for(json.load(f))


def _schema_errors(validator: Any, value: object) -> list[dict[str, str]]:
    if validator is None:
        return []
    return [
        {"code": "schema", "path": "/" + "/".join(map(str, e.instance_path)), "message": e.message}
        for e in validator.iter_errors(value)
    ]


def _field(value: object, dotted: str) -> object:
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class RestService:
    """The state and endpoints of one simulated REST/JSON service."""

    def __init__(self, spec: ServiceSpec, core: SimulatorCore) -> None:
        self.spec, self.core = spec, core
        self.ops = {op.name: op for op in spec.operations}
        cases = core.case_function(spec, self.request_tree)  # sim:case(key), for lookup answers
        self.answers = {
            op.name: compile_xslt(op.answer, cases if op.lookup else None) for op in spec.operations
        }
        self.requests = {op.name: _validator(op.request_schema) for op in spec.operations}
        self.replies = {op.name: _validator(op.answer_schema) for op in spec.operations}
        self.keys = {op.name: core.key_xpath(spec, op, {"fn": JSON_NS}) for op in spec.operations}
        ns = {**spec.namespaces, "fn": JSON_NS}
        self.statuses = {
            op.name: etree.XPath(f"string({op.status_from})", namespaces=ns)
            for op in spec.operations
            if op.status_from
        }
        self.digests = {
            op.name: etree.XPath(op.digests, namespaces=ns) for op in spec.operations if op.digests
        }
        self.by_route: dict[tuple[str, str], list[OperationSpec]] = {}
        for op in spec.operations:
            self.by_route.setdefault((op.path or spec.path, op.method), []).append(op)

    def routes(self) -> list[BaseRoute]:
        paths = sorted({path for path, _ in self.by_route})
        routes: list[BaseRoute] = [
            Route(p, self.handle, methods=sorted({m for q, m in self.by_route if q == p})) for p in paths
        ]
        if (query := self.spec.query) is not None and query.path is not None:
            routes.insert(0, Route(query.path, self.query, methods=[query.method]))
        if (session := self.spec.session) is not None:

            async def login(request: Request) -> Response:
                return await self.core.sessions.login(request, session)

            routes.insert(0, Route(session.login_path, login, methods=["POST"]))
        return routes

    def operation(self, record: Record) -> OperationSpec:
        return self.ops[record.operation]

    def request_tree(self, record: Record) -> etree._Element:
        return json_to_tree(record.request, what="stored request")

    async def handle(self, request: Request) -> Response:
        core = self.core
        core.count("total")
        if core.faults.latency:
            await asyncio.sleep(core.faults.latency)
        if (mode := core.faults.next_transport_fault()) is not None:
            core.count("faults_served")
            await stall_or_cut(request, mode, core.faults)
            if mode == "fault":
                return _Problem(
                    500, "Hệ thống tạm thời gián đoạn", "service temporarily unavailable"
                ).response()
            problem = _Problem(503, "Hệ thống đang bảo trì", "service unavailable")
            return problem.response(retry_after(core.faults))
        try:
            return await self._process(request)
        except _Problem as problem:
            core.count("invalid" if problem.status < 500 else "faults_served")
            return problem.response()

    async def _process(self, request: Request) -> Response:
        if (api_key := self.spec.api_key) is not None:
            header, expected = api_key
            given = request.headers.get(header, "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise _Problem(401, "Khóa API không hợp lệ", f"missing or wrong API key ({header})")
        if request.method == "GET":
            value: Any = dict(request.query_params)
            exact: Any = value
            body = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
        else:
            body = await request.body()
            try:
                exact = loads(body, what="request body")  # bounded, duplicate keys refused, numbers exact
                value = json.loads(body)
            except (InvalidMessageError, ValueError) as exc:
                raise _Problem(400, "Nội dung không phải JSON hợp lệ", str(exc)) from exc
        session = self.spec.session
        if session is not None and not self.core.sessions.valid(_field(value, session.body_field)):
            self.core.count("invalid")
            return self.core.sessions.refusal(session)
        op = self._select(request, value)
        if errors := _schema_errors(self.requests[op.name], value):
            raise _Problem(
                400, "Dữ liệu không hợp lệ theo lược đồ JSON", "body does not conform to the schema", errors
            )
        tree = value_to_tree(exact)
        xpath = self.keys[op.name]
        key = (str(xpath(tree)).strip() or None) if xpath is not None else None
        status = op.status
        if (status_xpath := self.statuses.get(op.name)) is not None:
            status = str(status_xpath(tree)).strip() or op.status
        digests = self._digests(op, tree)
        if op.lookup:
            answer = self._answer(op, tree, self.core.lookup_params(self.spec, key or ""))
            return Response(answer, 200, media_type=_JSON)
        message_id = self._message_id(request, value)
        request_hash = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        meta = {
            "correlationId": request.headers.get("x-correlation-id"),
            "client": request.headers.get("x-client"),
        }

        def decide(sequence: int, received_at: str) -> Accepted | None:
            if self.core.faults.next_rejection():
                return None
            params: dict[str, str | int] = {"message_id": message_id, "received_at": received_at}
            params |= {"sequence": sequence, "key": key or "", "status": status}
            if digests is not None:
                params["digests"] = digests
            answer = self._answer(op, tree, params)
            return Accepted(op.name, key, status, answer, 200, _JSON, op.then[0].after if op.then else None)

        record, duplicate = self.core.store.accept(
            self.spec.name, message_id, body, request_hash, meta, decide
        )
        if record is None:
            self.core.count("rejected")
            raise _Problem(422, "Hồ sơ bị từ chối", "rejected (simulated rejection, fault plan)")
        if duplicate:
            self.core.count("duplicates")
            self.core.count("conflicts", int(record.request_hash != request_hash))
        # A planned loss (docs/reconciliation.md): answered as usual, then forgotten, steps and all.
        elif not self.core.dropped(self.spec.name, message_id) and op.then:
            self.core.wake()
        return Response(record.answer, record.answer_status, media_type=record.answer_type)

    def _select(self, request: Request, value: object) -> OperationSpec:
        """The operation on this method and path whose ``match`` fields the body has."""
        candidates = self.by_route.get((request.url.path, request.method), [])
        for op in candidates:
            if all(isinstance(value, dict) and str(value.get(k)) == v for k, v in op.match.items()):
                return op
        raise _Problem(
            404,
            "Thao tác không được hỗ trợ",
            f"no operation for {request.method} {request.url.path} with this body",
        )

    def _digests(self, op: OperationSpec, tree: etree._Element) -> str | None:
        """SHA-256 (hex) of each base64 value the operation's ``digests`` XPath selects, space-separated."""
        xpath = self.digests.get(op.name)
        if xpath is None:
            return None
        found = xpath(tree)
        values = found if isinstance(found, list) else [found]
        out = []
        for item in values:
            text = item.text if isinstance(item, etree._Element) else str(item)
            try:
                data = base64.b64decode("".join((text or "").split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _Problem(
                    400, "Nội dung tệp không phải base64", f"a document is not base64: {exc}"
                ) from exc
            out.append(hashlib.sha256(data).hexdigest())
        return " ".join(out)

    def _message_id(self, request: Request, value: object) -> str:
        if self.spec.message_id_field is not None:
            found = _field(value, self.spec.message_id_field)
            where = f"body field {self.spec.message_id_field}"
        else:
            found = request.headers.get(self.spec.message_id_header)
            where = f"header {self.spec.message_id_header}"
        if found is None or not str(found).strip() or isinstance(found, dict | list):
            raise _Problem(400, "Thiếu mã thông điệp", f"missing message id ({where})")
        return str(found).strip()

    def _answer(self, op: OperationSpec, tree: etree._Element, params: dict[str, str | int]) -> bytes:
        root = run_xslt(self.answers[op.name], tree, params)
        try:
            if root is None or not is_json_tree(root):
                raise TranslationError("the answer XSLT must produce fn:map or fn:array")
            answer = tree_to_json(root)
        except TranslationError as exc:
            raise _Problem(
                500, "Lỗi nội bộ hệ thống mô phỏng", f"simulator produced an invalid answer: {exc}"
            ) from exc
        if errors := _schema_errors(self.replies[op.name], json.loads(answer)):
            raise _Problem(
                500, "Lỗi nội bộ hệ thống mô phỏng", "simulator produced an invalid answer", errors
            )
        return answer

    async def query(self, request: Request) -> Response:
        """What the service holds: ``{"total": n, "records": [...]}``, filtered like /_sim/records."""
        given: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            try:
                posted = json.loads(await request.body() or b"{}")
            except ValueError as exc:
                return _Problem(400, "Nội dung không phải JSON hợp lệ", str(exc)).response()
            given = posted if isinstance(posted, dict) else {}
        try:
            where = record_filter(given, self.spec.name)
        except ValueError as exc:
            return _Problem(400, "Điều kiện tra cứu không hợp lệ", f"invalid query: {exc}").response()
        records = [r.public() for r in self.core.store.query(where)]
        return JSONResponse({"total": len(records), "records": records})


def record_filter(given: Mapping[str, Any], endpoint: str | None = None) -> RecordFilter:
    """Filters from query parameters or a JSON object: status, key, operation, since, until, limit."""

    def text(name: str) -> str | None:
        value = given.get(name)
        return str(value) if value not in (None, "") else None

    since, until = text("since"), text("until")
    return RecordFilter(
        endpoint=endpoint or text("service"),
        status=text("status"),
        key=text("key"),
        operation=text("operation"),
        since=datetime.fromisoformat(since).timestamp() if since else None,
        until=datetime.fromisoformat(until).timestamp() if until else None,
        limit=int(text("limit") or 1000),
    )
