"""Official documents end to end with both simulators over real HTTP (``hub simulate vpcp`` and ``hub simulate
qlvb`` as the shipped adapters declare them), development keys from one dev CA, and a hub on loopback.

* The province's document system hands the hub a document for two ministries; the hub signs it (policy
  edxml) and sends it to the axis; the ministries answer 01 → 03 → 05 → 06, signed; the hub fetches
  each status package, verifies it under that ministry's trust and delivers it to QLVB.
* A ministry sends the province a signed document through the axis; the hub fetches it, verifies it,
  answers 01 back to that ministry, delivers the document to QLVB and confirms it done on the axis;
  QLVB's own 03 → 05 → 06 go back to the ministry through the hub and the axis.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axis_support import PROVINCE, province_document
from edxml_world import FINANCE, HOME, World, edxml_world
from signxml.verifier import XMLVerifier
from support import wait_until


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with edxml_world(tmp_path, monkeypatch) as made:
        yield made


def test_a_province_document_is_signed_sent_and_both_ministries_answers_reach_qlvb(world: World) -> None:
    body = {
        "sender_message_id": "qlvb-2026-125",
        "kind": "document",
        "sender": PROVINCE,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(province_document(to=(FINANCE, HOME))).decode("ascii"),
    }
    response = world.client.post("/api/v1/messages", json=body)
    assert response.status_code == 202, response.text

    # On the axis, for both ministries: the document as the hub signed it (ds:Signature, RSA-SHA256).
    [sent] = wait_until(
        lambda: world.mailbox(world.axis, FINANCE), timeout=30, what="the document on the axis"
    )
    assert sent["from"] == PROVINCE and set(sent["to"].split(",")) == {FINANCE, HOME}
    signed = world.body(world.axis, sent["docId"])
    XMLVerifier().verify(signed, x509_cert=world.ca.hub_certificate.read_text())
    assert b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" in signed

    # Each ministry's 01 → 03 → 05 → 06 reaches QLVB, fetched from the axis and verified on the way.
    def answers() -> dict[str, list[str]] | None:
        got = {m: world.status_codes(world.qlvb, PROVINCE, m) for m in (FINANCE, HOME)}
        return got if all(len(codes) == 4 for codes in got.values()) else None

    got = wait_until(answers, timeout=60, what="four status packages from each ministry in QLVB")
    assert got == {FINANCE: ["01", "03", "05", "06"], HOME: ["01", "03", "05", "06"]}
    # Every status package the axis held for the province was confirmed done.
    wait_until(
        lambda: not [m for m in world.mailbox(world.axis, PROVINCE) if m.get("status") not in ("done",)],
        timeout=30,
        what="every package confirmed on the axis",
    )


def test_a_ministry_document_is_answered_01_delivered_to_qlvb_and_qlvb_answers_reach_the_ministry(
    world: World,
) -> None:
    injected = httpx.post(
        f"{world.axis.base_url}/_sim/inject",
        json={
            "from": FINANCE,
            "to": [PROVINCE],
            "subject": "V/v quyết toán ngân sách năm 2026",
            "code_number": "15",
            "code_notation": "BTC-NSNN",
            "promulgation_date": "2026-11-20",
        },
        timeout=10,
    )
    assert injected.status_code == 201, injected.text
    assert injected.json()["signed"] is True

    # QLVB gets the ministry's document, as the ministry signed it.
    [record] = wait_until(
        lambda: [m for m in world.mailbox(world.qlvb, PROVINCE) if m["messageType"] == "edoc"],
        timeout=30,
        what="the document in QLVB",
    )
    delivered = world.body(world.qlvb, record["docId"])
    XMLVerifier().verify(delivered, x509_cert=world.ca.agencies[FINANCE][0].read_text())
    # The ministry hears 01 from the hub at once, then QLVB's own 03 → 05 → 06, all through the axis.
    wait_until(
        lambda: world.status_codes(world.axis, FINANCE, PROVINCE) == ["01", "03", "05", "06"],
        timeout=60,
        what="01, 03, 05, 06 from the province in the ministry's mailbox",
    )
    [received] = [m for m in world.mailbox(world.axis, PROVINCE) if m["messageType"] == "edoc"]
    wait_until(
        lambda: (
            {m["docId"]: m.get("status") for m in world.mailbox(world.axis, PROVINCE)}[received["docId"]]
            == "done"
        ),
        timeout=30,
        what="the document confirmed done on the axis",
    )
    for status in [m for m in world.mailbox(world.axis, FINANCE) if m["messageType"] == "status"]:
        XMLVerifier().verify(
            world.body(world.axis, status["docId"]), x509_cert=world.ca.hub_certificate.read_text()
        )
