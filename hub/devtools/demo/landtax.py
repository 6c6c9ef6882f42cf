"""The demo's land ↔ tax workflow (docs/workflows.md): a few dossiers entered once at the one-stop desk,
carried through the land registry and the tax authority by the simulators themselves.

The demo plays only the one-stop system. It files each dossier; the land registry simulator takes it,
pushes its status and then the cadastral information transfer form; the hub routes the form to the
tax authority simulator, which pushes its tax notices; the hub gives them to the registry. Then the
citizen pays what the notices say and the one-stop system sends the payment receipt once; the hub gives
it to tax and land, and the registry pushes its result: the certificate issued.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

from rich.console import Console

from lienthong.devtools.demo.stage import PROVINCE, DemoStage, dossier_body
from lienthong.devtools.demo.workflows import all_delivered, root_name, trail_table, wait_for_trail
from lienthong.devtools.samples import SampleDossier
from lienthong.store import RouteStatus, TrailEntry
from lienthong.xml import parse_xml

__all__ = ["LandTaxSection"]

HOSO_NS = "urn:lienthong:province:hoso:1"
VN = timezone(timedelta(hours=7))
#: What each message of the workflow is, by its root element.
STEPS = {
    "HoSo": "dossier filed",
    "CapNhatTrangThaiHoSo": "land: status update",
    "PhieuChuyenThongTinDiaChinh": "land: transfer form",
    "DATA": "tax: tax notices",
    "BienLaiThanhToan": "payment receipt",
    "TraKetQuaHoSo": "land: result",
}


@dataclass
class LandTaxSection:
    samples: list[SampleDossier]
    title: str = "Land ↔ tax: one dossier entered once, carried by the ministries"
    adapters: tuple[str, ...] = ("land", "tax")
    timeout: float = 30.0
    paid: dict[str, int] = field(default_factory=dict)  # dossier code → amount paid

    def run(self, console: Console, stage: DemoStage) -> bool:
        land = stage.hub.config.adapters["land"].agency
        tax = stage.hub.config.adapters["tax"].agency

        def notices_at_land(entries: list[TrailEntry]) -> bool:
            return any(e.envelope.sender == tax and all_delivered(e) for e in entries)

        def result_back(entries: list[TrailEntry]) -> bool:
            routed = [e for e in entries if e.route.status is RouteStatus.ROUTED]
            has_result = any(
                e.envelope.sender == land and root_name(stage, e) == "TraKetQuaHoSo" for e in entries
            )
            return has_result and all(all_delivered(e) for e in routed)

        console.print(
            f"The one-stop desk files {len(self.samples)} land-transfer dossiers; the registry and the tax "
            "authority do the rest by themselves, and the desk sends the payment receipt once the tax "
            "notices are out."
        )
        for s in self.samples:
            stage.api.post(
                "/api/v1/messages", json=dossier_body(s.dossier_code, s.procedure_code, s.xml)
            ).raise_for_status()
        trails: dict[str, list[TrailEntry]] = {}
        for s in self.samples:
            entries = wait_for_trail(stage, s.dossier_code, notices_at_land, self.timeout)
            notices = [e for e in entries if e.envelope.sender == tax and all_delivered(e)]
            if notices:
                self._pay(stage, s.dossier_code, notices[0])
        for s in self.samples:
            trails[s.dossier_code] = wait_for_trail(stage, s.dossier_code, result_back, self.timeout)
        console.print(trail_table(stage, self.title, trails, STEPS))
        done = sum(result_back(entries) for entries in trails.values())
        ok = done == len(self.samples)
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(
            f"{mark} {done}/{len(self.samples)} dossiers from filing to certificate, each entered once; "
            f"paid {sum(self.paid.values()):,} đồng of tax notices in all"
        )
        if any(e.route.status is RouteStatus.UNROUTABLE for t in trails.values() for e in t):
            console.print(
                "  [yellow]unroutable[/]: kept in the store, no route sends it anywhere yet (the one-stop "
                "system's adapter will take status updates and results)"
            )
        return ok

    def _pay(self, stage: DemoStage, code: str, notices: TrailEntry) -> None:
        """The citizen pays the total of the notices; the one-stop system sends the receipt once."""
        data = parse_xml(stage.hub.store.get_message(notices.envelope.message_id).envelope.payload)
        rows = data.findall("BODY/ROW_LIST/LIST")
        if not rows:  # the inbound schema requires one; a section never trusts that blindly
            return
        total = sum(int(row.findtext("SO_TIEN") or 0) for row in rows)
        payer, tax_code = (escape(rows[0].findtext(f) or "") for f in ("TEN_NNT", "MA_SO_THUE"))
        receipt = (
            f'<BienLaiThanhToan xmlns="{HOSO_NS}"><MaHoSo>{escape(code)}</MaHoSo>'
            f"<MaSoThue>{tax_code}</MaSoThue><SoTien>{total}</SoTien>"
            f"<ThoiGianThanhToan>{datetime.now(VN):%Y%m%d%H%M%S}</ThoiGianThanhToan>"
            f"<HoTenNguoiNop>{payer}</HoTenNguoiNop></BienLaiThanhToan>"
        ).encode()
        body = {
            "sender_message_id": f"motcua-bienlai-{code}",
            "kind": "document",
            "sender": PROVINCE,
            "dossier_code": code,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(receipt).decode("ascii"),
        }
        stage.api.post("/api/v1/messages", json=body).raise_for_status()
        self.paid[code] = total
