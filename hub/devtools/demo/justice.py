"""The demo's two justice workflows (docs/workflows.md): civil status and criminal record.

Civil status: the one-stop desk files birth registrations; the hub pushes each to the Ministry of
Justice's civil status service (NhanDKHT, REST/JSON) and syncs it to the national portal; the service
never calls back, so the hub polls LayKetQua on its schedule (docs/polling.md) and routes each result to
the one-stop system. Criminal record: the desk files a request for a criminal record certificate; the
hub sends it over SOAP; the justice system pushes the certificate, a PDF, back to the hub, which hands
it to the one-stop system byte for byte — the table says whether the PDF's SHA-256 at the one-stop
system equals the one justice sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

from rich.console import Console

from lienthong.devtools.demo.stage import PROVINCE, DemoStage, dossier_body
from lienthong.devtools.demo.workflows import all_delivered, trail_table, wait_for_trail
from lienthong.devtools.justice_samples import BIRTH, LLTP, LLTP_NS, birth_dossier, lltp_dossier
from lienthong.store import RouteStatus, TrailEntry
from lienthong.xml import parse_xml

__all__ = ["CivilStatusSection", "CriminalRecordSection"]

STEPS = {
    "HoSo": "dossier filed",
    "": "justice: result (polled)",  # JSON: no root element name
    "TraKetQuaLLTP": "justice: certificate (PDF)",
}


def _result_back(justice: str) -> object:
    def done(entries: list[TrailEntry]) -> bool:
        routed = [e for e in entries if e.route.status is RouteStatus.ROUTED]
        answered = any(e.envelope.sender == justice for e in entries)
        return answered and all(all_delivered(e) for e in routed)

    return done


def _codes(prefix: str, count: int) -> list[str]:
    # Numbers of their own (91nn, 92nn), so the demo's other dossiers of the day never share a code.
    from datetime import datetime, timedelta, timezone

    day = datetime.now(timezone(timedelta(hours=7))).strftime("%y%m%d")
    return [f"{PROVINCE}-{day}-{prefix}{i:02d}" for i in range(1, count + 1)]


@dataclass
class CivilStatusSection:
    count: int = 2
    title: str = "Civil status: birth registrations pushed, results polled, back to the one-stop system"
    adapters: tuple[str, ...] = ("justice", "motcua")
    timeout: float = 30.0
    children: tuple[str, ...] = ("Nguyễn Ngọc Ánh", "Trần Minh Khôi", "Lê Thị Hồng Nhung")

    def run(self, console: Console, stage: DemoStage) -> bool:
        justice = stage.hub.config.adapters["justice"].agency
        done = _result_back(justice)
        codes = _codes("91", self.count)
        console.print(
            f"The one-stop desk files {self.count} birth registrations; the hub pushes them to the civil "
            "status service and polls it for results (it never calls back)."
        )
        for i, code in enumerate(codes):
            xml = birth_dossier(code, child=self.children[i % len(self.children)])
            stage.api.post("/api/v1/messages", json=dossier_body(code, BIRTH, xml)).raise_for_status()
        trails = {code: wait_for_trail(stage, code, done, self.timeout) for code in codes}  # type: ignore[arg-type]
        console.print(trail_table(stage, self.title, trails, STEPS))
        ok_count = sum(bool(done(t)) for t in trails.values())  # type: ignore[operator]
        ok = ok_count == self.count
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(
            f"{mark} {ok_count}/{self.count} birth registrations pushed (NhanDKHT), their results fetched "
            "by polling (LayKetQua) and delivered to the one-stop system"
        )
        return ok


@dataclass
class CriminalRecordSection:
    title: str = "Criminal record: the certificate, a PDF, back to the one-stop system byte for byte"
    adapters: tuple[str, ...] = ("justice", "motcua")
    timeout: float = 30.0
    digests: dict[str, tuple[str, str]] = field(default_factory=dict)

    def run(self, console: Console, stage: DemoStage) -> bool:
        justice = stage.hub.config.adapters["justice"].agency
        done = _result_back(justice)
        [code] = _codes("92", 1)
        stage.api.post(
            "/api/v1/messages", json=dossier_body(code, LLTP, lltp_dossier(code))
        ).raise_for_status()
        entries = wait_for_trail(stage, code, done, self.timeout)  # type: ignore[arg-type]
        console.print(trail_table(stage, self.title, {code: entries}, STEPS))
        sent, received = self._pdf_digests(stage, entries, justice)
        ok = bool(done(entries)) and sent is not None and sent == received  # type: ignore[operator]
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(
            f"{mark} the certificate justice sent (SHA-256 {(sent or '-')[:16]}…) is what the one-stop "
            f"system received ({(received or '-')[:16]}…)"
        )
        return ok

    @staticmethod
    def _pdf_digests(
        stage: DemoStage, entries: list[TrailEntry], justice: str
    ) -> tuple[str | None, str | None]:
        """SHA-256 of the PDF in justice's push, and of the one in the callback the one-stop system got."""
        sent = received = None
        for entry in entries:
            if entry.envelope.sender != justice:
                continue
            record = stage.hub.store.get_message(entry.envelope.message_id)
            pdf = parse_xml(record.envelope.payload).findtext(f".//{{{LLTP_NS}}}NoiDung") or ""
            sent = hashlib.sha256(base64.b64decode(pdf)).hexdigest() if pdf else None
            for d in record.deliveries:
                if d.target == "motcua":
                    callback = json.loads(d.payload)
                    documents = callback.get("DanhSachGiayToKetQua") or []
                    if documents:
                        content = base64.b64decode(documents[0].get("NoiDung", ""))
                        received = hashlib.sha256(content).hexdigest()
        return sent, received
