"""Vietnamese text over real HTTP: NFD stored as NFC, a TCVN3 field the YAML marks converted, an
undecodable one refused naming it (docs/vietnamese-text.md).

Each test reads the SQLite row the hub wrote, as an outsider would, and what the land registry got.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from land_support import LAND_NS
from soap_support import HUB_ENVIRON, LAND, STATUS_ACTION, envelope, fault, post, status_update
from test_rest_intake import assert_problem, body, sample

from lienthong.devtools.samples import HOSO_NS

TCVN3_NAME = b"Nguy\xd4n Th\xde H\xad\xeang"  # "Nguyễn Thị Hường", byte by byte from TCVN 5712:1993
LEGACY_TEXT = {
    "legacy_text": [
        {
            "senders": ["000.00.00.H49"],
            "namespaces": {"h": HOSO_NS},
            "fields": [{"path": "/h:HoSo/h:ChuHoSo", "encoding": "auto"}],
        }
    ]
}


def stored_row(database: Path, message_id: str) -> tuple[bytes, str, dict[str, str]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        payload, digest, headers = conn.execute(
            "SELECT payload, payload_sha256, headers FROM messages JOIN message_payloads ON message_id = id "
            "WHERE id = ?",
            (uuid.UUID(message_id).hex,),
        ).fetchone()
    return payload, digest, json.loads(headers)


def message_rows(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])


def sent_to_registry(hub: Any, message_id: str) -> bytes:
    """The bytes of the SOAP request the land registry answered."""
    [delivery] = hub.hub.store.get_message(uuid.UUID(message_id)).deliveries
    request: bytes = delivery.history[-1].request
    return request


def with_owner(xml: bytes, owner: str) -> bytes:
    start, end = xml.index(b"<ChuHoSo>") + len(b"<ChuHoSo>"), xml.index(b"</ChuHoSo>")
    return xml[:start] + owner.encode("utf-8") + xml[end:]


def test_an_nfd_dossier_is_stored_nfc_and_delivered_nfc(hub_server: Any, land_sim: Any) -> None:
    s = sample(1)
    nfd = unicodedata.normalize("NFD", s.xml.decode()).encode()
    accepted = hub_server.submit(body(nfd, dossier_code=s.dossier_code)).json()
    hub_server.wait(accepted["message_id"])

    payload, digest, headers = stored_row(hub_server.project.database, accepted["message_id"])
    assert payload == s.xml  # the NFC form, which is the sample as generated
    assert digest == hashlib.sha256(s.xml).hexdigest()
    assert headers["text.nfc"] == "normalised"
    request = sent_to_registry(hub_server, accepted["message_id"]).decode("utf-8")
    assert "Hạ Long" in request or "Quảng Ninh" in request
    assert unicodedata.is_normalized("NFC", request)


def test_a_tcvn3_owner_name_marked_in_yaml_is_converted(hub_factory: Any, land_sim: Any) -> None:
    hub = hub_factory()
    hub.project.update("hub.yaml", {"intake": LEGACY_TEXT})
    hub.stop()
    hub = hub_factory(hub.project)
    s = sample(0)
    as_read = TCVN3_NAME.decode("cp1252")  # "NguyÔn ThÞ H\xadêng": how the old system passed it on
    accepted = hub.submit(body(with_owner(s.xml, as_read), dossier_code=s.dossier_code))
    assert accepted.status_code == 202, accepted.text
    hub.wait(accepted.json()["message_id"])

    payload, digest, headers = stored_row(hub.project.database, accepted.json()["message_id"])
    assert payload == with_owner(s.xml, "Nguyễn Thị Hường")
    assert digest == hashlib.sha256(payload).hexdigest()
    assert headers["text.legacy"] == "/h:HoSo/h:ChuHoSo=tcvn3"
    assert "<HoTen>Nguyễn Thị Hường</HoTen>" in sent_to_registry(hub, accepted.json()["message_id"]).decode()


def test_an_undecodable_marked_field_is_refused_naming_it(hub_factory: Any, land_sim: Any) -> None:
    hub = hub_factory()
    hub.project.update("hub.yaml", {"intake": LEGACY_TEXT})
    hub.stop()
    hub = hub_factory(hub.project)
    s = sample(0)
    response = hub.submit(body(with_owner(s.xml, "Nguyen ×÷"), dossier_code=s.dossier_code))

    problem = assert_problem(response, 422, "legacy-text", "Legacy-encoded text not readable")
    assert problem["field"] == "/h:HoSo/h:ChuHoSo"
    assert "/h:HoSo/h:ChuHoSo" in problem["detail"]
    assert set(problem["suspected_encodings"]) == {"tcvn3", "vni", "viscii", "cp1258"}
    assert message_rows(hub.project.database) == 0


# ---------------------------------------------------------------- inbound SOAP


def test_an_nfd_status_update_over_soap_is_stored_nfc(hub_factory: Any) -> None:
    hub = hub_factory(environ=HUB_ENVIRON)
    nfc_body = status_update()
    data = envelope("soap11", unicodedata.normalize("NFD", nfc_body), message_id="dkdd-nfd-1")
    response = post(hub.client, "soap11", data, action=STATUS_ACTION)
    assert response.status_code == 200, response.text

    [message_id] = [m["message_id"] for m in hub.client.get("/api/v1/messages").json()]
    payload, digest, headers = stored_row(hub.project.database, message_id)
    assert "Nguyễn Thị Hương".encode() in payload
    assert unicodedata.is_normalized("NFC", payload.decode())
    assert digest == hashlib.sha256(payload).hexdigest()
    assert headers["text.nfc"] == "normalised"


def test_an_undecodable_marked_field_over_soap_is_a_client_fault_naming_it(hub_factory: Any) -> None:
    hub = hub_factory(environ=HUB_ENVIRON)
    rules = [{"senders": [LAND], "namespaces": {"dd": LAND_NS}, "fields": [{"path": "//dd:HoTen"}]}]
    hub.project.update("hub.yaml", {"intake": {"legacy_text": rules}})
    hub.stop()
    hub = hub_factory(hub.project, environ=HUB_ENVIRON)
    data = envelope("soap11", status_update().replace("Nguyễn Thị Hương", "Nguyen ×÷"), message_id="dkdd-x")
    response = post(hub.client, "soap11", data, action=STATUS_ACTION)

    assert response.status_code == 500, response.text
    refused = fault(response)
    assert refused.code == "Client"
    assert "/dd:CapNhatTrangThaiHoSo/dd:CanBoXuLy/dd:HoTen" in refused.reason
    assert message_rows(hub.project.database) == 0
