"""The addresses the hub gives out for itself never come from the request's Host header.

A WSDL is fetched by a client generator and then trusted: if a forged Host header could set its
``soap:address``, the next system built from it would send its credentials and citizens' data to
whoever forged it. The same holds for the status link a submission is answered with.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from lxml import etree

from lienthong.devtools.samples import sample_dossiers

XSD_IMPORT = "{http://www.w3.org/2001/XMLSchema}import"
FORGED = "attacker.example"


def _addresses(wsdl: bytes) -> list[str]:
    root = etree.fromstring(wsdl)
    return [el.get("location") or "" for el in root.iter("{*}address")] + [
        el.get("schemaLocation") or "" for el in root.iter(XSD_IMPORT)
    ]


def test_a_forged_host_header_does_not_move_the_wsdl(hub_factory: Callable[..., Any]) -> None:
    hub = hub_factory()
    response = httpx.get(f"{hub.url}/soap/land?wsdl", headers={"Host": FORGED})
    assert response.status_code == 200
    assert FORGED.encode() not in response.content
    addresses = _addresses(response.content)
    assert len(addresses) == 4
    assert all(a.startswith(f"{hub.url}/soap/land") for a in addresses), addresses


@pytest.mark.parametrize("public_url", ["https://lienthong.quangninh.gov.vn", "https://lgsp.example.vn/hub/"])
def test_the_configured_public_url_is_what_the_wsdl_gives(
    hub_factory: Callable[..., Any], public_url: str
) -> None:
    hub = hub_factory(api={"public_url": public_url})
    response = httpx.get(f"{hub.url}/soap/land?wsdl", headers={"Host": FORGED})
    endpoint = f"{public_url.rstrip('/')}/soap/land"
    assert sorted(_addresses(response.content)) == sorted(
        [endpoint, endpoint, f"{endpoint}?xsd=land/dangkydatdai.xsd", f"{endpoint}?xsd=hub/hub.xsd"]
    )


def test_the_status_link_of_a_submission_ignores_the_host_header(hub_factory: Callable[..., Any]) -> None:
    hub = hub_factory()
    dossier = sample_dossiers(1)[0]
    body = {
        "sender_message_id": f"motcua-{uuid.uuid4()}",
        "kind": "dossier",
        "sender": "000.00.00.H49",
        "procedure_code": dossier.procedure_code,
        "dossier_code": dossier.dossier_code,
        "payload_base64": base64.b64encode(dossier.xml).decode("ascii"),
    }
    response = hub.client.post("/api/v1/messages", json=body, headers={"Host": FORGED})
    assert response.status_code == 202, response.text
    link = response.json()["status_url"]
    assert response.headers["Location"] == link
    assert link == f"{hub.url}/api/v1/messages/{response.json()['message_id']}"
