"""Justice's results reach the one-stop system (the shipped motcua adapter's KetQuaHoTich and KetQuaLLTP
operations, routes justice-*-result): a polled civil status result becomes a callback with TrangThaiHoSo
10 and the extract; the criminal record certificate becomes one with the PDF, the same bytes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from justice_support import JUSTICE, LLTP, SAMPLE_PDF, lltp_dossier
from lxml import etree

from lienthong.config.files import load_configuration
from lienthong.config.models import Configuration
from lienthong.envelope import MessageKind, new_envelope
from lienthong.pipeline.prepare import build_preparations, payload_tree
from lienthong.pipeline.route import Router
from lienthong.xml import parse_trusted_file, serialize

ROOT = Path(__file__).resolve().parents[2]
CODE = "000.00.00.H49-261121-0001"


def shipped() -> Configuration:
    return load_configuration(ROOT / "config", environ={})


def answer(payload: bytes, content_type: str) -> tuple[list[str], dict[str, object]]:
    """Route a message from justice with the shipped rules and prepare it for its targets."""
    config = shipped()
    envelope = new_envelope(
        kind=MessageKind.ANSWER,
        sender=JUSTICE,
        sender_message_id="r-1",
        payload=payload,
        content_type=content_type,
        dossier_code=CODE,
    )
    decision = Router(config.routes).decide(envelope, payload_tree(envelope))
    stages = build_preparations(config, only=list(decision.targets))
    prepared = [stages[t].prepare(envelope, None) for t in decision.targets]
    [callback] = [p for p in prepared if p.target == "motcua"]  # the portal's progress step: adapter cases
    return list(decision.targets), {"operation": callback.operation, **json.loads(callback.payload)}


def test_a_polled_civil_status_result_reaches_the_one_stop_system_with_its_extract() -> None:
    result = {
        "maDonVi": "000.00.00.H49",
        "maTinh": "22",
        "module": "LTKS",
        "maHoSoLT": "HT-000001",
        "maHoSoMCDT": CODE,
        "trangThai": "10",
        "thoiGianThucHien": "20261121101500",
        "noiDungXuLy": "Đã đăng ký, trả kết quả",
        "ketQuaXuLy": {
            "soDangKy": "000001",
            "quyenSo": "01/2026",
            "nksHoTen": "Nguyễn Ngọc Ánh",
            "maGiayToKetQua": "TL-000001",
        },
    }
    targets, callback = answer(json.dumps(result, ensure_ascii=False).encode(), "application/json")
    assert targets == ["motcua", "dvcqg"]
    assert callback == {
        "operation": "KetQuaHoTich",
        "MaHoSo": CODE,
        "TrangThaiHoSo": "10",
        "ThoiDiemXuLy": "20261121101500",
        "DonViXuLy": JUSTICE,
        "TenDonViXuLy": "Bộ Tư pháp — hộ tịch",
        "MaHoSoDonViXuLy": "HT-000001",
        "NoiDungXuLy": "Đã đăng ký, trả kết quả",
        "DanhSachGiayToKetQua": [
            {"TenGiayTo": "Trích lục khai sinh", "MaGiayTo": "TL-000001", "SoHieu": "000001/01/2026"}
        ],
    }


def test_the_criminal_record_certificate_reaches_the_one_stop_system_byte_for_byte() -> None:
    # What the LLTP simulator pushes for the sample request: its callback XSLT over the request sent.
    config = shipped()
    request_stages = build_preparations(config, only=["justice"])["justice"]
    dossier = new_envelope(
        kind=MessageKind.DOSSIER,
        sender="000.00.00.H49",
        sender_message_id="d-1",
        payload=lltp_dossier(CODE),
        content_type="application/xml",
        procedure_code=LLTP,
    )
    request = etree.fromstring(request_stages.prepare(dossier, None).payload)
    callback_xslt = etree.XSLT(parse_trusted_file(str(SAMPLE_PDF.parent / "traketqualltp-callback.xsl")))
    pushed = callback_xslt(request, sequence="7", now=etree.XSLT.strparam("2026-11-22T08:00:00+07:00"))
    payload = serialize(pushed.getroot())

    targets, callback = answer(payload, "application/xml")

    assert targets == ["motcua", "dvcqg"]
    assert callback["operation"] == "KetQuaLLTP"
    assert (callback["MaHoSo"], callback["TrangThaiHoSo"], callback["ThoiDiemXuLy"]) == (
        CODE,
        "10",
        "20261122000000",
    )
    assert callback["MaHoSoDonViXuLy"] == "LLTP-000007"
    documents = callback["DanhSachGiayToKetQua"]
    assert isinstance(documents, list)
    [document] = documents
    assert (document["LoaiTep"], document["SoHieu"]) == ("application/pdf", "000007/2026/LLTP")
    assert base64.b64decode(document["NoiDung"]) == SAMPLE_PDF.read_bytes()
