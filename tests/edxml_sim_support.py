"""The edXML simulators for the tests: the fixture adapters (tests/fixtures/edxml-sim) loaded as
``hub simulate`` loads them, a client speaking the axis protocol, and edXML documents to send."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import httpx
from lxml import etree
from ruamel.yaml import YAML
from sim_support import project

from lienthong.devtools.simulator.axis import EdxmlSimSpec, edxml_simulator_spec
from lienthong.edxml.build import build_document
from lienthong.edxml.model import Business, Organ, ResponseFor
from lienthong.xml import EDXML_NS, XMLDSIG_NS, parse_xml

ROOT: Final = Path(__file__).resolve().parents[1]
FIXTURE: Final = ROOT / "tests" / "fixtures" / "edxml-sim" / "config"
PROVINCE: Final = "000.00.00.H49"
FINANCE: Final = "000.00.00.G06"  # answers 01 03 05 06, agrees to changes
HOME: Final = "000.00.00.G09"  # answers 01 03 05 06, refuses changes
OTHER: Final = "000.00.00.G11"  # not simulated: a mailbox only
AXIS_KEY: Final = "axis-test-key"
QLVB_CALLER_KEY: Final = "qlvb-caller-key"
QLVB_KEY: Final = "qlvb-to-hub-key"
ENV: Final = {
    "VPCP_SIM_API_KEY": AXIS_KEY,
    "QLVB_SIM_CALLER_KEY": QLVB_CALLER_KEY,
    "QLVB_SIM_API_KEY": QLVB_KEY,
}
NS: Final = {"ed": EDXML_NS, "ds": XMLDSIG_NS}


def fixture_adapter(name: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe", pure=True).load(
        (FIXTURE / "adapters" / f"{name}.yaml").read_text("utf-8")
    )
    return data


def sim_spec(tmp_path: Path, name: str, *, hub_url: str | None = None, **changes: Any) -> EdxmlSimSpec:
    """The fixture adapter's simulator with ``changes`` to its ``simulator:`` section."""
    adapter = fixture_adapter(name)
    adapter["simulator"] = adapter["simulator"] | changes
    config = project(tmp_path / f"project-{name}", adapter, environ=ENV)
    return edxml_simulator_spec(config, name, environ=ENV, hub_url=hub_url)


def document(
    sender: str = PROVINCE,
    recipients: tuple[str, ...] = (FINANCE,),
    *,
    number: str = "101",
    business: Business | None = None,
    response_for: tuple[ResponseFor, ...] = (),
) -> bytes:
    root = build_document(
        sender=Organ(sender, name="UBND tỉnh Quảng Ninh"),
        recipients=[Organ(r) for r in recipients],
        code_number=number,
        code_notation="UBND-VP",
        subject="V/v thử nghiệm liên thông văn bản",
        business=business,
        response_for=response_for,
    )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def document_id(body: bytes) -> str:
    found = parse_xml(body).findtext(
        "ed:edXMLEnvelope/ed:edXMLHeader/ed:MessageHeader/ed:DocumentId", namespaces=NS
    )
    assert found
    return found


class AxisClient:
    """The axis protocol over HTTP: parameters in headers, ``{status, ErrorCode, …}`` answers."""

    def __init__(self, base: str, key: str | None = AXIS_KEY) -> None:
        self.http = httpx.Client(base_url=base, timeout=10, headers={"X-API-Key": key} if key else {})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AxisClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        body: bytes,
        *,
        sender: str = PROVINCE,
        to: str = FINANCE,
        messagetype: str = "edoc",
        hash_file: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {
            "from": sender,
            "to": to,
            "servicetype": "eDoc",
            "messagetype": messagetype,
            "hash-file": hash_file if hash_file is not None else hashlib.sha256(body).hexdigest(),
            "Content-Type": "application/xml",
            **(extra or {}),
        }
        return self.http.post("/sendEdoc", content=body, headers=headers)

    def pending(self, agency: str, messagetype: str | None = None) -> list[dict[str, Any]]:
        headers = {"from": agency, "servicetype": "eDoc"} | (
            {"messagetype": messagetype} if messagetype else {}
        )
        answer = self.http.post("/getReceivedEdocList", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "OK"
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    def get(self, doc_id: str, agency: str) -> httpx.Response:
        return self.http.post("/getEdoc", headers={"docId": doc_id, "from": agency})

    def fetch(self, doc_id: str, agency: str) -> bytes:
        answer = self.get(doc_id, agency)
        assert answer.status_code == 200, answer.text
        return base64.b64decode(answer.json()["data"])

    def update(self, doc_id: str, agency: str, status: str) -> httpx.Response:
        return self.http.post("/updateStatus", headers={"docId": doc_id, "from": agency, "status": status})
