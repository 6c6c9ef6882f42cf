"""Land adapter data: the provincial dossier schema, the samples, and the HoSo → TiepNhanHoSo mapping.

No sockets here: these pin down the translation the hub performs before delivery, so that a change
to a schema, the mapping or the samples that breaks the contract with the land registry fails fast.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
import zeep
from land_support import CASES as CASES_DIR
from land_support import HOSO_SCHEMA, LAND_NS, LAND_SCHEMA, LAND_WSDL, MAPPING, SOAP_ACTION
from lxml import etree

from lienthong.devtools.samples import HOSO_NS, SampleDossier, sample_dossiers
from lienthong.xml import XSLT_NS, parse_xml

#: The land cases of this mapping (a HoSo in) with an expected translation (the others are refusals or
#: the land/tax workflow's operations; test_adapter_cases runs them all).
CASES = sorted(
    p
    for p in CASES_DIR.iterdir()
    if (p / "expected.xml").is_file()
    and parse_xml((p / "input.xml").read_bytes()).tag == f"{{{HOSO_NS}}}HoSo"
)
DOSSIER_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}$")

#: lxml-stubs lack DENY_ALL (in lxml since 2.2): XSLTs here may read and write nothing.
DENY_ALL: etree.XSLTAccessControl = cast(Any, etree.XSLTAccessControl).DENY_ALL


def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


HOSO = _schema(HOSO_SCHEMA)
LAND = _schema(LAND_SCHEMA)
MAP = etree.XSLT(etree.parse(str(MAPPING)), access_control=DENY_ALL)
SAMPLES = [
    *sample_dossiers(60, day=date(2026, 11, 21)),
    *sample_dossiers(40, agency="000.00.00.H22", day=date(2026, 2, 28), seed=11),
]


def translate(xml: bytes) -> etree._Element:
    return MAP(parse_xml(xml)).getroot()


def texts(root: etree._Element) -> list[str]:
    return [str(t) for t in root.itertext() if t.strip()]


def c14n(data: bytes | etree._Element) -> bytes:
    """Canonical XML 2.0 without insignificant whitespace: how the hub compares documents."""
    root = parse_xml(data) if isinstance(data, bytes) else data
    # lxml-stubs do not know C14N 2.0's strip_text (lxml 4.4+)
    canonical: bytes = cast(Any, etree).tostring(root, method="c14n2", strip_text=True)
    return canonical


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.dossier_code)
def test_sample_is_a_valid_dossier(sample: SampleDossier) -> None:
    root = parse_xml(sample.xml)
    assert HOSO.validate(root), HOSO.error_log
    assert root.findtext(f"{{{HOSO_NS}}}MaHoSo") == sample.dossier_code
    assert root.findtext(f"{{{HOSO_NS}}}MaTTHC") == sample.procedure_code
    assert DOSSIER_CODE.match(sample.dossier_code)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.dossier_code)
def test_translation_is_a_valid_land_request(sample: SampleDossier) -> None:
    out = translate(sample.xml)
    assert out.tag == f"{{{LAND_NS}}}TiepNhanHoSo"
    assert LAND.validate(out), LAND.error_log
    assert out.findtext(f"{{{LAND_NS}}}SoBienNhan") == sample.dossier_code
    assert out.findtext(f"{{{LAND_NS}}}MaHoSoMotCua") == sample.dossier_code


def test_samples_follow_the_identifier_rules() -> None:
    day = sample_dossiers(25, day=date(2026, 11, 21))
    assert [s.dossier_code for s in day] == [f"000.00.00.H49-261121-{n:04d}" for n in range(1, 26)]
    assert sample_dossiers(25, day=date(2026, 11, 21)) == day  # deterministic
    received = [parse_xml(s.xml).findtext(f"{{{HOSO_NS}}}NgayTiepNhan") or "" for s in day]
    assert received == sorted(received) and all(r.startswith("20261121") for r in received)
    for sample in SAMPLES:
        root = parse_xml(sample.xml)
        number = root.findtext(f"{{{HOSO_NS}}}SoGiayToChuHoSo") or ""
        if root.findtext(f"{{{HOSO_NS}}}LoaiDoiTuong") == "1":
            assert re.fullmatch(r"\d{12}", number)  # CCCD
        else:
            digits = [int(d) for d in number]
            weighted = sum(d * w for d, w in zip(digits, (31, 29, 23, 19, 17, 13, 7, 5, 3), strict=False))
            assert len(digits) == 10 and digits[9] == 10 - weighted % 11  # enterprise code check digit
    with pytest.raises(ValueError):
        sample_dossiers(10_000)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_translates_to_the_expected_request(case: Path) -> None:
    source = (case / "input.xml").read_bytes()
    expected = (case / "expected.xml").read_bytes()
    assert HOSO.validate(parse_xml(source)), HOSO.error_log
    assert LAND.validate(parse_xml(expected)), LAND.error_log
    assert c14n(translate(source)) == c14n(expected)


def test_dates_become_xsd_datetimes_in_vietnam_time() -> None:
    out = translate((CASES_DIR / "transfer-basic" / "input.xml").read_bytes())
    assert out.findtext(f"{{{LAND_NS}}}NgayTiepNhan") == "2026-11-21T08:30:15+07:00"
    assert out.findtext(f"{{{LAND_NS}}}NgayHenTra") == "2026-12-05T16:30:00+07:00"


def test_vietnamese_text_survives_in_nfc() -> None:
    for sample in SAMPLES:
        source = parse_xml(sample.xml)
        assert all(unicodedata.is_normalized("NFC", t) for t in texts(source))
        out = translate(sample.xml)
        assert all(unicodedata.is_normalized("NFC", t) for t in texts(out))
        person = out.find(f"{{{LAND_NS}}}ThongTinNguoiNopDon")
        assert person is not None
        assert person.findtext(f"{{{LAND_NS}}}HoTen") == source.findtext(f"{{{HOSO_NS}}}ChuHoSo")
        assert person.findtext(f"{{{LAND_NS}}}DiaChi") == source.findtext(f"{{{HOSO_NS}}}DiaChiChuHoSo")
        assert out.findtext(f"{{{LAND_NS}}}GhiChu") == source.findtext(f"{{{HOSO_NS}}}TrichYeuHoSo")
    assert any("Quảng Ninh" in t for t in texts(translate(SAMPLES[0].xml)))
    assert len("Quảng Ninh") == 10  # this file itself is NFC


def test_nfd_input_normalised_at_ingress_gives_the_same_request() -> None:
    """The mapping copies code points as they are; NFC at ingress is what makes decomposed input equal."""
    source = (CASES_DIR / "transfer-basic" / "input.xml").read_bytes()
    decomposed = unicodedata.normalize("NFD", source.decode("utf-8")).encode("utf-8")
    assert decomposed != source
    assert c14n(translate(decomposed)) != c14n(translate(source))
    renormalised = unicodedata.normalize("NFC", decomposed.decode("utf-8")).encode("utf-8")
    assert c14n(translate(renormalised)) == c14n(translate(source))


def test_dossier_schema_refuses_bad_identifiers_and_dates() -> None:
    source = (CASES_DIR / "transfer-basic" / "input.xml").read_text("utf-8")
    for bad in (
        source.replace("000.00.00.H49-261121-0001", "H49-261121-0001"),
        source.replace("<NgayTiepNhan>20261121083015", "<NgayTiepNhan>2026-11-21 08:30"),
        source.replace("<LoaiDoiTuong>1", "<LoaiDoiTuong>3"),
        source.replace("<TrangThaiHoSo>2", "<TrangThaiHoSo>11"),
        source.replace("<DienTich>96.5", "<DienTich>-1"),
        source.replace("<MaDonViXuLy>000.20.31.H49", "<MaDonViXuLy>H49.20"),
    ):
        assert bad != source
        assert not HOSO.validate(parse_xml(bad.encode("utf-8")))


def test_dossier_without_parcels_cannot_reach_the_land_registry() -> None:
    root = parse_xml((CASES_DIR / "transfer-basic" / "input.xml").read_bytes())
    for parcel in root.findall(f"{{{HOSO_NS}}}ThongTinThuaDat"):
        root.remove(parcel)
    assert HOSO.validate(root)  # fine for the province: parcels are optional in general
    assert not LAND.validate(MAP(root).getroot())  # but the land registry needs at least one


def test_mapping_is_self_contained() -> None:
    """DENY_ALL already blocks file and network access; also refuse features that would need it."""
    stylesheet = parse_xml(MAPPING.read_bytes())
    assert not stylesheet.findall(f".//{{{XSLT_NS}}}include")
    assert not stylesheet.findall(f".//{{{XSLT_NS}}}import")
    expressions = [v for el in stylesheet.iter() for v in el.attrib.values()]
    assert not [v for v in expressions if "document(" in v or "unparsed-text" in v]
    assert stylesheet.get("extension-element-prefixes") is None


def test_land_wsdl_loads_offline_with_both_bindings() -> None:
    client = zeep.Client(str(LAND_WSDL))  # type: ignore[no-untyped-call]  # zeep is untyped
    ports = client.wsdl.services["DangKyDatDaiService"].ports
    assert set(ports) == {"DangKyDatDaiSoap11", "DangKyDatDaiSoap12"}
    for port in ports.values():
        operation = port.binding.get("TiepNhanHoSo")
        assert operation.soapaction == SOAP_ACTION
        assert operation.input.body.qname == etree.QName(LAND_NS, "TiepNhanHoSo")
        assert port.binding_options["address"] == "http://127.0.0.1:8701/soap/land"
