"""The land mapping written twice, as XSLT and as declarative YAML: both give the same bytes for every
sample dossier and every land case, so the YAML language says all the land adapter needs; and the
hub's configuration check accepts the YAML one against the dossier and registry schemas."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from land_support import CASES, HOSO_SCHEMA, LAND_SCHEMA, MAPPING
from project_support import LAND_ADAPTER, adapter_configuration

from lienthong.devtools.samples import sample_dossiers
from lienthong.pipeline.mapping_check import check_mapping
from lienthong.pipeline.prepare import AdapterStages, build_preparations
from lienthong.pipeline.translate import load_mapper
from lienthong.pipeline.yaml_mapping import YamlMapping
from lienthong.xml import parse_xml, serialize

YAML_MAPPING = MAPPING.with_suffix(".yaml")
XSLT = load_mapper(MAPPING)
DECLARATIVE = load_mapper(YAML_MAPPING)
PARAMS = {
    "message_id": "m-1",
    "sender": "000.00.00.H49",
    "hub_agency": "000.00.00.H49",
    "target_agency": "G13",
}
INPUTS = [
    *(s.xml for s in sample_dossiers(60, day=date(2026, 11, 21))),
    *(s.xml for s in sample_dossiers(40, agency="000.00.00.H22", day=date(2026, 2, 28), seed=11)),
    *(
        (case / "input.xml").read_bytes()
        for case in sorted(CASES.iterdir())
        if (case / "expected.xml").is_file() and b"<HoSo" in (case / "input.xml").read_bytes()
    ),
]


@pytest.mark.parametrize("source", INPUTS, ids=range(len(INPUTS)))
def test_yaml_and_xslt_give_the_same_bytes(source: bytes) -> None:
    tree = parse_xml(source)
    assert serialize(DECLARATIVE.apply(tree, PARAMS)) == serialize(XSLT.apply(tree, PARAMS))


def test_the_land_yaml_mapping_matches_both_schemas() -> None:
    assert isinstance(DECLARATIVE, YamlMapping)
    assert check_mapping(DECLARATIVE, input_schema=HOSO_SCHEMA, schema=LAND_SCHEMA) == []


def test_the_land_adapter_prepares_with_the_yaml_mapping(tmp_path: Path) -> None:
    config = adapter_configuration(LAND_ADAPTER)
    land = config.adapters["land"]
    tiepnhan = land.operations["TiepNhanHoSo"].model_copy(
        update={"mapping": Path("mappings/land/hoso-to-tiepnhanhoso.yaml")}
    )
    land = land.model_copy(update={"operations": {**land.operations, "TiepNhanHoSo": tiepnhan}})
    config = config.model_copy(update={"adapters": {"land": land}})
    [stages] = build_preparations(config).values()
    assert isinstance(stages, AdapterStages)
    assert isinstance(stages.operations[0].mapper, YamlMapping)
