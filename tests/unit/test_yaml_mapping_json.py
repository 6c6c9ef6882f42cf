"""A declarative mapping to JSON gives its value without the tree (YamlMapping.apply_json), and that
value is what the tree said: the JSON the hub sends is byte for byte the JSON it sent before."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from lienthong.config.files import load_configuration
from lienthong.devtools.samples import sample_dossiers
from lienthong.jsonxml import dumps, tree_to_json, tree_to_value
from lienthong.pipeline.prepare import AdapterStages, build_preparations
from lienthong.pipeline.yaml_mapping import YamlMapping
from lienthong.xml import parse_xml

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {
    "message_id": "m-42",
    "sender": "000.00.00.H49",
    "hub_agency": "000.00.00.H49",
    "target_agency": "000.00.00.G22",
}
HOSO = """<HoSo xmlns="urn:lienthong:province:hoso:1" loai="ho-so">
  <MaHoSo> 000.00.00.H49-261121-0001 </MaHoSo>
  <LoaiChu>cong-dan</LoaiChu>
  <NgayTiepNhan>20261121083015</NgayTiepNhan>
  <LePhi>1.500.000</LePhi>
  <DienTich>172.50</DienTich>
  <CoUyQuyen>1</CoUyQuyen>
  <GhiChu>  </GhiChu>
  <TrichYeu>Chuyển <!-- ghi chú -->nhượng <b>đất</b></TrichYeu>
  <TaiLieu><Ten>Đơn đăng ký</Ten><Ma>DON</Ma></TaiLieu>
  <TaiLieu><Ten>Hợp   đồng
  </Ten></TaiLieu>
</HoSo>""".encode()
MAPPING = """\
source: {root: h:HoSo, namespaces: {h: "urn:lienthong:province:hoso:1"}}
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
      Loai: "@loai"
      LoaiDoiTuong: {path: h:LoaiChu, lookup: loai}
      NgayTiepNhan: {path: h:NgayTiepNhan, date: {from: yyyyMMddHHmmss, to: dd/MM/yyyy HH:mm:ss}}
      SoTien: {path: h:LePhi, number: {from: vi, decimals: 0}, type: number}
      DienTich: {path: h:DienTich, type: number}
      UyQuyen: {path: h:CoUyQuyen, type: boolean}
      GhiChu: {path: h:GhiChu, required: false}
      MacDinh: {path: h:Khong, default: "0"}
      TrichYeu: h:TrichYeu
      TrichYeuGoc: {path: h:TrichYeu, space: preserve}
      TieuDe: {template: "Hồ sơ {h:MaHoSo} ({h:TrichYeu}) từ {$sender} {{1}}"}
      SoTaiLieu: {xpath: "count(h:TaiLieu)", type: number}
      CoDon: {const: "có", when: "h:TaiLieu/h:Ma = 'DON'"}
      GiayTo: {for_each: h:TaiLieu, value: {path: h:Ten, space: trim}}
      TaiLieu:
        for_each: h:TaiLieu
        fields:
          Ten: h:Ten
          Ma: {path: h:Ma, required: false}
      Rong: {fields: {A: {path: h:Khong, required: false}}, required: false}
      RongBatBuoc: {fields: {A: {path: h:Khong, required: false}}}
      KhongCo: {for_each: h:Khong, fields: {A: h:Ten}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_every_feature_gives_the_value_its_tree_gives(tmp_path: Path) -> None:
    """Constants, parameters, code lists, dates, numbers, booleans, defaults, conditions, templates,
    repeated values and groups, empty groups kept or dropped; texts with comments and mixed content
    (which the tree's text alone does not give) as XPath reads them."""
    mapping = YamlMapping(write(tmp_path, MAPPING))
    source = parse_xml(HOSO)
    value = mapping.apply_json(source, PARAMS)
    assert value == tree_to_value(mapping.apply(source, PARAMS))
    assert dumps(value) == tree_to_json(mapping.apply(source, PARAMS))
    data = value["data"][0]
    assert data["TrichYeu"] == "Chuyển nhượng đất" and data["TrichYeuGoc"] == "Chuyển nhượng đất"
    assert data["TieuDe"] == "Hồ sơ 000.00.00.H49-261121-0001 (Chuyển nhượng đất) từ 000.00.00.H49 {1}"
    assert data["GiayTo"] == ["Đơn đăng ký", "Hợp   đồng"] and "Rong" not in data
    assert data["RongBatBuoc"] == {} and data["KhongCo"] == []


@pytest.mark.parametrize("mapping", ["hoso-to-dongbohosomc.yaml"])
def test_the_portals_mapping_writes_the_same_bytes_for_every_sample(mapping: str) -> None:
    yaml = YamlMapping(ROOT / "mappings" / "dvcqg" / mapping)
    for sample in sample_dossiers(200, day=date(2026, 11, 21)):
        source = parse_xml(sample.xml)
        assert dumps(yaml.apply_json(source, PARAMS)) == tree_to_json(yaml.apply(source, PARAMS))


def test_refusals_are_the_trees(tmp_path: Path) -> None:
    """A missing required value, a code outside the list, a text lxml would not take: the same error."""
    mapping = YamlMapping(write(tmp_path, MAPPING))
    for bad, params in (
        (HOSO.replace(b"<MaHoSo> 000.00.00.H49-261121-0001 </MaHoSo>", b""), PARAMS),
        (HOSO.replace(b"cong-dan", b"ca-nhan"), PARAMS),
        (HOSO, {**PARAMS, "hub_agency": "000\x01"}),
    ):
        source = parse_xml(bad)
        with pytest.raises(Exception) as by_tree:
            tree_to_value(mapping.apply(source, params))
        with pytest.raises(type(by_tree.value)) as by_value:
            mapping.apply_json(source, params)
        assert str(by_value.value) == str(by_tree.value)


def test_a_code_lists_default_keeps_the_value_without_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = MAPPING.replace('loai: {"cong-dan": "1"', 'loai: {default: "9", values: {"cong-dan": "1"')
    mapping = YamlMapping(write(tmp_path, text.replace('"doanh-nghiep": "2"}', '"doanh-nghiep": "2"}}')))
    source = parse_xml(HOSO.replace(b"cong-dan", b"ca-nhan"))
    expected = tree_to_value(mapping.apply(source, PARAMS))
    monkeypatch.setattr(YamlMapping, "apply", None)  # the value is built without the tree
    assert mapping.apply_json(source, PARAMS) == expected
    assert expected["data"][0]["LoaiDoiTuong"] == "9"


def test_a_mapping_whose_own_text_lxml_refuses_fails_as_before(tmp_path: Path) -> None:
    mapping = YamlMapping(write(tmp_path, MAPPING.replace("{const: DongBoHoSoMC}", '{const: "Dong\\x02Bo"}')))
    source = parse_xml(HOSO)
    with pytest.raises(ValueError) as by_tree:
        mapping.apply(source, PARAMS)
    with pytest.raises(ValueError) as by_value:
        mapping.apply_json(source, PARAMS)
    assert str(by_value.value) == str(by_tree.value)


def test_the_portals_stages_send_what_the_tree_would_have_written() -> None:
    config = load_configuration(ROOT / "config")
    stages = build_preparations(config, only={"dvcqg"})["dvcqg"]
    assert isinstance(stages, AdapterStages)
    operation = next(op for op in stages.operations if op.operation == "DongBoHoSoMC")
    assert isinstance(operation.mapper, YamlMapping)
    for sample in sample_dossiers(20, day=date(2026, 11, 21)):
        envelope = sample.envelope(sender="000.00.00.H49")
        prepared = stages.prepare(envelope, parse_xml(sample.xml))
        params = {
            "message_id": str(envelope.message_id),
            "sender": envelope.sender,
            "hub_agency": config.hub.hub.agency,
            "target_agency": operation.target_agency,
        }
        assert prepared.payload == tree_to_json(operation.mapper.apply(parse_xml(sample.xml), params))
        assert prepared.content_type == "application/json"
