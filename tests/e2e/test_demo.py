"""``hub demo``: the whole story in one command, as a newcomer runs it from a checkout."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

#: What a ministry answers a new document with, as the demo's table names each status.
STEPS = [("01", "arrived"), ("03", "accepted"), ("05", "processing"), ("06", "done")]


@pytest.mark.slow
def test_demo_delivers_every_dossier_through_an_outage_and_carries_every_workflow_and_document(
    hub_cli: Callable[..., subprocess.CompletedProcess[str]], shipped_project: Any
) -> None:
    # Run from a checkout of its own (config/ copied, schemas and mappings linked): var/demo/ lands there.
    checkout = shipped_project.root

    started = time.monotonic()
    result = hub_cli("demo", "--count", "6", "--outage", "2", cwd=checkout, timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert elapsed < 60
    out = result.stdout
    outage, land_tax = out.split("Land ↔ tax", 1)
    land_tax, justice = land_tax.split("Civil status", 1)
    justice, business = justice.split("Business lookup", 1)
    business, documents = business.split("Văn bản điện tử qua trục liên thông (edXML)", 1)
    documents, reconciliation = documents.split("Reconciliation: a status", 1)

    # The bulk part: every dossier through the registry's outage, the refusals, the signatures.
    assert "6 dossiers accepted (HTTP 202) while the registry is down" in outage
    assert "duplicate=True" in outage
    assert "an invalid dossier is refused: HTTP 422" in outage
    assert "kept as 'unroutable'" in outage
    assert "what went where" in outage
    rows = [line for line in outage.splitlines() if re.search(r"H49-\d{6}-\d{4}\s+.*\bdelivered\b", line)]
    assert len(rows) == 6, outage
    assert all(re.search(r"\bDD-\d{4}-\d{6}\b", row) for row in rows), "every row shows the registry case"
    assert "6/6 payloads sent carry an XML signature that verifies" in outage
    assert re.search(r"^delivered 6/6 in [\d.]+s · the registry took 6 dossiers in", outage, re.MULTILINE)
    assert (checkout / "var" / "demo" / "hub.db").is_file()

    # Land ↔ tax: three more dossiers, each step of each in order, ending with the registry's result.
    dossiers = re.split(r"^\s+(000\.00\.00\.H49-\d{6}-\d{4})\s*$", land_tax, flags=re.MULTILINE)[1:]
    codes = dossiers[0::2]
    assert codes == sorted(set(codes)) and len(codes) == 3, land_tax
    assert not set(codes) & {re.split(r"\s+", row.strip())[0] for row in rows}, "not the outage's dossiers"
    for rest in dossiers[1::2]:
        table = re.split(r"\n[ \t]*\n", rest.strip("\n"))[0]  # up to the blank row ending the dossier
        steps = [re.split(r"\s{2,}", line.strip())[:3] for line in table.splitlines() if line.strip()]
        assert [s[0] for s in steps if not s[0].startswith("→")] == [
            "dossier filed",
            "land: status update",
            "land: transfer form",
            "tax: tax notices",
            "payment receipt",
            "land: result",
        ], table
        deliveries = sorted((s[0], s[1], s[2]) for s in steps if s[0].startswith("→"))
        done = "delivered, 1 try"
        assert deliveries == [  # land and tax, and every step back to the one-stop system and the portal
            ("→ CapNhatTienDoHoSoMC", "dvcqg", done),
            ("→ CapNhatTienDoKetQua", "dvcqg", done),
            ("→ CapNhatTienDoThue", "dvcqg", done),
            ("→ CapNhatTrangThai", "motcua", done),
            ("→ DongBoHoSoMC", "dvcqg", done),
            ("→ DongBoKetQuaThue", "land", done),
            ("→ NhanBienLaiThanhToan", "land", done),
            ("→ NhanChungTuNopThue", "tax", done),
            ("→ NhanPhieuChuyenTTDC", "tax", done),
            ("→ ThongBaoThue", "motcua", done),
            ("→ TiepNhanHoSo", "land", done),
            ("→ TraKetQuaDatDai", "motcua", done),
        ], table
        lines = [line for line in table.splitlines() if line.strip()]
        times = [float(t) for t in re.findall(r"\+(\d+\.\d)s\s*$", table, re.MULTILINE)]
        step_times = [
            float(m.group(1))
            for line in lines
            if not line.strip().startswith("→") and (m := re.search(r"\+(\d+\.\d)s\s*$", line))
        ]
        assert len(times) == 18 and step_times == sorted(step_times) and times[-1] < 30
    assert "3/3 dossiers from filing to certificate, each entered once" in land_tax

    # Justice: birth registrations polled back to the one-stop system; the certificate's bytes unchanged.
    assert "2/2 birth registrations pushed (NhanDKHT), their results fetched" in justice, justice
    digests = (
        r"justice sent \(SHA-256 ([0-9a-f]{16})…\) is what the one-stop\s+system received \(([0-9a-f]{16})…\)"
    )
    certificate = re.search(digests, justice)
    assert certificate is not None and certificate.group(1) == certificate.group(2), justice

    # Business lookup: answered, refused without a call, 503 while the registry is down.
    assert re.search(r"5700100256\s+200\s+CÔNG TY CỔ PHẦN", business), business
    assert re.search(r"5700100257\s+422\s+'5700100257' has a\s.*\s0\s", business), business
    assert re.search(r"5700100256-001\s+503\s+business did not", business), business

    _documents_went_through(documents)
    assert "all parts went through" in reconciliation

    # Reconciliation: the registry's lost status push found, and healed through the routes.
    assert re.search(r"H49-\d{6}-\d{4}\s+status-diverged\s+healed", reconciliation), reconciliation
    assert "before none, after ['4']" in re.sub(r"\s+", " ", reconciliation), reconciliation


def _documents_went_through(documents: str) -> None:
    """Official documents through the national axis: each part's rows, in order, its states and verdict."""
    parts = re.split(r"^\s+([123]\. [^\n]*?)\s*$", documents, flags=re.MULTILINE)[1:]
    headings, tables = parts[0::2], [re.split(r"\n[ \t]*\n", t.strip("\n"))[0] for t in parts[1::2]]
    assert [re.sub(r"\s+", " ", h) for h in headings] == [
        "1. QLVB → ministries 125/UBND-VP",
        "2. ministry → QLVB 15/BTC-NSNN",
        "3. QLVB revokes 125/UBND-VP",
    ], documents
    rows = [
        [re.split(r"\s{2,}", line.strip())[:3] for line in t.splitlines() if line.strip()] for t in tables
    ]
    sent, received, revoked = rows
    done = "delivered, 1 try"
    ministries = ["Bộ Nội vụ", "Bộ Tài chính"]
    assert sent[:2] == [["document 125/UBND-VP", "qlvb", "routed"], ["→ sendEdoc", "vpcp", done]], tables[0]
    answers = sorted((r[0], r[1]) for r in sent if re.match(r"0\d ", r[0]))
    assert answers == sorted((f"{c} {n}", m) for c, n in STEPS for m in ministries), tables[0]
    assert [r[1:] for r in sent if r[0] == "→ sendEdoc"][1:] == [["qlvb", done]] * 8, tables[0]
    assert sorted(r[1:] for r in sent if r[0].startswith("⇒")) == [["hub", "done (06)"]] * 2
    assert received == [
        ["document 15/BTC-NSNN", "Bộ Tài chính", "routed"],
        ["→ sendEdoc", "qlvb", done],
        ["01 arrived", "hub", "routed"],
        ["→ sendEdoc", "vpcp", done],
        *[
            row
            for c, n in STEPS[1:]
            for row in ([f"{c} {n}", "qlvb", "routed"], ["→ sendEdoc", "vpcp", done])
        ],
        ["axis: the document confirmed", "vpcp", "done"],
        ["⇒ state with QLVB", "hub", "done (06)"],
    ], tables[1]
    assert revoked[:2] == [
        ["revocation 126/UBND-VP of 125/UBND-VP", "qlvb", "routed"],
        ["→ sendEdoc", "vpcp", done],
    ]
    assert sorted(r[1] for r in revoked if r[0] == "15 change agreed") == ministries, tables[2]
    assert [r[1:] for r in revoked if r[0].startswith("⇒")] == [["hub", "revoked (15)"]] * 2, tables[2]
    verdict = re.sub(r"\s+", " ", documents)
    assert "✓ 1. signed and sent to 2 ministries, answered 01 → 03 → 05 → 06 by each: 8 answers" in verdict
    assert (
        "✓ 2. a ministry's document verified, answered 01 by the hub, delivered to QLVB, confirmed done"
        in verdict
    )
    assert "✓ 3. revocation 126/UBND-VP agreed (15): 125/UBND-VP revoked with 2/2 ministries" in verdict
    assert "✓ 6/6 edXML messages the hub sent the axis carry an XML signature that verifies" in verdict
