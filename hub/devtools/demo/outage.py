"""The demo's first part: dossiers sent in bulk while the land registry is down, kept and delivered once
it recovers; a duplicate, an invalid dossier and an unroutable one on the way; the signatures checked.

The registry simulator is down (503) for the first seconds of the run (the stage sets the fault); the
hub accepts every dossier anyway, retries with back-off behind its circuit breaker, and delivers each
once the registry is back. The table shows where each went; the last lines what the registry saw and
whether every payload sent carries a signature a ministry trusting the demo CA would accept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from cryptography import x509
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lienthong.devtools.demo.stage import PROVINCE, DemoStage, dossier_body
from lienthong.devtools.samples import SampleDossier
from lienthong.errors import HubError, SignatureError
from lienthong.store import DeliveryRecord, DeliveryState, Store
from lienthong.trust.keys import DevCa
from lienthong.trust.verify import AgencyPolicy, TrustStore, XmlVerifier
from lienthong.xml import parse_xml

__all__ = ["OUTAGE_ADAPTER", "run_outage", "signature_check"]

OUTAGE_ADAPTER = "land"
REGISTRY_NS = "urn:lienthong:tnmt:dangkydatdai:1"
HOSO_NS = "urn:lienthong:province:hoso:1"


def _verified(payloads: list[bytes], ca: DevCa) -> int:
    """How many payloads verify as a ministry trusting the demo CA for the province would see them."""
    anchor = x509.load_pem_x509_certificate(ca.ca_certificate.read_bytes())
    verifier = XmlVerifier(TrustStore({PROVINCE: AgencyPolicy(anchors=(anchor,))}))
    count = 0
    for payload in payloads:
        try:
            verifier.verify(payload, agency=PROVINCE, expect=lambda root: root)
        except SignatureError:
            continue
        count += 1
    return count


def signature_check(payloads: list[bytes], ca: DevCa, what: str = "payloads sent") -> tuple[bool, str]:
    """The demo's verdict on what it sent, and the line that says it (``what`` names the payloads). A
    tick means every payload was checked and verified: nothing checked (0/0) is a failure, never a pass."""
    verified = _verified(payloads, ca)
    ok = 0 < verified == len(payloads)
    mark = "[green]✓[/]" if ok else "[red]✗[/]"
    return (
        ok,
        f"{mark} {verified}/{len(payloads)} {what} carry an XML signature that verifies against the demo CA",
    )


def text_of(xml: bytes, ns: str, local: str) -> str:
    """The first ``local`` element's text anywhere in ``xml`` ('' when absent or not XML)."""
    try:
        el = parse_xml(xml).find(f".//{{{ns}}}{local}")
    except HubError:
        return ""
    return (el.text or "") if el is not None else ""


def run_outage(
    console: Console, stage: DemoStage, samples: list[SampleDossier], outage_seconds: float
) -> bool:
    """Send ``samples`` through the outage; True when every one was delivered and, when signing, every
    payload sent verifies."""
    api, hub = stage.api, stage.hub
    started = time.monotonic()
    accepted: dict[str, tuple[str, str]] = {}  # hub message id → (dossier code, applicant)
    for s in samples:
        r = api.post("/api/v1/messages", json=dossier_body(s.dossier_code, s.procedure_code, s.xml))
        r.raise_for_status()
        accepted[r.json()["message_id"]] = (s.dossier_code, text_of(s.xml, HOSO_NS, "ChuHoSo"))
    console.print(f"[green]✓[/] {len(samples)} dossiers accepted (HTTP 202) while the registry is down")

    first = samples[0]
    again = api.post(
        "/api/v1/messages", json=dossier_body(first.dossier_code, first.procedure_code, first.xml)
    )
    console.print(
        f"[green]✓[/] resent {first.dossier_code} with the same id: duplicate={again.json()['duplicate']}, "
        "same hub message id, nothing entered twice"
    )
    broken = first.xml.replace(b"<ChuHoSo>", b"<ChuHoSoX>").replace(b"</ChuHoSo>", b"</ChuHoSoX>")
    bad = api.post(
        "/api/v1/messages",
        json=dossier_body("000.00.00.H49-000000-9999", first.procedure_code, broken, "motcua-bad"),
    )
    console.print(f"[yellow]✗[/] an invalid dossier is refused: HTTP {bad.status_code} {bad.json()['title']}")
    other = api.post(
        "/api/v1/messages",
        json=dossier_body(
            f"{PROVINCE}-000000-0001", "2.000488", first.xml, sender_message_id=f"motcua-{uuid.uuid4()}"
        ),
    ).json()
    console.print(
        f"[yellow]?[/] a dossier for a procedure with no route is kept as '{other['route']['status']}'"
        f" (message {other['message_id']}); fix routes.yaml, then 'hub replay --unroutable'\n"
    )

    ids = [uuid.UUID(m) for m in accepted]
    _wait_for_deliveries(console, hub.store, ids, timeout=max(60.0, outage_seconds * 4))
    # Fits 80 columns: light borders, and the applicant's name is the column that wraps.
    table = Table(title=f"Hồ sơ đã chuyển / what went where (→ {OUTAGE_ADAPTER})", box=box.SIMPLE_HEAD)
    table.add_column("dossier (mã hồ sơ)", no_wrap=True)
    table.add_column("applicant (chủ hồ sơ)", ratio=1, min_width=12)
    for column in ("state", "tries", "registry case"):
        table.add_column(column, no_wrap=True)
    delivered = 0
    for message_id, (code, applicant) in accepted.items():
        record = hub.store.get_message(uuid.UUID(message_id))
        for d in _to_registry(record.deliveries):
            delivered += d.state is DeliveryState.DELIVERED
            case = text_of(d.response, REGISTRY_NS, "MaHoSoDatDai") if d.response else ""
            colour = "green" if d.state is DeliveryState.DELIVERED else "red"
            table.add_row(code, applicant, f"[{colour}]{d.state.value}[/]", str(d.attempts), case)
    console.print(table)
    registry = stage.simulators[OUTAGE_ADAPTER].control
    stats = registry.get("/_sim/stats").json()
    taken = registry.get("/_sim/records", params={"operation": "TiepNhanHoSo"}).json()
    console.print(
        f"delivered {delivered}/{len(accepted)} in {time.monotonic() - started:.1f}s · the registry took "
        f"{len(taken)} dossiers in, answered {stats['duplicates']} duplicates with its first answer, and "
        f"refused {stats['faults_served']} calls during the outage"
    )
    signatures_ok = True
    if (ca := stage.ca) is not None:
        sent = [
            d.payload for m in accepted for d in _to_registry(hub.store.get_message(uuid.UUID(m)).deliveries)
        ]
        signatures_ok, line = signature_check(sent, ca)
        console.print(f"{line} ({ca.ca_certificate.relative_to(stage.root)})")
    return delivered == len(accepted) and signatures_ok


def _to_registry(deliveries: Sequence[DeliveryRecord]) -> list[DeliveryRecord]:
    """The deliveries to the registry whose outage this part shows (a dossier also goes to the portal)."""
    return [d for d in deliveries if d.target == OUTAGE_ADAPTER]


def _wait_for_deliveries(console: Console, store: Store, messages: list[uuid.UUID], timeout: float) -> None:
    """Until every delivery of ``messages`` to the registry is delivered or dead (the registry's other
    traffic, the workflow's, is not counted, nor the same dossiers' sync to the national portal), with
    a progress bar."""
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("delivering to the land registry", total=len(messages))
        while time.monotonic() < deadline:
            states = [d.state for m in messages for d in _to_registry(store.get_message(m).deliveries)]
            done = sum(s in (DeliveryState.DELIVERED, DeliveryState.DEAD) for s in states)
            retrying = sum(s is DeliveryState.FAILED for s in states)
            progress.update(
                task,
                completed=done,
                description=f"delivering to the land registry ({retrying} waiting to retry)",
            )
            if done >= len(messages):
                return
            time.sleep(0.25)
