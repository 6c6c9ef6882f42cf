"""JSON Schema validation refuses as XSD validation does: one error type, every violation located
(a JSON Pointer to the value, the schema keyword broken), and no schema fetched over the network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lienthong.errors import InvalidMessageError, SchemaValidationError
from lienthong.jsonxml import json_to_tree
from lienthong.pipeline.json_schema import JsonSchemaValidator
from lienthong.xml import parse_xml

DONGBO = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["service", "data"],
    "properties": {
        "service": {"const": "DongBoHoSoMC"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["MaHoSo", "NgayTiepNhan"],
                "properties": {
                    "MaHoSo": {"$ref": "common.schema.json#/$defs/MaHoSo"},
                    "NgayTiepNhan": {"type": "string", "pattern": "^[0-9]{14}$"},
                    "LoaiDoiTuong": {"enum": ["1", "2"]},
                },
            },
        },
    },
}
COMMON = {"$defs": {"MaHoSo": {"type": "string", "pattern": r"^[0-9.]+[A-Z][0-9]+-[0-9]{6}-[0-9]{4}$"}}}
GOOD = {
    "service": "DongBoHoSoMC",
    "data": [{"MaHoSo": "000.00.00.H49-261121-0001", "NgayTiepNhan": "20261121090000"}],
}


def write(folder: Path, name: str, value: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


@pytest.fixture
def validator(tmp_path: Path) -> JsonSchemaValidator:
    folder = tmp_path / "schemas" / "dvcqg"
    write(folder, "common.schema.json", COMMON)
    return JsonSchemaValidator(write(folder, "dongbohoso.schema.json", DONGBO))


def test_bytes_values_and_json_trees_that_conform_pass(validator: JsonSchemaValidator) -> None:
    data = json.dumps(GOOD).encode()
    validator.validate(data)
    validator.validate(GOOD)
    validator.validate(json_to_tree(data))


def test_every_violation_is_listed_with_where_and_which_rule(validator: JsonSchemaValidator) -> None:
    bad = {
        "service": "DongBoHoSoMC",
        "data": [{"MaHoSo": "H49-1", "NgayTiepNhan": "21/11/2026", "LoaiDoiTuong": "3"}],
    }

    with pytest.raises(SchemaValidationError) as caught:
        validator.validate(json.dumps(bad).encode(), what="translation for 'dvcqg'")

    error = caught.value
    assert error.message.startswith("translation for 'dvcqg' does not conform to dongbohoso.schema.json: ")
    found = {v["path"]: v for v in error.detail["violations"]}  # type: ignore[attr-defined]
    assert set(found) == {"/data/0/MaHoSo", "/data/0/NgayTiepNhan", "/data/0/LoaiDoiTuong"}
    assert found["/data/0/NgayTiepNhan"]["rule"] == "#/properties/data/items/properties/NgayTiepNhan/pattern"
    assert found["/data/0/MaHoSo"]["rule"].endswith("/pattern")  # through the $ref to common.schema.json
    assert "21/11/2026" in found["/data/0/NgayTiepNhan"]["message"]
    assert found["/data/0/NgayTiepNhan"]["line"] is None


def test_a_missing_member_is_reported_at_its_object(validator: JsonSchemaValidator) -> None:
    with pytest.raises(SchemaValidationError) as caught:
        validator.validate({"service": "DongBoHoSoMC"})

    [violation] = caught.value.violations
    assert violation.path == "" and violation.rule == "#/required"
    assert "data" in violation.message


def test_an_xml_tree_is_refused_by_a_json_schema(validator: JsonSchemaValidator) -> None:
    with pytest.raises(InvalidMessageError, match="is XML"):
        validator.validate(parse_xml(b"<HoSo/>"))


def test_bytes_that_are_not_json_are_refused(validator: JsonSchemaValidator) -> None:
    with pytest.raises(InvalidMessageError, match="not valid JSON"):
        validator.validate(b"{service:", what="answer")


@pytest.mark.parametrize(
    "ref", ["https://schemas.example.invalid/common.schema.json#/$defs/x", "../../outside.schema.json"]
)
def test_a_ref_outside_the_local_schemas_tree_is_refused(tmp_path: Path, ref: str) -> None:
    write(tmp_path, "outside.schema.json", {"type": "string"})
    path = write(tmp_path / "schemas" / "x", "a.schema.json", {"properties": {"a": {"$ref": ref}}})

    with pytest.raises(SchemaValidationError, match="cannot be loaded"):
        JsonSchemaValidator(path)


def test_a_broken_schema_is_refused_when_compiled(tmp_path: Path) -> None:
    path = tmp_path / "broken.schema.json"
    path.write_text("{not json", encoding="utf-8")

    with pytest.raises(SchemaValidationError, match=r"schema .*broken.schema.json cannot be loaded"):
        JsonSchemaValidator(path)


def test_formats_are_asserted(tmp_path: Path) -> None:
    validator = JsonSchemaValidator(write(tmp_path, "d.schema.json", {"format": "date"}))

    validator.validate("2026-11-21")
    with pytest.raises(SchemaValidationError):
        validator.validate("2026-13-45")
