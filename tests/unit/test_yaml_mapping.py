"""Declarative YAML mappings (docs/mappings.md): each feature by what it writes, each mistake by the
file:line it is reported at. No sockets: mappings are files in a temporary folder."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import pytest
from lxml import etree

import lienthong.pipeline.mapping_formats as formats
from lienthong.errors import ConfigError, TranslationError
from lienthong.jsonxml import json_to_tree, tree_to_json
from lienthong.pipeline.mapping_check import check_mapping
from lienthong.pipeline.mapping_formats import DatePattern, NumberFormat, time_zone
from lienthong.pipeline.translate import load_mapper
from lienthong.pipeline.yaml_mapping import YamlMapping
from lienthong.xml import parse_xml, serialize

PARAMS = {
    "message_id": "m-42",
    "sender": "000.00.00.H49",
    "hub_agency": "000.00.00.H49",
    "target_agency": "X",
}
HOSO = """<HoSo xmlns="urn:lienthong:province:hoso:1" loai="ho-so">
  <MaHoSo> 000.00.00.H49-261121-0001 </MaHoSo>
  <LoaiChu>cong-dan</LoaiChu>
  <NgayTiepNhan>20261121083015</NgayTiepNhan>
  <LePhi>1.500.000</LePhi>
  <GhiChu>  </GhiChu>
  <TaiLieu><Ten>Đơn đăng ký</Ten><Ma>DON</Ma></TaiLieu>
  <TaiLieu><Ten>Hợp đồng</Ten></TaiLieu>
</HoSo>""".encode()
SOURCE = 'source: {root: h:HoSo, namespaces: {h: "urn:lienthong:province:hoso:1"}}\n'


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    head = SOURCE if text.startswith(SOURCE) else ""  # the rest is written indented, in the test
    path.write_text(head + textwrap.dedent(text[len(head) :]), encoding="utf-8")
    return path


def run(tmp_path: Path, text: str, source: bytes = HOSO) -> etree._Element:
    return load_mapper(write(tmp_path, text)).apply(parse_xml(source), PARAMS)


def as_json(tmp_path: Path, text: str, source: bytes = HOSO) -> Any:
    return json.loads(tree_to_json(run(tmp_path, text, source)))


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_mapper(path)
    return [str(issue) for issue in caught.value.issues]


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text("utf-8").splitlines(), 1) if needle in line)


# ---------------------------------------------------------------- what a mapping writes


def test_json_target_with_constants_params_lookups_dates_numbers_and_repeats(tmp_path: Path) -> None:
    out = as_json(
        tmp_path,
        SOURCE
        + """
        target: {format: json}
        codelists:
          loai: {"cong-dan": "1", "doanh-nghiep": "2"}
        fields:
          service: {const: DongBoHoSoMC}
          madonvi: {param: hub_agency}
          data:
            for_each: /h:HoSo
            fields:
              MaHoSo: h:MaHoSo
              LoaiDoiTuong: {path: h:LoaiChu, lookup: loai}
              NgayTiepNhan: {path: h:NgayTiepNhan, date: {from: yyyyMMddHHmmss, to: dd/MM/yyyy HH:mm:ss}}
              SoTien: {path: h:LePhi, number: {from: vi, decimals: 0}, type: number}
              GhiChu: {path: h:GhiChu, required: false}
              TieuDe: {template: "Hồ sơ {h:MaHoSo} từ {$sender}"}
              GiayTo: {for_each: h:TaiLieu, value: h:Ten}
              TaiLieu:
                for_each: h:TaiLieu
                fields:
                  Ten: h:Ten
                  Ma: {path: h:Ma, required: false}
        """,
    )
    assert out == {
        "service": "DongBoHoSoMC",
        "madonvi": "000.00.00.H49",
        "data": [
            {
                "MaHoSo": "000.00.00.H49-261121-0001",
                "LoaiDoiTuong": "1",
                "NgayTiepNhan": "21/11/2026 08:30:15",
                "SoTien": 1500000,
                "TieuDe": "Hồ sơ 000.00.00.H49-261121-0001 từ 000.00.00.H49",
                "GiayTo": ["Đơn đăng ký", "Hợp đồng"],
                "TaiLieu": [{"Ten": "Đơn đăng ký", "Ma": "DON"}, {"Ten": "Hợp đồng"}],
            }
        ],
    }


def test_xml_target_keeps_the_yaml_order_attributes_and_conditions(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        SOURCE
        + """
        target: {root: t:Goi, namespaces: {t: "urn:test:t", x: "urn:test:x"}}
        fields:
          "@loai": "@loai"
          Ma: h:MaHoSo
          x:Khac: {const: 7}
          Nhom:
            fields:
              "@so": {xpath: "count(h:TaiLieu)"}
              Ten: {path: "h:TaiLieu[1]/h:Ten"}
          CoGhiChu: {const: "có", when: "normalize-space(h:GhiChu) != ''"}
          RongBoQua: {fields: {A: {path: h:Khong, required: false}}, required: false}
        """,
    )
    assert serialize(out).decode() == (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<Goi xmlns:x="urn:test:x" xmlns="urn:test:t" loai="ho-so"><Ma>000.00.00.H49-261121-0001</Ma>'
        '<x:Khac>7</x:Khac><Nhom so="2"><Ten>Đơn đăng ký</Ten></Nhom></Goi>'
    )


def test_json_source_paths_address_keys(tmp_path: Path) -> None:
    source = json.dumps(
        {"MaHoSo": "H49-1", "ChuHoSo": {"HoTen": "Lê Văn Tám"}, "TaiLieu": [{"Ten": "A"}, {"Ten": "B"}]},
        ensure_ascii=False,
    ).encode()
    mapping = write(
        tmp_path,
        """
        source: {format: json}
        target: {root: Goi}
        fields:
          Ma: MaHoSo
          Ten: ChuHoSo.HoTen
          Goc: $.MaHoSo
          TenTaiLieu: {for_each: "TaiLieu[]", value: Ten}
          Dau: {path: "TaiLieu[].Ten"}
        """,
    )
    out = load_mapper(mapping).apply(json_to_tree(source), PARAMS)
    assert (
        serialize(out)
        .decode()
        .endswith(
            "<Goi><Ma>H49-1</Ma><Ten>Lê Văn Tám</Ten><Goc>H49-1</Goc>"
            "<TenTaiLieu>A</TenTaiLieu><TenTaiLieu>B</TenTaiLieu><Dau>A</Dau></Goi>"
        )
    )


# ---------------------------------------------------------------- what a message gets wrong


def test_a_missing_required_value_names_the_field_and_the_message(tmp_path: Path) -> None:
    with pytest.raises(TranslationError) as caught:
        run(tmp_path, SOURCE + "target: {format: json}\nfields:\n  A: {fields: {B: h:GhiChu}}\n")
    assert "message m-42" in caught.value.message
    assert "field A.B: required, but the source has no value (path h:GhiChu)" in caught.value.message


def test_a_value_outside_the_code_list_is_named_unless_there_is_a_default(tmp_path: Path) -> None:
    text = (
        SOURCE + "target: {format: json}\ncodelists: {l: CODES}\nfields:\n  L: {path: h:LoaiChu, lookup: l}\n"
    )
    with pytest.raises(TranslationError) as caught:
        run(tmp_path, text.replace("CODES", '{"doanh-nghiep": "2"}'))
    assert "field L: 'cong-dan' is not in code list 'l' (codes: doanh-nghiep)" in caught.value.message
    assert as_json(tmp_path, text.replace("CODES", '{values: {"x": "2"}, default: "9"}')) == {"L": "9"}


def test_a_date_or_number_that_does_not_parse_is_named(tmp_path: Path) -> None:
    text = (
        SOURCE
        + "target: {format: json}\nfields:\n  N: {path: h:NgayTiepNhan, date: {from: dd-MM-yyyy, to: iso}}\n"
    )
    with pytest.raises(TranslationError, match=r"field N: '20261121083015' does not match .*dd-MM-yyyy"):
        run(tmp_path, text)
    text = SOURCE + "target: {format: json}\nfields:\n  T: {path: h:LePhi, number: {from: plain}}\n"
    with pytest.raises(TranslationError, match=r"field T: '1.500.000' is not a number written as 1000000.5"):
        run(tmp_path, text)


def test_another_root_element_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TranslationError, match="expects a h:HoSo document"):
        run(tmp_path, SOURCE + "target: {format: json}\nfields: {A: {const: x}}\n", b"<Khac/>")


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("pattern", "text", "iso"),
    [
        ("dd-MM-yyyy", "05-12-2026", "2026-12-05T00:00:00+07:00"),
        ("yyyyMMddHHmmss", "20261121083015", "2026-11-21T08:30:15+07:00"),
        ("yyyy/MM/dd", "2026/02/28", "2026-02-28T00:00:00+07:00"),
        ("dd/MM/yyyy HH:mm:ss", "21/11/2026 23:59:01", "2026-11-21T23:59:01+07:00"),
        ("iso", "2026-11-21T01:30:15Z", "2026-11-21T08:30:15+07:00"),
        ("iso", "2026-11-21T08:30:15+07:00", "2026-11-21T08:30:15+07:00"),
    ],
)
def test_date_patterns_of_the_domain_read_and_write(pattern: str, text: str, iso: str) -> None:
    zone = time_zone("Asia/Ho_Chi_Minh")
    moment = DatePattern(pattern).parse(text, zone)
    assert DatePattern("iso").format(moment, zone) == iso
    if pattern != "iso":
        assert DatePattern(pattern).format(moment, zone) == text


def test_dates_are_checked_for_real_days_and_known_letters() -> None:
    zone = time_zone("Asia/Ho_Chi_Minh")
    with pytest.raises(ValueError, match="not a real date"):
        DatePattern("dd-MM-yyyy").parse("30-02-2026", zone)
    with pytest.raises(ValueError, match="unknown pattern letter 'Q'"):
        DatePattern("yyyy-MM-dd Q")


def test_vietnam_time_without_a_zone_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ZoneInfoNotFoundError(name)

    monkeypatch.setattr(formats, "ZoneInfo", missing)
    zone = time_zone("Asia/Ho_Chi_Minh")
    moment = DatePattern("yyyyMMddHHmmss").parse("20261121083015", zone)
    assert DatePattern("iso").format(moment, zone) == "2026-11-21T08:30:15+07:00"
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Paris'"):
        time_zone("Europe/Paris")


@pytest.mark.parametrize(
    ("number", "text", "out"),
    [
        (NumberFormat("vi"), "1.000.000", "1000000"),
        (NumberFormat("vi", decimals=2), "1.234,567", "1234.57"),
        (NumberFormat("plain", "vi"), "2500000.5", "2.500.000,5"),
        (NumberFormat("en", "plain", decimals=0), "1,000,000.50", "1000001"),
        (NumberFormat("vi"), "950", "950"),
    ],
)
def test_numbers_as_people_and_machines_write_them(number: NumberFormat, text: str, out: str) -> None:
    assert number.convert(text) == out


def test_a_number_in_another_style_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'1,000.000' is not a number written as 1.000.000,5"):
        NumberFormat("vi").convert("1,000.000")


# ---------------------------------------------------------------- mistakes in the file, at file:line


def test_shape_errors_point_at_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        SOURCE
        + """
        target: {format: json}
        fields:
          A: {path: h:MaHoSo, requird: false}
          B: {const: x, path: h:MaHoSo}
        """,
    )
    found = errors(path)
    assert any(
        e.startswith(f"{path.as_posix()}:{line_of(path, 'requird')}:") and "unknown key 'requird'" in e
        for e in found
    ), found
    assert any(f":{line_of(path, '  B:')}:" in e and "not path and const" in e for e in found), found


def test_compile_errors_point_at_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        SOURCE
        + """
        target: {root: t:Goi, namespaces: {t: "urn:t"}}
        fields:
          A: {path: "h:MaHoSo["}
          B: {path: "q:MaHoSo"}
          C: {path: h:LoaiChu, lookup: nothere}
          D: {path: h:NgayTiepNhan, date: {from: yyyyMMddQ, to: iso}}
          E: {template: "x {h:MaHoSo"}
          z:F: {const: 1}
          G: {const: 1, type: number}
        """,
    )
    found = errors(path)

    def at(needle: str, message: str) -> None:
        line = line_of(path, needle)
        assert any(e.startswith(f"{path.as_posix()}:{line}:") and message in e for e in found), (
            message,
            found,
        )

    at("  A:", "invalid XPath 'h:MaHoSo['")
    at("  B:", "Undefined namespace prefix")
    at("  C:", "unknown code list 'nothere'")
    at("  D:", "unknown pattern letter 'Q'")
    at("  E:", "unmatched '{'")
    at("  z:F:", "unknown namespace prefix 'z'")
    at("  G:", "'type' chooses the JSON type of a value")


def test_code_lists_from_a_file_beside_the_mapping(tmp_path: Path) -> None:
    (tmp_path / "codes").mkdir()
    (tmp_path / "codes" / "loai.yaml").write_text('"cong-dan": 1\n"doanh-nghiep": 2\n', encoding="utf-8")
    text = SOURCE + "target: {format: json}\ncodelists: {l: {file: codes/loai.yaml}}\nfields:\n"
    assert as_json(tmp_path, text + "  L: {path: h:LoaiChu, lookup: l}\n") == {"L": "1"}
    (tmp_path / "codes" / "loai.yaml").write_text('"cong-dan": [1]\n', encoding="utf-8")
    found = errors(write(tmp_path, text + "  L: {path: h:LoaiChu, lookup: l}\n"))
    assert any(e.startswith(f"{(tmp_path / 'codes' / 'loai.yaml').as_posix()}:1:") for e in found), found


# ---------------------------------------------------------------- against the schemas


def test_unknown_source_paths_and_target_fields_against_json_schemas(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {
            "service": {"type": "string"},
            "data": {"type": "array", "items": {"$ref": "#/$defs/HoSo"}},
        },
        "$defs": {"HoSo": {"type": "object", "properties": {"MaHoSo": {}, "MaHoso": {}, "Ten": {}}}},
    }
    (tmp_path / "out.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    path = write(
        tmp_path,
        SOURCE
        + """
        target: {format: json}
        fields:
          service: {const: x}
          servce: {const: x}
          data:
            for_each: /h:HoSo
            fields:
              MaHoSo: h:MaHoSo
              MaHoso: h:MaHoSoo
              Ten: {path: "h:TaiLieu[1]/h:Ten"}
        """,
    )
    mapping = load_mapper(path)
    assert isinstance(mapping, YamlMapping)
    found = [
        str(i)
        for i in check_mapping(
            mapping,
            input_schema=Path(__file__).parents[2] / "schemas" / "province" / "hoso.xsd",
            schema=tmp_path / "out.schema.json",
        )
    ]
    name = path.as_posix()
    assert (
        f"{name}:{line_of(path, 'servce')}:3 [fields.servce]: unknown target field: servce is not declared"
        in "\n".join(found)
    ), found
    assert any(
        e.startswith(f"{name}:{line_of(path, 'MaHoso:')}:7 [fields.data.fields.MaHoso.path]")
        and "unknown source path 'h:MaHoSoo'" in e
        and "did you mean MaHoSo?" in e
        for e in found
    ), found
    assert not [e for e in found if "h:TaiLieu[1]" in e], "a path with a predicate is not checked"
    assert len(found) == 2, found
