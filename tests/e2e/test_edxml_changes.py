"""Changes to official documents and the vendor's own bytes, end to end over real HTTP: a hub on loopback,
the axis simulator with its scripted ministries, the province's document system (QLVB) and one dev CA
(tests/e2e/edxml_world.py).

* The province revokes a document it sent to two ministries (BussinessDocType 1, ResponseFor the
  original): both answer 15, QLVB receives both 15s, and the hub's document state says revoked for each.
  xmlsec1 — an implementation independent of the hub's — then verifies every document and status package
  the hub put on the axis, trusting only the dev CA.
* The province replaces another document (BussinessDocType 3, ReplacementInfoList naming the original)
  and one ministry refuses changes: it answers 16, the other 15 — replaced for one, refused (the document
  stays done, last code 16) for the other.
* A vendor SDK sample (../shared/testdata/edxml/edoc_new.edxml), injected on the axis byte for byte for
  the province: its certificate is truncated, so its signature cannot be verified. docs/signing.md
  ("Truncated certificates"): the document is refused whether or not its agency requires signatures —
  a signature that is present but cannot be checked is never passed over. So it is confirmed ``fail`` on
  the axis, nothing reaches QLVB, and the error log names the axis docId and the reason.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from axis_support import PROVINCE
from edxml_world import FINANCE, HOME, World, edxml_world
from support import wait_until

from lienthong.edxml.build import build_document
from lienthong.edxml.model import Business, Organ, Replacement, ResponseFor
from lienthong.xml import serialize

DAY = date(2026, 11, 30)
SAMPLE_SENDER = "000.00.00.A80"  # the sample's From/OrganId


def document(number: str, subject: str, **change: Any) -> bytes:
    """A document of the province to both ministries, in the standard form, unsigned (the hub signs)."""
    root = build_document(
        sender=Organ(PROVINCE, name="UBND tỉnh Quảng Ninh"),
        recipients=[Organ(FINANCE), Organ(HOME)],
        code_number=number,
        code_notation="UBND-VP",
        subject=subject,
        promulgation_date=DAY,
        place="Quảng Ninh",
        **change,
    )
    return serialize(root)


def document_id(number: str) -> str:
    return f"{PROVINCE},{DAY:%Y/%m/%d},{number}/UBND-VP"


def submit(world: World, reference: str, payload: bytes) -> None:
    """QLVB hands the hub a document (JSON envelope, base64)."""
    body = {
        "sender_message_id": reference,
        "kind": "document",
        "sender": PROVINCE,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(payload).decode("ascii"),
    }
    response = world.client.post("/api/v1/messages", json=body)
    assert response.status_code == 202, response.text


def send_and_wait_done(world: World, number: str) -> str:
    """The province sends a new document; both ministries answer 01 → 03 → 05 → 06 (seen by QLVB)."""
    submit(world, f"qlvb-{number}", document(number, "Về việc báo cáo tình hình kinh tế - xã hội năm 2026"))
    wait_until(
        lambda: all(world.status_codes(world.qlvb, PROVINCE, m)[-1:] == ["06"] for m in (FINANCE, HOME)),
        timeout=90,
        what=f"06 from both ministries for document {number} in QLVB",
    )
    return document_id(number)


def states(world: World, doc_id: str) -> dict[str, tuple[str, str | None]]:
    return {s["agency"]: (s["state"], s["code"]) for s in world.document_state(doc_id)["states"]}


def wait_for_states(world: World, doc_id: str, expected: dict[str, tuple[str, str | None]]) -> None:
    """Wait until the hub shows ``expected`` (agency → (state, last code)); else show what it does."""
    shown: list[dict[str, tuple[str, str | None]]] = [{}]

    def reached() -> bool:
        shown[0] = states(world, doc_id)
        return shown[0] == expected

    with contextlib.suppress(AssertionError):  # the assertion below shows the difference
        wait_until(reached, timeout=90, what=f"the states of {doc_id}")
    assert shown[0] == expected


# ------------------------------------------------------------------ revocation, and xmlsec1 over the axis


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with edxml_world(tmp_path, monkeypatch) as made:
        yield made


def test_a_revoked_document_is_revoked_for_both_ministries_and_xmlsec1_verifies_all_the_hub_sent(
    world: World, xmlsec1: str, tmp_path: Path
) -> None:
    original = send_and_wait_done(world, "125")
    revocation = document(
        "126",
        "Về việc thu hồi Công văn số 125/UBND-VP",
        response_for=[ResponseFor(PROVINCE, "125/UBND-VP", f"{DAY:%Y/%m/%d}", original)],
        business=Business(doc_type="1", reason="Văn bản ban hành sai thẩm quyền"),
    )
    submit(world, "qlvb-126", revocation)

    wait_for_states(world, original, {FINANCE: ("revoked", "15"), HOME: ("revoked", "15")})
    shown = world.document_state(original)
    assert {(r["relation"], r["document_id"]) for r in shown["related"]} == {
        ("revoked-by", document_id("126"))
    }
    # QLVB receives each ministry's 15 (after its 01 for the revocation).
    for ministry in (FINANCE, HOME):
        assert world.status_codes(world.qlvb, PROVINCE, ministry)[-2:] == ["01", "15"]

    # A ministry's document, so that the hub also sends status packages: its own 01, then QLVB's 03 → 05 → 06.
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
    wait_until(
        lambda: world.status_codes(world.axis, FINANCE, PROVINCE) == ["01", "03", "05", "06"],
        timeout=90,
        what="01, 03, 05, 06 from the province on the axis",
    )

    # Everything the hub put on the axis: the two documents (to both ministries) and four status packages.
    sent = {
        m["docId"]: m["messageType"]
        for ministry in (FINANCE, HOME)
        for m in world.mailbox(world.axis, ministry)
        if m["from"] == PROVINCE
    }
    assert sorted(sent.values()) == ["edoc", "edoc", "status", "status", "status", "status"]
    for doc_id, message_type in sent.items():
        path = tmp_path / f"axis-{doc_id}.edxml"
        path.write_bytes(world.body(world.axis, doc_id))
        run = subprocess.run(
            [xmlsec1, "--verify", "--trusted-pem", str(world.ca.ca_certificate), "--enabled-reference-uris",
             "empty", str(path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert run.returncode == 0, f"{message_type} {doc_id}: {run.stderr}"
        assert "OK" in run.stderr, run.stderr


# ------------------------------------------------------------------ replacement, one ministry refuses


@pytest.fixture
def refusing_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with edxml_world(tmp_path, monkeypatch, refuse_changes=(HOME,)) as made:
        yield made


def test_a_replacement_refused_by_one_ministry_is_replaced_for_the_other_only(refusing_world: World) -> None:
    world = refusing_world
    original = send_and_wait_done(world, "130")
    replacement = document(
        "131",
        "Về việc báo cáo tình hình kinh tế - xã hội năm 2026 (thay thế)",
        business=Business(
            doc_type="3",
            reason="Sai số liệu tại phụ lục",
            replacements=(Replacement(original, (FINANCE, HOME)),),
        ),
    )
    submit(world, "qlvb-131", replacement)

    # Home refuses (16): the document stays where it was with it, done; Finance agrees (15): replaced.
    wait_for_states(world, original, {FINANCE: ("replaced", "15"), HOME: ("done", "16")})
    shown = world.document_state(original)
    assert {(r["relation"], r["document_id"]) for r in shown["related"]} == {
        ("replaced-by", document_id("131"))
    }
    assert world.status_codes(world.qlvb, PROVINCE, FINANCE)[-1] == "15"
    assert world.status_codes(world.qlvb, PROVINCE, HOME)[-1] == "16"


# ------------------------------------------------------------------ a vendor sample as it is


def inject_sample(world: World, sample: Path) -> str:
    """The sample's exact bytes on the axis, from its own sender to the province."""
    data = sample.read_bytes()
    injected = httpx.post(
        f"{world.axis.base_url}/_sim/inject",
        content=data,
        headers={
            "Content-Type": "application/xml",
            "from": SAMPLE_SENDER,
            "to": PROVINCE,
            "messagetype": "edoc",
        },
        timeout=10,
    )
    assert injected.status_code == 201, injected.text
    doc_id = str(injected.json()["docId"])
    assert world.body(world.axis, doc_id) == data
    return doc_id


def test_a_vendor_sample_is_received_as_is_where_its_sender_need_not_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_dir: Path
) -> None:
    """The vendor SDK's document, its certificate truncated, from an agency whose policy does not require
    signatures: taken as an unsigned document would be (docs/signing.md), delivered to QLVB byte for
    byte, answered 01 by the hub and confirmed done on the axis; the record keeps its quirks."""
    sample = shared_dir / "testdata" / "edxml" / "edoc_new.edxml"
    data = sample.read_bytes()
    assert b"<X509Certificate>MIIFqTCCBJG</X509Certificate>" in data  # the truncated one
    trust = {SAMPLE_SENDER: {"require_signature": False, "legacy_sha1": True}}
    with edxml_world(tmp_path, monkeypatch, trust=trust) as world:
        doc_id = inject_sample(world, sample)

        def in_qlvb() -> list[dict[str, Any]]:  # every message QLVB holds: the sample is not addressed to it
            records: list[dict[str, Any]] = httpx.get(
                f"{world.qlvb.base_url}/_sim/records", timeout=10
            ).json()
            return [m for m in records if m["messageType"] == "edoc"]

        [record] = wait_until(in_qlvb, timeout=60, what="the sample in QLVB")
        assert world.body(world.qlvb, record["docId"]) == data  # as it came, signature and all
        wait_until(
            lambda: world.status_codes(world.axis, SAMPLE_SENDER, PROVINCE)[:1] == ["01"],
            timeout=60,
            what="01 from the province in the sender's mailbox",
        )
        wait_until(
            lambda: (
                next(m for m in world.mailbox(world.axis, PROVINCE) if m["docId"] == doc_id)["status"]
                == "done"
            ),
            timeout=60,
            what="the sample confirmed done on the axis",
        )
        with sqlite3.connect(f"file:{world.project.database}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "select kind, document_id, headers from messages where sender = ?", (SAMPLE_SENDER,)
            ).fetchall()
        [(kind, stored_id, headers)] = rows
        assert (kind, stored_id) == ("document", "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT")  # as written
        quirks = json.loads(headers)["edxml.quirks"].split(",")
        assert {"certificate-unreadable", "signature-unprefixed", "nonconforming-agency-code"} <= set(quirks)


def test_a_vendor_sample_is_refused_where_its_sender_must_sign(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shared_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sample = shared_dir / "testdata" / "edxml" / "edoc_new.edxml"
    assert b"<X509Certificate>MIIFqTCCBJG</X509Certificate>" in sample.read_bytes()  # the truncated one
    trust = {SAMPLE_SENDER: {"require_signature": True, "legacy_sha1": True}}
    world_made = edxml_world(tmp_path, monkeypatch, trust=trust)
    with world_made as world, caplog.at_level(logging.ERROR, "lienthong"):
        doc_id = inject_sample(world, sample)
        wait_until(
            lambda: (
                next(m for m in world.mailbox(world.axis, PROVINCE) if m["docId"] == doc_id)["status"]
                == "fail"
            ),
            timeout=60,
            what="the sample confirmed fail on the axis",
        )
        refusals = [
            r.getMessage()
            for r in caplog.records
            if r.name == "lienthong.axis" and r.levelno == logging.ERROR and doc_id in r.getMessage()
        ]
        assert len(refusals) == 1, refusals
        assert f"from {SAMPLE_SENDER} refused (certificate-unreadable)" in refusals[0]
        assert "truncated" in refusals[0]
        # Nothing reached QLVB, nothing was answered to the sender, nothing was stored.
        assert world.mailbox(world.qlvb, PROVINCE) == []
        assert world.mailbox(world.axis, SAMPLE_SENDER) == []
        with sqlite3.connect(f"file:{world.project.database}?mode=ro", uri=True) as conn:
            stored = conn.execute("select count(*) from messages where sender = ?", (SAMPLE_SENDER,))
            assert stored.fetchone() == (0,)
