"""Rendering a notice's text from the templates in hub.yaml's ``notify.templates`` (Jinja2).

Templates run in Jinja2's sandbox with undefined names an error, never an empty string: a template
that names a field the hub does not give fails its first notice loudly (refused, in the log and in
``notice_checks``), instead of telling citizens half a sentence. The names a template may use are
:func:`context`'s keys, listed in docs/notify.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from lienthong.notify.notice import STATUS_NAMES

HOSO_NS = "urn:lienthong:province:hoso:1"
_STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$")


@dataclass(frozen=True)
class Contact:
    """What the dossier says about the citizen."""

    name: str | None
    email: str | None
    phone: str | None
    procedure_name: str | None
    due: str | None  # NgayHenTra, yyyyMMddHHmmss


def contact(dossier: etree._Element) -> Contact:
    def text(name: str) -> str | None:
        value = dossier.findtext(f"{{{HOSO_NS}}}{name}")
        return value.strip() or None if value is not None else None

    phone = text("SoDienThoai")
    return Contact(
        name=text("ChuHoSo"),
        email=text("Email"),
        phone=re.sub(r"[ .\-]", "", phone) if phone else None,
        procedure_name=text("TenTTHC"),
        due=text("NgayHenTra"),
    )


def display_time(stamp: object) -> str | None:
    """``yyyyMMddHHmmss`` (Vietnam time, as the one-stop system exchanges it) as ``dd/MM/yyyy HH:mm``."""
    match = _STAMP.match(str(stamp or "").strip())
    if match is None:
        return None
    year, month, day, hour, minute, _ = match.groups()
    return f"{day}/{month}/{year} {hour}:{minute}"


def context(
    report: Mapping[str, Any], who: Contact, dossier_code: str, procedure_code: str | None
) -> dict[str, Any]:
    status = str(report.get("TrangThaiHoSo", "")).strip()
    papers = report.get("DanhSachGiayToKetQua")
    return {
        "ma_ho_so": dossier_code,
        "trang_thai": status,
        "ten_trang_thai": STATUS_NAMES.get(status, status),
        "chu_ho_so": who.name or "",
        "ten_thu_tuc": who.procedure_name or "",
        "ma_thu_tuc": procedure_code or "",
        "don_vi_xu_ly": str(report.get("TenDonViXuLy") or report.get("DonViXuLy") or ""),
        "noi_dung_xu_ly": str(report.get("NoiDungXuLy") or ""),
        "thoi_diem_xu_ly": display_time(report.get("ThoiDiemXuLy")) or "",
        "ngay_hen_tra": display_time(report.get("NgayHenTraMoi") or who.due) or "",
        "giay_to_ket_qua": [
            str(p.get("TenGiayTo")) for p in papers if isinstance(p, dict) and p.get("TenGiayTo")
        ]
        if isinstance(papers, list)
        else [],
    }


class Renderer:
    """Compiles each template text once."""

    def __init__(self) -> None:
        from jinja2 import StrictUndefined  # loaded only by a hub that notifies
        from jinja2.sandbox import SandboxedEnvironment

        self._env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self._cache: dict[str, Any] = {}

    def render(self, source: str, values: Mapping[str, Any]) -> str:
        template = self._cache.get(source)
        if template is None:
            template = self._cache[source] = self._env.from_string(source)
        return str(template.render(values)).strip()
