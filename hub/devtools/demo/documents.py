"""The demo's official documents (docs/edxml.md): the province's document system (QLVB), two ministries
and the Government Office's national document axis, in edXML, with every answer on the way.

1. QLVB hands the hub an official document for two ministries (``POST /api/v1/messages`` with QLVB's
   key); the hub puts it in the standard form, signs it (policy edxml, RSA-SHA256) and sends it to the
   axis; the axis simulator's ministries answer 01 → 03 → 05 → 06; the hub fetches each answer,
   verifies it under that ministry's trust and delivers it to QLVB.
2. A ministry sends the province a document through the axis (the simulator's ``/_sim/inject``); the
   hub fetches it, verifies it, answers 01 by itself, delivers it to QLVB and confirms it done on the
   axis; QLVB's own 03 → 05 → 06 go back to the ministry through the hub.
3. The province revokes its document with a revocation of its own (BussinessDocType 1, its own number,
   naming the document in ResponseFor and Bussiness); each ministry answers it 15, and the document
   stands revoked with both.

Parts 1 and 2 run at once (the ministries answer while the hub fetches). The table is the documents'
trails (:func:`lienthong.documents.document_trail`: what ``GET /api/v1/documents/{id}`` shows as
history) and, under each part, the state with each agency folded from them
(:func:`lienthong.documents.fold_states`).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import httpx
from lxml import etree
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.devtools.demo.edxml_stage import axis_ministries
from lienthong.devtools.demo.outage import signature_check
from lienthong.devtools.demo.stage import DemoStage
from lienthong.devtools.demo.workflows import all_delivered
from lienthong.documents import AgencyState, document_trail, fold_states
from lienthong.edxml import headers as h
from lienthong.edxml.build import build_document
from lienthong.edxml.model import Business, Organ, ResponseFor
from lienthong.edxml.names import STATUS_CODES
from lienthong.envelope import EnvelopeHeader, MessageKind
from lienthong.intake.callers import API_KEY_HEADER
from lienthong.store import DeliveryState, RouteStatus, TrailEntry

__all__ = ["DocumentAxisSection"]

VN = timezone(timedelta(hours=7))
#: What each ministry answers a new document with, and QLVB's office after the hub's own 01.
ANSWERED = frozenset({"01", "03", "05", "06"})
#: The sender message id prefix of the hub's own status 01 (docs/edxml.md, "Receiving").
HUB_STATUS_01 = "axis-status01:"
#: A small PDF: the attachment's declared type is checked against its first bytes.
REPORT_PDF = b"%PDF-1.4\n% Bao cao tinh hinh kinh te - xa hoi nam 2026\n%%EOF\n"
CHANGES = {"1": "revocation", "2": "update", "3": "replacement"}
#: Status codes whose English name is too long for the table.
SHORT = {"15": "change agreed", "16": "change refused"}


@dataclass(frozen=True)
class _Row:
    step: str
    system: str
    status: str
    at: float | None  # seconds since the part's first message; None: no moment the hub recorded


@dataclass(frozen=True)
class _Part:
    heading: str
    code: str  # the document's number and notation (số, ký hiệu)
    entries: list[TrailEntry]
    states: tuple[AgencyState, ...]
    extra: tuple[_Row, ...] = ()


@dataclass
class DocumentAxisSection:
    title: str = "Văn bản điện tử qua trục liên thông (edXML)"
    #: The axis adapter, then the province's document system.
    adapters: tuple[str, ...] = ("vpcp", "qlvb")
    timeout: float = 30.0
    code: tuple[str, str] = ("125", "UBND-VP")
    #: The revocation's own number and notation: a document of its own, with its own DocumentId.
    revocation_code: tuple[str, str] = ("126", "UBND-VP")

    def run(self, console: Console, stage: DemoStage) -> bool:
        axis, office = self.adapters
        province, names = stage.hub.config.adapters[office].agency, axis_ministries(stage.hub.config)
        ministries = sorted(names)[:2]
        issued = datetime.now(VN).date()
        console.print(
            f"QLVB sends a document to {len(ministries)} ministries through the national axis, a ministry "
            "sends one to the province, and the province revokes its own; the ministries are the axis "
            "simulator's, answering as the real ones do."
        )
        document = self._document(province, ministries, names, issued, revokes=None)
        code = "/".join(self.code)
        document_id = f"{province},{issued:%Y/%m/%d},{code}"
        with _client_as(stage, office) as qlvb:
            _submit(qlvb, province, f"qlvb-{'-'.join(self.code)}-{issued:%Y%m%d}", document)
            incoming_id, axis_doc = _inject(stage, axis, ministries[0], province, issued)

            def answered(entries: list[TrailEntry]) -> bool:
                return all(_codes(entries, m) >= ANSWERED for m in ministries) and _settled(entries)

            sent = _wait(stage, document_id, answered, self.timeout)
            revocation = self._document(province, ministries, names, issued, revokes=document_id)
            _submit(qlvb, province, f"qlvb-thuhoi-{'-'.join(self.code)}-{issued:%Y%m%d}", revocation)

        def received(entries: list[TrailEntry]) -> bool:
            confirmed = _axis_status(stage, axis, province, axis_doc) == "done"
            return confirmed and _codes(entries, province) >= ANSWERED and _settled(entries)

        incoming = _wait(stage, incoming_id, received, self.timeout)

        def revoked(entries: list[TrailEntry]) -> bool:
            states = {s.agency: s.state for s in fold_states(document_id, entries)}
            return all(states.get(m) == "revoked" for m in ministries) and _settled(entries)

        everything = _wait(stage, document_id, revoked, self.timeout)
        seen = {e.envelope.message_id for e in sent}
        later = [e for e in everything if e.envelope.message_id not in seen]
        confirmed = _axis_status(stage, axis, province, axis_doc)
        colour = "green" if confirmed == "done" else "red"
        parts = [
            _Part("1. QLVB → ministries", code, sent, fold_states(document_id, sent)),
            _Part(
                "2. ministry → QLVB",
                _code_of(incoming_id),
                incoming,
                fold_states(incoming_id, incoming),
                (_Row("axis: the document confirmed", axis, f"[{colour}]{confirmed or 'pending'}[/]", None),),
            ),
            _Part("3. QLVB revokes", code, later, fold_states(document_id, everything)),
        ]
        console.print(self._table(province, names, parts))
        went = [answered(sent), received(incoming), revoked(everything)]
        mark = ["[green]✓[/]" if ok else "[red]✗[/]" for ok in went]
        to_qlvb = sum(e.envelope.kind is MessageKind.STATUS and all_delivered(e) for e in sent)
        withdrawn = sum(s.state == "revoked" for s in parts[2].states)
        signing = stage.ca is not None  # --no-sign: nothing signed, nothing required to be
        sent_how, received_how = ("signed and sent", "verified") if signing else ("sent unsigned", "received")
        console.print(
            f"{mark[0]} 1. {sent_how} to {len(ministries)} ministries, answered 01 → 03 → 05 → 06 by "
            f"each: {to_qlvb} answers delivered to QLVB\n"
            f"{mark[1]} 2. a ministry's document {received_how}, answered 01 by the hub, delivered to QLVB, "
            f"confirmed {confirmed or 'pending'} on the axis; QLVB's 03 → 05 → 06 back to the ministry\n"
            f"{mark[2]} 3. revocation {'/'.join(self.revocation_code)} agreed (15): "
            f"{'/'.join(self.code)} revoked with {withdrawn}/{len(ministries)} ministries"
        )
        ok = all(went)
        if stage.ca is not None:
            signed, line = signature_check(
                _sent_by(stage, axis, province, ministries),
                stage.ca,
                what="edXML messages the hub sent the axis",
            )
            console.print(line)
            ok = ok and signed
        return ok

    def _document(
        self,
        province: str,
        ministries: Sequence[str],
        names: Mapping[str, str],
        issued: date,
        revokes: str | None,
    ) -> etree._Element:
        """The province's document for ``ministries``, or its revocation (``revokes``: the revoked
        document's DocumentId, named in ResponseFor and Bussiness; the revocation has a number and so a
        DocumentId of its own)."""
        number, notation = self.revocation_code if revokes else self.code
        return build_document(
            sender=Organ(province, name="UBND tỉnh Quảng Ninh"),
            recipients=[Organ(m, name=names[m]) for m in ministries],
            code_number=number,
            code_notation=notation,
            subject=(
                f"Thu hồi văn bản số {'/'.join(self.code)}"
                if revokes
                else "Về việc báo cáo tình hình kinh tế - xã hội năm 2026"
            ),
            promulgation_date=issued,
            place="Quảng Ninh",
            signer=("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "Nguyễn Văn Hùng"),
            response_for=(
                [ResponseFor(province, "/".join(self.code), f"{issued:%Y/%m/%d}", revokes)] if revokes else []
            ),
            business=(
                Business(doc_type="1", reason="Ban hành chưa đúng thẩm quyền", document_id=revokes)
                if revokes
                else None
            ),
            attachments=[] if revokes else [("bao-cao-kt-xh-2026.pdf", "application/pdf", REPORT_PDF)],
        )

    def _table(self, province: str, names: Mapping[str, str], parts: Sequence[_Part]) -> Table:
        table = Table(title=self.title, box=box.SIMPLE_HEAD)
        table.add_column("step (→ delivered to)", ratio=1, min_width=16)
        for column in ("system", "status"):
            table.add_column(column, no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        for part in parts:
            table.add_row(f"[bold]{escape(part.heading)} {escape(part.code)}[/]", "", "", "")
            start = part.entries[0].envelope.received_at if part.entries else None
            rows = _rows(part.entries, province, names) + list(part.extra)
            for state in part.states:
                at = (state.at - start).total_seconds() if start is not None else None
                colour = "green" if state.state in ("done", "revoked") else "yellow"
                status = f"[{colour}]{state.state}[/]" + (f" ({state.code})" if state.code else "")
                agency = "QLVB" if state.agency == province else names.get(state.agency, state.agency)
                rows.append(_Row(f"⇒ state with {escape(agency)}", "hub", status, at))
            for row in rows:
                table.add_row(row.step, row.system, row.status, "" if row.at is None else f"+{row.at:.1f}s")
            table.add_section()
        return table


def _code_of(document_id: str) -> str:
    """The number and notation a DocumentId ends with (``<OrganId>,<yyyy/MM/dd>,<number>/<notation>``)."""
    return document_id.rsplit(",", 1)[-1]


def _client_as(stage: DemoStage, office: str) -> httpx.Client:
    """A client on the hub's REST intake as the document system: the key its simulator calls the hub
    with (``api_key_env``, made for this run), which the shipped QLVB caller accepts."""
    sim = stage.hub.config.adapters[office].simulator
    key = os.environ.get(sim.api_key_env) if sim is not None and sim.api_key_env else None
    return httpx.Client(base_url=stage.server.url, timeout=30, headers={API_KEY_HEADER: key or stage.api_key})


def _submit(client: httpx.Client, sender: str, sender_message_id: str, root: etree._Element) -> None:
    """Hand the hub an edXML document as QLVB does: the JSON envelope, the document in base64."""
    payload = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    body = {
        "sender_message_id": sender_message_id,
        "kind": "document",
        "sender": sender,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(payload).decode("ascii"),
    }
    client.post("/api/v1/messages", json=body).raise_for_status()


def _inject(stage: DemoStage, axis: str, ministry: str, province: str, issued: date) -> tuple[str, str]:
    """A ministry sends the province a document through the axis: its DocumentId, and the axis's id."""
    answer = stage.simulators[axis].control.post(
        "/_sim/inject",
        json={
            "from": ministry,
            "to": [province],
            "subject": "V/v quyết toán ngân sách nhà nước năm 2026",
            "code_number": "15",
            "code_notation": "BTC-NSNN",
            "promulgation_date": issued.isoformat(),
        },
    )
    answer.raise_for_status()
    held = answer.json()
    return str(held["edxml"]["document_id"]), str(held["docId"])


def _wait(
    stage: DemoStage, document_id: str, done: Callable[[list[TrailEntry]], bool], timeout: float
) -> list[TrailEntry]:
    """The document's trail once ``done`` says so, or as it stands after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        entries = document_trail(stage.hub.store, document_id)
        if done(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


def _codes(entries: Sequence[TrailEntry], agency: str) -> set[str]:
    """The status codes ``agency`` sent about the document, among ``entries``."""
    return {
        e.envelope.headers.get(h.STATUS_CODE, "")
        for e in entries
        if e.envelope.kind is MessageKind.STATUS and e.envelope.headers.get(h.FROM) == agency
    }


def _settled(entries: Sequence[TrailEntry]) -> bool:
    """Every routed message delivered everywhere it goes."""
    return all(all_delivered(e) for e in entries if e.route.status is RouteStatus.ROUTED)


def _axis_status(stage: DemoStage, axis: str, agency: str, doc_id: str) -> str | None:
    """How ``agency`` left a message in its mailbox on the axis (pending, processing, done, fail)."""
    held = stage.simulators[axis].control.get(f"/_sim/mailbox/{agency}").json()
    return next((str(m.get("status")) for m in held if m["docId"] == doc_id), None)


def _sent_by(stage: DemoStage, axis: str, province: str, ministries: Sequence[str]) -> list[bytes]:
    """Every message the province put on the axis for ``ministries``, as the axis holds it."""
    control = stage.simulators[axis].control
    ids = {
        m["docId"]: None
        for agency in ministries
        for m in control.get(f"/_sim/mailbox/{agency}").json()
        if m["from"] == province
    }
    return [control.get(f"/_sim/messages/{doc_id}").content for doc_id in ids]


def _step(env: EnvelopeHeader) -> str:
    """What the message is: a status code and its meaning, a document or a change, by its code."""
    if env.kind is MessageKind.STATUS:
        code = env.headers.get(h.STATUS_CODE, "?")
        return f"{code} {SHORT.get(code) or STATUS_CODES.get(code, (code, code))[1]}"
    change = CHANGES.get(env.headers.get(h.BUSINESS_DOC_TYPE, "0"))
    own = env.headers.get(h.CODE, "")
    if change and env.document_id:  # a change has its own number; the document it changes is its subject
        return f"{change} {own} of {_code_of(env.document_id)}"
    return f"document {own}"


def _system(env: EnvelopeHeader, province: str, names: Mapping[str, str]) -> str:
    """Who sent it: the hub's own 01, QLVB (the province), or the ministry, by name."""
    if env.sender_message_id.startswith(HUB_STATUS_01):
        return "hub"
    sender = env.headers.get(h.FROM) or env.sender
    return "qlvb" if sender == province else names.get(sender, sender)


def _rows(entries: Sequence[TrailEntry], province: str, names: Mapping[str, str]) -> list[_Row]:
    """Each message (in the order the hub received them), then each of its deliveries, with its time
    since the first message."""
    if not entries:
        return []
    start = entries[0].envelope.received_at
    rows: list[_Row] = []
    for entry in entries:
        env = entry.envelope
        routed = "[yellow]unroutable[/] (kept)" if entry.route.status is RouteStatus.UNROUTABLE else "routed"
        at = (env.received_at - start).total_seconds()
        rows.append(_Row(escape(_step(env)), escape(_system(env, province, names)), routed, at))
        for d in entry.deliveries:
            colour = "green" if d.state is DeliveryState.DELIVERED else "red"
            tries = "1 try" if d.attempts == 1 else f"{d.attempts} tries"
            when = (d.delivered_at or d.updated_at) - start
            step = f"  → {escape(d.operation or 'sendEdoc')}"
            rows.append(
                _Row(step, escape(d.target), f"[{colour}]{d.state.value}[/], {tries}", when.total_seconds())
            )
    return rows
