"""``hub edxml inspect FILE``: an edXML document's header as a person reads it, for IT staff and auditors
on their own — no hub configuration, no database, nothing sent anywhere.

The file is read exactly as intake reads it (:func:`~lienthong.edxml.read.read_edxml`: the hardened
parser, the tolerant reader, the same quirks and the same refusals), and its signature is judged offline
by :func:`lienthong.trust.verdict.signature_verdict`: cryptographically, against the certificate it
carries, never against trust anchors (``hub verify`` does that, with the hub's configuration).

Two renderings of one :class:`Inspection`: text for people (labels in Vietnamese and English) and a
stable JSON object for scripts (``--json``, format ``edxml-inspect/1``, described in docs/edxml.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final

from lxml import etree

from lienthong.edxml.model import Attachment, EdxmlMessage, Organ
from lienthong.edxml.names import BUSINESS_DOC_TYPES, STATUS_CODES
from lienthong.edxml.read import parse_edxml, read_edxml
from lienthong.errors import EdxmlError
from lienthong.xml import XmlLimits

#: The largest file inspected: the default api.max_document_size (72 MiB, room for 50 MiB of
#: attachments in base64). The command needs no configuration, so it does not read the setting.
INSPECT_MAX_BYTES: Final = 72 * 1024 * 1024

__all__ = ["FORMAT", "Inspection", "Related", "human_size", "inspect_file", "render_json", "render_text"]

#: The ``format`` of the JSON object; a change that removes or renames a key gets a new one.
FORMAT: Final = "edxml-inspect/1"

#: What a verdict state means, for people.
_VERDICTS: Final = {
    "valid": "hợp lệ / valid",
    "valid-untrusted": (
        "hợp lệ về mật mã, chưa đối chiếu chứng thư tin cậy / cryptographically valid against the "
        "certificate it carries; not checked against any trust anchor"
    ),
    "invalid": "không hợp lệ / invalid",
    "unverifiable": "không kiểm tra được / unverifiable",
    "unsigned": "không có chữ ký số / unsigned",
}
_LABEL_WIDTH: Final = 36


@dataclass(frozen=True)
class Related:
    """An earlier document this one is about, and how: ``answers`` (ResponseFor), ``revokes``,
    ``updates`` (Bussiness/DocumentId) or ``replaces`` (ReplacementInfo, for the agencies listed)."""

    relation: str
    document_id: str
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignatureReport:
    state: str
    reason: str | None
    message: str | None
    algorithm: str | None
    signer_subject: str | None


@dataclass(frozen=True)
class Inspection:
    """One file, read: the message and its signature's verdict, or why it was refused."""

    file: str
    message: EdxmlMessage | None = None
    signature: SignatureReport | None = None
    error: EdxmlError | None = None

    @property
    def readable(self) -> bool:
        return self.message is not None


def inspect_file(path: Path) -> Inspection:
    """Read ``path`` as intake would; a refusal is part of the answer, not an exception."""
    data = path.read_bytes()
    try:
        # As the hub takes an official document as raw XML: up to api.max_document_size by default,
        # base64 attachments in text nodes beyond libxml2's usual 10 MB cap.
        root = parse_edxml(data, source=path.name, limits=XmlLimits.for_documents(INSPECT_MAX_BYTES))
        message = read_edxml(root, source=path.name)
    except EdxmlError as exc:
        return Inspection(file=str(path), error=exc)
    return Inspection(file=str(path), message=message, signature=_signature(root))


def _signature(root: etree._Element) -> SignatureReport:
    from lienthong.trust.verdict import signature_verdict

    verdict = signature_verdict(root)
    return SignatureReport(
        state=verdict.state,
        reason=verdict.reason,
        message=verdict.message,
        algorithm=verdict.algorithm,
        signer_subject=verdict.signer_subject,
    )


def related(message: EdxmlMessage) -> tuple[Related, ...]:
    """The earlier documents ``message`` is about, each with how."""
    found = [Related("answers", rf.document_id) for rf in message.response_for if rf.document_id]
    business = message.business
    if business is not None:
        if business.doc_type in ("1", "2") and business.document_id:
            verb = "revokes" if business.doc_type == "1" else "updates"
            found.append(Related(verb, business.document_id))
        if business.doc_type == "3":
            found += [Related("replaces", r.document_id, r.organ_ids) for r in business.replacements]
    return tuple(found)


def human_size(size: int) -> str:
    """``4151`` → ``4.1 KiB (4,151 bytes)``: what a person compares with the file they hold."""
    value, unit = float(size), "B"
    for next_unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    shown = f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
    return f"{shown} ({size:,} bytes)" if unit != "B" else shown


# ---------------------------------------------------------------- JSON


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _organ(organ: Organ) -> dict[str, object]:
    return asdict(organ)


def _attachment(a: Attachment) -> dict[str, object]:
    return {**asdict(a), "size_human": human_size(a.size)}


def as_json(inspection: Inspection) -> dict[str, object]:
    """The stable object ``--json`` prints (keys documented in docs/edxml.md)."""
    out: dict[str, object] = {"format": FORMAT, "file": inspection.file, "readable": inspection.readable}
    if inspection.error is not None:
        error = inspection.error
        out["error"] = {
            "code": error.code,
            "title": {"vi": error.title.vi, "en": error.title.en},
            "message": error.message,
            "line": error.detail.get("line"),
            "column": error.detail.get("column"),
            "element": error.detail.get("element"),
        }
        return out
    m = inspection.message
    assert m is not None and inspection.signature is not None
    business = None
    if m.business is not None:
        vi, en = BUSINESS_DOC_TYPES.get(m.business.doc_type, (None, None))
        business = {**asdict(m.business), "name_vi": vi, "name_en": en}
    status = None
    if m.status is not None:
        vi, en = STATUS_CODES.get(m.status.code, (None, None))
        status = {**asdict(m.status), "meaning_vi": vi, "meaning_en": en}
    written = m.signature
    out |= {
        "message_type": m.message_type,
        "from": _organ(m.sender),
        "to": [_organ(o) for o in m.recipients],
        "document_id": m.document_id,
        "subject_document_id": m.subject_document_id,
        "code": {"number": m.code_number, "notation": m.code_notation},
        "promulgation": {"place": m.promulgation_place, "date": m.promulgation_date},
        "document_type": {"type": m.type_code, "detail": m.type_detail, "name": m.type_name},
        "subject": m.subject,
        "content": m.content,
        "signer": m.signer,
        "due_date": m.due_date,
        "priority": m.priority,
        "steering_type": m.steering_type,
        "business": business,
        "related": [asdict(r) for r in related(m)],
        "response_for": [asdict(rf) for rf in m.response_for],
        "status": status,
        "traces": [asdict(t) for t in m.traces],
        "attachments": [_attachment(a) for a in m.attachments],
        "signature": {
            "algorithm": written.algorithm if written else None,
            "namespace": written.namespace if written else None,
            "certificate_subject": written.certificate_subject if written else None,
            "verdict": asdict(inspection.signature),
        },
        "quirks": [asdict(q) for q in m.quirks],
    }
    return {k: _plain(v) for k, v in out.items()}


def render_json(inspection: Inspection) -> str:
    return json.dumps(as_json(inspection), ensure_ascii=False, indent=2)


# ---------------------------------------------------------------- text


def _row(label: str, value: str | None) -> str:
    return f"  {label:<{_LABEL_WIDTH}} {value if value else '-'}"


def _organ_line(organ: Organ) -> str:
    return "  ".join(p for p in (organ.organ_id, organ.name or organ.in_charge) if p)


def render_text(inspection: Inspection) -> str:
    """The report a person reads; a refused file gives one line saying where and why."""
    if inspection.error is not None:
        return f"refused / bị từ chối: {inspection.error.message}"
    m = inspection.message
    assert m is not None and inspection.signature is not None
    kind = "gói tin trạng thái / status package" if m.message_type == "status" else "văn bản / document"
    lines = [f"{inspection.file}: {kind}", _row("Nơi gửi / From", _organ_line(m.sender))]
    for i, organ in enumerate(m.recipients or (None,)):
        lines.append(_row("Nơi nhận / To" if i == 0 else "", _organ_line(organ) if organ else None))
    if m.message_type == "edoc":
        lines += _document_rows(m)
    else:
        lines += _status_rows(m)
    for i, rel in enumerate(related(m)):
        for_whom = f" (for {', '.join(rel.organ_ids)})" if rel.organ_ids else ""
        lines.append(
            _row("Liên quan / Related" if i == 0 else "", f"{rel.relation} {rel.document_id}{for_whom}")
        )
    lines.append(_row("Tệp đính kèm / Attachments", str(len(m.attachments))))
    for a in m.attachments:
        parts = [a.content_id, a.name or "-", a.content_type or "-", human_size(a.size), f"sha256 {a.sha256}"]
        if not a.referenced:
            parts.append("not in the manifest")
        lines.append(f"      {'  '.join(parts)}")
    lines.append(_row("Chữ ký số / Signature", _verdict_line(inspection.signature)))
    lines.append(_row("Cảnh báo / Warnings", str(len(m.quirks))))
    for q in m.quirks:
        where = f"line {q.line}" if q.line is not None else "-"
        lines.append(f"      {where}  {q.code}: {q.message}")
    return "\n".join(lines)


def _document_rows(m: EdxmlMessage) -> list[str]:
    code = "/".join(p for p in (m.code_number, m.code_notation) if p)
    promulgated = ", ".join(
        p
        for p in (m.promulgation_place, m.promulgation_date.isoformat() if m.promulgation_date else None)
        if p
    )
    doc_type = m.type_name
    if m.type_code is not None:
        doc_type = f"{doc_type or '-'} (Type {m.type_code}, TypeDetail {m.type_detail or '-'})"
    vi, en = BUSINESS_DOC_TYPES.get(m.business_doc_type, ("không rõ", "unknown"))
    return [
        _row("Mã văn bản / Document id", m.document_id),
        _row("Số, ký hiệu / Code", code),
        _row("Ban hành / Promulgated", promulgated),
        _row("Loại văn bản / Type", doc_type),
        _row("Trích yếu / Subject", m.subject),
        _row("Người ký / Signer", m.signer),
        _row("Hạn xử lý / Due", m.due_date.isoformat() if m.due_date else None),
        _row("Nghiệp vụ / Business doc type", f"{m.business_doc_type} {vi} / {en}"),
    ]


def _status_rows(m: EdxmlMessage) -> list[str]:
    assert m.status is not None
    vi, en = STATUS_CODES.get(m.status.code, ("mã không rõ", "unknown code"))
    staff = m.status.staff
    who = ", ".join(p for p in (staff.staff, staff.department) if p) if staff is not None else None
    return [
        _row("Trạng thái / Status", f"{m.status.code} {vi} / {en}"),
        _row("Thời điểm / Time", m.status.timestamp.isoformat(sep=" ") if m.status.timestamp else None),
        _row("Mô tả / Description", m.status.description),
        _row("Cán bộ / Staff", who),
    ]


def _verdict_line(verdict: SignatureReport) -> str:
    text = f"{verdict.state}: {_VERDICTS.get(verdict.state, verdict.state)}"
    if verdict.state in ("valid", "valid-untrusted"):
        return f"{text}; signed by {verdict.signer_subject or 'a bare key'} ({verdict.algorithm})"
    if verdict.state == "unsigned":
        return text
    return f"{text} — {verdict.reason}: {verdict.message}"
