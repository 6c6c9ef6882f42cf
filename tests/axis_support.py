"""The national document axis for tests: a fake that keeps the protocol's rules (hash-file checked,
mailboxes per agency, pending until updateStatus done or fail), as a MemoryTransport handler for unit
tests and as an ASGI app for tests over real HTTP; and edXML messages made with the writer's builders.

The vpcp and qlvb adapters come from the repository as shipped (AdapterSource), with the edXML routes
of the shipped routes.yaml: these tests are about that configuration."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from project_support import ROOT, AdapterSource
from ruamel.yaml import YAML

from lienthong.delivery.transports.base import TransportRequest, TransportResponse
from lienthong.edxml.build import build_document, build_status
from lienthong.edxml.model import Organ, ResponseFor
from lienthong.xml import serialize

VPCP_ADAPTER: Final = AdapterSource("vpcp", ROOT)
QLVB_ADAPTER: Final = AdapterSource("qlvb", ROOT)
PROVINCE: Final = "000.00.00.H49"
AXIS: Final = "000.00.00.G22"
MINISTRY: Final = "000.00.00.G09"  # Bộ Nội vụ
OTHER_MINISTRY: Final = "000.00.00.G01"
AXIS_KEY: Final = "test-axis-key-not-a-secret"
QLVB_KEY: Final = "test-qlvb-axis-key-not-a-secret"


def edxml_routes() -> list[dict[str, Any]]:
    """The shipped routes.yaml's edXML rules, in their order."""
    data = YAML(typ="safe", pure=True).load((ROOT / "config" / "routes.yaml").read_text(encoding="utf-8"))
    return [r for r in data["routes"] if str(r["name"]).startswith("edxml-")]


def ministry_document(
    sender: str = MINISTRY, number: str = "4521", to: tuple[str, ...] = (PROVINCE,)
) -> bytes:
    """An unsigned new document (BussinessDocType 0) from a ministry, in the standard form."""
    root = build_document(
        sender=Organ(sender, name="Bộ Nội vụ"),
        recipients=[Organ(code) for code in to],
        code_number=number,
        code_notation="BYT-KCB",
        subject="Về việc tăng cường phòng, chống dịch bệnh mùa đông",
        promulgation_date=date(2026, 11, 28),
        place="Hà Nội",
    )
    return serialize(root)


def ministry_status(code: str = "03", sender: str = MINISTRY) -> bytes:
    """A status package from a ministry about a document of the province."""
    about = ResponseFor(PROVINCE, "125/UBND-VP", "2026/11/30", f"{PROVINCE},2026/11/30,125/UBND-VP")
    return serialize(build_status(about=about, sender=Organ(sender), code=code))


def province_document(number: str = "125", to: tuple[str, ...] = (MINISTRY, OTHER_MINISTRY)) -> bytes:
    root = build_document(
        sender=Organ(PROVINCE, name="UBND tỉnh Quảng Ninh"),
        recipients=[Organ(code) for code in to],
        code_number=number,
        code_notation="UBND-VP",
        subject="Về việc báo cáo tình hình kinh tế - xã hội năm 2026",
        promulgation_date=date(2026, 11, 30),
        place="Quảng Ninh",
    )
    return serialize(root)


@dataclass
class Edoc:
    doc_id: str
    sender: str
    to: tuple[str, ...]
    message_type: str
    body: bytes
    #: updateStatus per receiving agency: processing, done, fail (absent: pending).
    statuses: dict[str, str] = field(default_factory=dict)


class FakeAxis:
    """The axis's four calls over its mailboxes. ``key`` is the API key it requires; ``lose_updates``
    answers OK to updateStatus without recording it (an axis that forgot: the hub fetches again)."""

    def __init__(self, key: str = AXIS_KEY) -> None:
        self.key = key
        self.edocs: dict[str, Edoc] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.updates: list[tuple[str, str, str]] = []  # (docId, agency, status)
        self.lose_updates = False
        self.down = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def put(self, body: bytes, *, sender: str, to: tuple[str, ...], message_type: str = "edoc") -> str:
        """A message some agency sent through the axis (as sendEdoc would store it)."""
        with self._lock:
            doc_id = f"AXIS-{next(self._ids):06d}"
            self.edocs[doc_id] = Edoc(doc_id, sender, to, message_type, body)
        return doc_id

    def mailbox(self, agency: str) -> list[Edoc]:
        return [e for e in self.edocs.values() if agency in e.to]

    # ---------------------------------------------------------------- the protocol

    def answer(self, operation: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        headers = {k.lower(): v for k, v in headers.items()}
        self.calls.append((operation, headers))
        if self.down:
            return 503, {"status": "FAIL", "ErrorCode": "SYSTEM_ERROR", "ErrorDesc": "down"}
        if headers.get("x-api-key") != self.key:
            return 401, {"status": "FAIL", "ErrorCode": "UNAUTHORIZED", "ErrorDesc": "API key"}
        ok: dict[str, Any] = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
        agency = headers.get("from", "")
        if operation == "sendEdoc":
            if hashlib.sha256(body).hexdigest() != headers.get("hash-file"):
                return 400, {"status": "FAIL", "ErrorCode": "HASH_MISMATCH", "ErrorDesc": "hash-file"}
            to = tuple(t for t in headers.get("to", "").split(",") if t)
            doc_id = self.put(body, sender=agency, to=to, message_type=headers.get("messagetype", "edoc"))
            return 200, {**ok, "DocId": doc_id}
        if operation == "getReceivedEdocList":
            wanted = headers.get("messagetype")
            data = [
                {
                    "docId": e.doc_id,
                    "from": e.sender,
                    "to": ",".join(e.to),
                    "messageType": e.message_type,
                    "serviceType": "eDoc",
                    "status": "pending",
                    "createdTime": "2026/11/30 09:00:00",
                }
                for e in self.mailbox(agency)
                if e.statuses.get(agency) not in ("done", "fail") and (not wanted or e.message_type == wanted)
            ]
            return 200, {**ok, "data": data}
        edoc = self.edocs.get(headers.get("docid", ""))
        if edoc is None or agency not in edoc.to:
            return 404, {"status": "FAIL", "ErrorCode": "NOT_FOUND", "ErrorDesc": "docId"}
        if operation == "getEdoc":
            return 200, {**ok, "data": base64.b64encode(edoc.body).decode()}
        if operation == "updateStatus":
            status = headers.get("status", "")
            self.updates.append((edoc.doc_id, agency, status))
            if not self.lose_updates:
                edoc.statuses[agency] = status
            return 200, ok
        return 404, {"status": "FAIL", "ErrorCode": "UNKNOWN_OPERATION", "ErrorDesc": operation}

    def __call__(self, request: TransportRequest) -> TransportResponse:
        """As a MemoryTransport handler."""
        operation = request.url.rstrip("/").rsplit("/", 1)[-1]
        status, body = self.answer(operation, dict(request.headers), request.body)
        return TransportResponse(status, json.dumps(body).encode(), {"content-type": "application/json"})

    def asgi(self) -> Any:
        """As a web app (FastAPI) answering POST {prefix}/{operation}, for tests over real HTTP."""
        app = FastAPI()

        @app.post("/{prefix}/{operation}")
        async def call(prefix: str, operation: str, request: Request) -> JSONResponse:
            body = await request.body()
            status, answer = self.answer(operation, dict(request.headers), body)
            return JSONResponse(answer, status_code=status)

        return app
