"""What every service of one simulator shares: its records, its fault plan, its counters, its XSLTs.

A service (:mod:`.soapservice`, :mod:`.restservice`) turns a request into an :class:`~.records.Accepted`
through the helpers here; the store keeps it, and the callback task (:mod:`.callbacks`) is woken when a
new case has later steps.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

from lxml import etree
from starlette.requests import Request
from starlette.routing import BaseRoute

from lienthong.devtools.simulator.divergence import Divergences
from lienthong.devtools.simulator.faults import FaultMode, FaultPlan
from lienthong.devtools.simulator.records import Record, RecordFilter, RecordStore
from lienthong.devtools.simulator.sessions import Sessions
from lienthong.devtools.simulator.spec import OperationSpec, ServiceSpec, SimulatorSpec
from lienthong.xml import parse_trusted_file

__all__ = [
    "CASE_NS",
    "COUNTERS",
    "SERVER_LOOP",
    "TRANSPORT_KEY",
    "Service",
    "SimulatorCore",
    "compile_xslt",
    "retry_after",
    "run_xslt",
    "stall_or_cut",
]

COUNTERS: Final = ("total", "duplicates", "faults_served", "rejected", "invalid", "conflicts")
TRANSPORT_KEY: Final = "lienthong.transport"
#: The event loop a simulator is served on (uvicorn's ``loop``), whatever the hub's: asyncio's, whose
#: transports are ``asyncio.Transport`` and give their socket, which the 'reset' fault cuts with an
#: RST (:func:`stall_or_cut`); uvloop's are neither.
SERVER_LOOP: Final = "asyncio"
# XSLTs may read nothing and write nothing (no document(), no exsl:document); lxml-stubs lacks DENY_ALL.
_DENY_ALL: Final[etree.XSLTAccessControl] = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]


#: Namespace of the extension function a lookup operation's answer XSLT may call: ``sim:case(key)``.
CASE_NS: Final = "urn:lienthong:simulator:1"


def compile_xslt(path: Path, extensions: Mapping[tuple[str, str], Any] | None = None) -> etree.XSLT:
    return etree.XSLT(
        parse_trusted_file(str(path)),
        access_control=_DENY_ALL,
        extensions=dict(extensions) if extensions else None,
    )


def run_xslt(
    xslt: etree.XSLT, source: etree._Element, params: Mapping[str, str | int]
) -> etree._Element | None:
    """Apply ``xslt`` to a copy of ``source``: strings are passed as string parameters, numbers as is."""
    values = {k: str(v) if isinstance(v, int) else etree.XSLT.strparam(v) for k, v in params.items()}
    return xslt(etree.ElementTree(copy.deepcopy(source)), **values).getroot()  # type: ignore[arg-type]


class Service(Protocol):
    """One endpoint of the simulator: its routes, and its stored requests as trees for later steps."""

    spec: ServiceSpec

    def routes(self) -> list[BaseRoute]: ...

    def operation(self, record: Record) -> OperationSpec: ...

    def request_tree(self, record: Record) -> etree._Element: ...


class SimulatorCore:
    """The shared state of one simulator. ``wake`` is set by the callback task once it runs."""

    def __init__(self, spec: SimulatorSpec, faults: FaultPlan, store: RecordStore | None = None) -> None:
        self.spec, self.faults = spec, faults
        self.store = store or RecordStore(spec.store)
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.sessions = Sessions()
        self.divergences = Divergences()
        self.wake: Callable[[], None] = lambda: None

    def count(self, key: str, by: int = 1) -> None:
        with self._lock:
            self.counts[key] += by

    def stats(self) -> dict[str, int]:
        with self._lock:
            return self.counts | {"unique": self.store.count()}

    def reset(self) -> None:
        self.store.reset()
        self.sessions.reset()
        self.divergences.reset()
        with self._lock:
            self.counts = dict.fromkeys(COUNTERS, 0)

    def dropped(self, endpoint: str, message_id: str) -> bool:
        """Whether the new record just accepted is to be lost (a planned divergence); if so it is gone."""
        if not self.divergences.take_drop():
            return False
        self.store.forget(endpoint, message_id)
        return True

    def key_xpath(
        self, service: ServiceSpec, op: OperationSpec, extra: Mapping[str, str] | None = None
    ) -> Any:
        """The operation's business-key XPath, compiled to give a string, or None."""
        if op.key is None:
            return None
        return etree.XPath(f"string({op.key})", namespaces={**service.namespaces, **(extra or {})})

    def case_function(
        self, service: ServiceSpec, request_tree: Callable[[Record], etree._Element]
    ) -> dict[tuple[str, str], Any]:
        """``sim:case(key)`` for a lookup operation's answer XSLT (namespace :data:`CASE_NS`): the
        latest case held under ``key`` as ``<sim:case status= sequence= received-at= message-id=>``
        around its stored request (JSON as its XML representation), or nothing. So one lookup can
        answer about several cases (justice's LayKetQua asks about a list of dossiers), with what
        each registration said (the child's name on its result)."""

        def case(_context: object, key: object) -> list[etree._Element]:
            if isinstance(key, list):
                key = key[0].xpath("string()") if key and isinstance(key[0], etree._Element) else ""
            found = self.store.query(RecordFilter(endpoint=service.name, key=str(key).strip()))
            if not found:
                return []
            record = found[-1]
            element = etree.Element(f"{{{CASE_NS}}}case", nsmap={"sim": CASE_NS})
            element.set("status", record.status)
            element.set("sequence", str(record.sequence))
            element.set("received-at", record.received_at)
            element.set("message-id", record.message_id)
            element.append(request_tree(record))
            return [element]

        return {(CASE_NS, "case"): case}

    def lookup_params(self, service: ServiceSpec, key: str) -> dict[str, str | int]:
        """What a lookup operation's answer XSLT gets of the latest case under ``key``."""
        found = self.store.query(RecordFilter(endpoint=service.name, key=key))
        if not found:
            return {"status": "", "message_id": "", "received_at": "", "sequence": 0, "key": key}
        record = found[-1]
        return {
            "status": record.status,
            "message_id": record.message_id,
            "received_at": record.received_at,
            "sequence": record.sequence,
            "key": key,
        }


async def stall_or_cut(request: Request, mode: FaultMode, faults: FaultPlan) -> None:
    """Serve the 'reset' and 'timeout' faults the same for every protocol; the caller answers afterwards
    (a 503 that nobody reads after a reset, or once a stalled caller is still there).

    'reset' aborts the connection with an RST (linger 0); 'timeout' holds the request until the caller
    gives up or ``hang_seconds`` pass. uvicorn's h11 cycle holds the transport; under another server it
    is missing, and on uvloop's loop it is no ``asyncio.Transport`` (``SERVER_LOOP``): 'reset' then
    degrades to the protocol's 503."""
    if mode == "reset" and isinstance(transport := request.scope.get(TRANSPORT_KEY), asyncio.Transport):
        if (sock := transport.get_extra_info("socket")) is not None:  # linger 0: close() sends RST
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(0.01)  # let the server notice, so the response that follows is discarded
    elif mode == "timeout":
        deadline = time.monotonic() + faults.hang_seconds
        while time.monotonic() < deadline and not await request.is_disconnected():
            await asyncio.sleep(0.05)


def retry_after(faults: FaultPlan) -> dict[str, str]:
    remaining = faults.outage_remaining()
    return {"Retry-After": str(int(remaining) + 1)} if remaining else {}
