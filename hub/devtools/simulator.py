"""Stand-ins for ministry systems: a generic SOAP service configured by data, not code.

Ministry systems cannot be reached from development or CI, yet the hub must be tested against a
real SOAP endpoint that validates what it receives, answers like the real one and fails the way real
ones fail. An adapter describes its system with a :class:`SimulatorSpec` (XSD, WSDL, one XSLT per
operation turning a request body into a response body); this engine does the rest:

* SOAP 1.1 and 1.2, parsed with the hub's hardened :func:`~lienthong.xml.parse_xml`;
* request and response bodies validated against the XSD (invalid requests get a Client/Sender fault);
* idempotency on the hub's ``lt:messageId`` header: a repeat gets the first answer's exact bytes, as an
  AS4 receiver eliminates duplicates, so retries can be tested for "once and only once";
* an X-Road style ``lt:requestHash`` in every answer, binding it to the exact request bytes;
* a live :class:`FaultPlan` (latency, outages, failures, rejections) driven through ``/_sim/``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import random
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, cast, get_args

import uvicorn
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from lienthong.config.models import Configuration
from lienthong.devtools.background import BackgroundServer
from lienthong.errors import HubError, XmlRefusedError
from lienthong.xml import DEFAULT_LIMITS, HUB_NS, SOAP11_NS, SOAP12_NS, parse_trusted_file, parse_xml

__all__ = [
    "FaultMode",
    "FaultPlan",
    "SimulatorServer",
    "SimulatorSpec",
    "create_simulator_app",
    "run_simulator",
    "simulator_spec",
]

FaultMode = Literal["503", "fault", "timeout", "reset"]
_MODES: Final = get_args(FaultMode)
_INT_SETTINGS: Final = frozenset({"fail_next", "reject_next", "seed"})
_NUMBER_SETTINGS: Final = _INT_SETTINGS | {
    "latency",
    "reject_rate",
    "error_rate",
    "hang_seconds",
    "outage_seconds",
}
SIM_NS: Final = "urn:lienthong:simulator:1"  #: namespace of the entries in a fault's detail
SHA256_URI: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
_VN_TZ: Final = timezone(timedelta(hours=7))  # Vietnam keeps +07:00 all year
_XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
_TRANSPORT_KEY: Final = "lienthong.transport"
_COUNTERS: Final = ("total", "duplicates", "faults_served", "rejected", "invalid", "conflicts")
_XSD: Final = "http://www.w3.org/2001/XMLSchema"
_ADDRESSES: Final = (
    "{http://schemas.xmlsoap.org/wsdl/soap/}address",
    "{http://schemas.xmlsoap.org/wsdl/soap12/}address",
)
# XSLTs may read nothing and write nothing (no document(), no exsl:document); lxml-stubs lacks DENY_ALL.
_DENY_ALL: Final[etree.XSLTAccessControl] = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SimulatorSpec:
    """What an adapter declares about the system it simulates; the paths are files it ships."""

    name: str
    path: str  # e.g. "/soap/land"
    schema: Path  # validates request and response bodies
    operations: dict[str, Path]  # request root Clark name -> XSLT producing the response body
    wsdl: Path | None = None  # served at GET {path}?wsdl

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.startswith("/_sim"):
            raise ValueError(f"simulator path must start with '/' and not with '/_sim': {self.path!r}")


def simulator_spec(config: Configuration, adapter: str) -> SimulatorSpec:
    """The simulator an adapter's YAML declares, its files resolved from the configuration's root."""
    settings = config.adapters.get(adapter)
    if settings is None:
        known = ", ".join(sorted(config.adapters)) or "none configured"
        raise HubError(f"no adapter '{adapter}' in {config.config_dir} (configured: {known})")
    sim = settings.simulator
    if sim is None:
        raise HubError(f"adapter '{adapter}' declares no simulator (a 'simulator:' section in its YAML)")
    return SimulatorSpec(
        name=adapter,
        path=sim.path,
        schema=config.resolve(sim.schema_),
        operations={tag: config.resolve(xslt) for tag, xslt in sim.operation_tags().items()},
        wsdl=config.resolve(sim.wsdl) if sim.wsdl is not None else None,
    )


@dataclass
class FaultPlan:
    """How the simulated system misbehaves right now: changed live, read on every call, thread-safe.

    Transport faults (outage, ``fail_next``, ``error_rate``) strike before the request is read and are
    served in ``mode``. Rejections (``reject_next``, ``reject_rate``) are the system's business answer
    to a valid new message: a permanent Client fault, remembered for its message id like any answer.
    """

    latency: float = 0.0
    mode: FaultMode = "503"
    outage_until: float | None = None  # time.monotonic() deadline
    fail_next: int = 0
    reject_next: int = 0
    reject_rate: float = 0.0
    error_rate: float = 0.0
    hang_seconds: float = 30.0  # "timeout" mode: longer than any sane caller waits
    seed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply a control request such as ``{"outage_seconds": 8, "mode": "503"}``: all of it or nothing."""
        if unknown := sorted(set(changes) - _NUMBER_SETTINGS - {"mode", "clear"}):
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        numbers: dict[str, float] = {}
        for key in _NUMBER_SETTINGS & set(changes):
            value = changes[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
            if key in _INT_SETTINGS and not isinstance(value, int):
                raise ValueError(f"{key} must be a whole number")
            numbers[key] = value
        if (mode := changes.get("mode", self.mode)) not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}")
        with self._lock:
            if changes.get("clear"):
                for f in fields(self):
                    if f.init and f.name not in ("seed", "_lock"):
                        setattr(self, f.name, f.default)
            self.mode = cast(FaultMode, mode)
            for key, value in numbers.items():
                if key == "outage_seconds":
                    self.outage_until = time.monotonic() + value
                else:
                    setattr(self, key, int(value) if key in _INT_SETTINGS else value)
            if "seed" in numbers:
                self._rng.seed(self.seed)

    def next_transport_fault(self) -> FaultMode | None:
        """Decide, and consume, whether this call fails before it is even read."""
        with self._lock:
            if self.outage_until is not None and time.monotonic() < self.outage_until:
                return self.mode
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.mode
            return self.mode if self.error_rate and self._rng.random() < self.error_rate else None

    def next_rejection(self) -> bool:
        with self._lock:
            if self.reject_next > 0:
                self.reject_next -= 1
                return True
            return bool(self.reject_rate) and self._rng.random() < self.reject_rate

    def outage_remaining(self) -> float:
        with self._lock:
            return max(0.0, (self.outage_until or 0.0) - time.monotonic())

    def as_dict(self) -> dict[str, object]:
        plan: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        del plan["_lock"], plan["outage_until"]
        return plan | {"outage_remaining": self.outage_remaining()}


@dataclass
class _Record:
    """What the simulated system remembers of one message id."""

    message_id: str
    correlation_id: str | None
    client: str | None
    service: str | None
    outcome: str
    count: int
    first_at: str
    request_hash: str = field(repr=False)
    status: int = field(repr=False)
    response: bytes = field(repr=False)
    version: str = field(repr=False)  # the SOAP version of the stored answer, repeated with it

    def public(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.repr}


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


def _envelope(version: str, header: dict[str, str], request_hash: str, body_child: etree._Element) -> bytes:
    """The answer: the hub's header blocks echoed, ``requestHash`` last, then the body."""
    prefix = "soap" if version == SOAP11_NS else "env"
    env = etree.Element(f"{{{version}}}Envelope", nsmap={prefix: version, "lt": HUB_NS})
    head = etree.SubElement(env, f"{{{version}}}Header")
    for name, value in header.items():
        etree.SubElement(head, f"{{{HUB_NS}}}{name}").text = value
    etree.SubElement(head, f"{{{HUB_NS}}}requestHash", algorithm=SHA256_URI).text = request_hash
    etree.SubElement(env, f"{{{version}}}Body").append(body_child)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _schema_errors(log: etree._ListErrorLog) -> list[dict[str, str]]:
    return [
        {"code": "schema", "line": str(e.line), "column": str(e.column), "message": e.message} for e in log
    ]


def _media(version: str) -> str:
    return ("text/xml" if version == SOAP11_NS else "application/soap+xml") + "; charset=utf-8"


class _Simulator:
    """The state and endpoints of one simulated system."""

    def __init__(self, spec: SimulatorSpec, faults: FaultPlan) -> None:
        self.spec, self.faults = spec, faults
        schema_tree = parse_trusted_file(str(spec.schema))
        schema_tree.docinfo.URL = str(spec.schema)  # relative xs:import / xs:include resolve beside it
        self.schema = etree.XMLSchema(schema_tree)
        self.operations = {
            tag: etree.XSLT(parse_trusted_file(str(xsl)), access_control=_DENY_ALL)
            for tag, xsl in spec.operations.items()
        }
        self.wsdl: etree._ElementTree | None = None
        self.schema_files: dict[str, Path] = {}  # what the WSDL imports: the only files ?xsd= serves
        if spec.wsdl is not None:
            self.wsdl = parse_trusted_file(str(spec.wsdl))
            for el in self.wsdl.iter(f"{{{_XSD}}}import", f"{{{_XSD}}}include"):
                location = el.get("schemaLocation", "")
                if location and "/" not in location and ":" not in location:  # a sibling file only
                    self.schema_files[location] = spec.wsdl.parent / location
                    el.set("schemaLocation", f"{spec.path}?xsd={location}")
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.records: dict[str, _Record] = {}
            self.counts = dict.fromkeys(_COUNTERS, 0)
            self.sequence = 0

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def stats(self) -> dict[str, int]:
        with self.lock:
            return self.counts | {"unique": len(self.records)}

    def received(self) -> list[dict[str, object]]:
        with self.lock:
            return [record.public() for record in self.records.values()]

    async def soap(self, request: Request) -> Response:
        body = await request.body()
        self.count("total")
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        version = {"text/xml": SOAP11_NS, "application/soap+xml": SOAP12_NS}.get(media)
        request_hash = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if (mode := self.faults.next_transport_fault()) is not None:
            self.count("faults_served")
            return await self._transport_fault(request, mode, version or SOAP11_NS, request_hash)
        if version is None:
            self.count("invalid")
            return PlainTextResponse("SOAP 1.1 (text/xml) or SOAP 1.2 (application/soap+xml) only", 415)
        header: dict[str, str] = {}  # what the request's hub header said, echoed in the answer
        try:
            if version == SOAP11_NS and "soapaction" not in request.headers:
                raise _Fault(True, "Thiếu tiêu đề HTTP SOAPAction", "missing SOAPAction HTTP header")
            status, payload, version = self._process(body, version, request_hash, header)
        except _Fault as fault:
            self.count("invalid" if fault.sender else "faults_served")
            status, payload = 500, _envelope(version, header, request_hash, fault.element(version))
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
        for key in ("messageId", "correlationId", "client", "service"):
            meta[key] = (env.findtext(f"{{{version}}}Header/{{{HUB_NS}}}{key}") or "").strip() or None
        if (message_id := meta["messageId"]) is None:
            raise _Fault(
                True, "Thiếu lt:messageId trong SOAP Header", f"missing {{{HUB_NS}}}messageId header"
            )
        header.update({k: v for k, v in meta.items() if v and k in ("messageId", "correlationId")})
        children = [c for c in env.iterfind(f"{{{version}}}Body/*") if isinstance(c.tag, str)]
        if len(children) != 1:
            raise _Fault(
                True, "SOAP Body phải có đúng một phần tử", "SOAP Body must hold exactly one element"
            )
        if not self.schema.validate(children[0]):
            errors = _schema_errors(self.schema.error_log)
            raise _Fault(
                True, "Dữ liệu không hợp lệ theo lược đồ XSD", "body does not conform to the schema", errors
            )
        if children[0].tag not in self.operations:
            raise _Fault(True, "Thao tác không được hỗ trợ", f"unknown operation {children[0].tag}")
        with self.lock:  # look up, decide and remember in one step: a racing duplicate never runs twice
            if (known := self.records.get(message_id)) is not None:
                known.count += 1
                self.counts["duplicates"] += 1
                self.counts["conflicts"] += known.request_hash != request_hash
                return known.status, known.response, known.version
            received_at = datetime.now(_VN_TZ).isoformat(timespec="seconds")
            if self.faults.next_rejection():
                # A rejected dossier was not taken in, so there is nothing to de-duplicate against:
                # once the cause is fixed, the same message id sent again is processed afresh.
                self.counts["rejected"] += 1
                rejection = _Fault(
                    True,
                    "Hồ sơ bị từ chối: thông tin thửa đất không khớp cơ sở dữ liệu đất đai",
                    "dossier rejected: parcel data does not match the land database",
                    [{"code": "rejected", "message": "simulated rejection (fault plan)"}],
                ).element(version)
                return 500, _envelope(version, header, request_hash, rejection), version
            answer = self._answer(children[0], message_id, received_at, self.sequence + 1)
            self.sequence += 1
            payload = _envelope(version, header, request_hash, answer)
            self.records[message_id] = _Record(
                message_id=message_id,
                correlation_id=meta["correlationId"],
                client=meta["client"],
                service=meta["service"],
                outcome="accepted",
                count=1,
                first_at=received_at,
                request_hash=request_hash,
                status=200,
                response=payload,
                version=version,
            )
            return 200, payload, version

    def _answer(
        self, request_body: etree._Element, message_id: str, received_at: str, seq: int
    ) -> etree._Element:
        result = self.operations[request_body.tag](
            etree.ElementTree(copy.deepcopy(request_body)),
            message_id=etree.XSLT.strparam(message_id),
            received_at=etree.XSLT.strparam(received_at),
            sequence=str(seq),
        )
        root = result.getroot()
        if root is None or not self.schema.validate(root):
            errors = _schema_errors(self.schema.error_log) if root is not None else []
            raise _Fault(
                False, "Lỗi nội bộ hệ thống mô phỏng", "simulator produced an invalid response", errors
            )
        return root

    async def _transport_fault(
        self, request: Request, mode: FaultMode, version: str, digest: str
    ) -> Response:
        if mode == "reset" and isinstance(transport := request.scope.get(_TRANSPORT_KEY), asyncio.Transport):
            if (sock := transport.get_extra_info("socket")) is not None:  # linger 0: close() sends RST
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            await asyncio.sleep(0.01)  # let the server notice, so the response below is discarded
        elif mode == "timeout":
            deadline = time.monotonic() + self.faults.hang_seconds
            while time.monotonic() < deadline and not await request.is_disconnected():
                await asyncio.sleep(0.05)
        elif mode == "fault":
            fault = _Fault(False, "Hệ thống tạm thời gián đoạn", "service temporarily unavailable")
            return Response(
                _envelope(version, {}, digest, fault.element(version)), 500, media_type=_media(version)
            )
        retry = self.faults.outage_remaining()
        headers = {"Retry-After": str(int(retry) + 1)} if retry else {}
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

    async def put_faults(self, request: Request) -> Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            self.faults.update(changes)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.faults.as_dict())

    async def post_reset(self, request: Request) -> Response:
        self.reset()
        self.faults.update({"clear": True})
        return JSONResponse(self.stats())


def _json(read: Callable[[], object]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(read())

    return endpoint


class _SimulatorApp(Starlette):
    """Starlette that notes the connection's transport, so the "reset" fault can cut it.

    uvicorn's request cycles (h11, httptools) own the ``send`` callable and hold ``.transport``;
    under another server the attribute is missing and "reset" degrades to a 503.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_TRANSPORT_KEY] = getattr(getattr(send, "__self__", None), "transport", None)
        await super().__call__(scope, receive, send)


def create_simulator_app(spec: SimulatorSpec, faults: FaultPlan | None = None) -> Starlette:
    """Build the ASGI app. XSD, XSLTs and WSDL are compiled here, once, so a broken spec fails at startup."""
    sim = _Simulator(spec, faults or FaultPlan())
    routes = [
        Route(spec.path, sim.soap, methods=["POST"]),
        Route(spec.path, sim.contract, methods=["GET"]),
        Route("/_sim/stats", _json(sim.stats), methods=["GET"]),
        Route("/_sim/received", _json(sim.received), methods=["GET"]),
        Route("/_sim/faults", _json(sim.faults.as_dict), methods=["GET"]),
        Route("/_sim/faults", sim.put_faults, methods=["PUT"]),
        Route("/_sim/reset", sim.post_reset, methods=["POST"]),
    ]
    app = _SimulatorApp(routes=routes, max_body_size=DEFAULT_LIMITS.max_bytes + 1)
    app.state.simulator = sim
    return app


def _server(app: Starlette, **options: object) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, http="h11", ws="none", lifespan="off", **options))  # type: ignore[arg-type]


def run_simulator(
    spec: SimulatorSpec, host: str = "127.0.0.1", port: int = 8701, faults: FaultPlan | None = None
) -> None:
    """Serve the simulator in the foreground until interrupted (CLI, manual testing)."""
    _server(create_simulator_app(spec, faults), host=host, port=port).run()


class SimulatorServer:
    """The simulator on a free loopback port in a background thread: ``with SimulatorServer(spec) as s:``."""

    def __init__(
        self, spec: SimulatorSpec, faults: FaultPlan | None = None, *, host: str = "127.0.0.1"
    ) -> None:
        self.spec, self.host, self.port = spec, host, 0
        self.faults = faults or FaultPlan()
        self.app = create_simulator_app(spec, self.faults)
        self._server: BackgroundServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.spec.path

    def stats(self) -> dict[str, int]:
        sim: _Simulator = self.app.state.simulator
        return sim.stats()

    def start(self, timeout: float = 10.0) -> None:
        # h11, because the "reset" fault reaches the connection through h11's transport.
        self._server = BackgroundServer(
            self.app, self.host, http="h11", ws="none", lifespan="off", timeout_graceful_shutdown=2
        ).start(timeout)
        self.port = self._server.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=10)
        self._server = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
