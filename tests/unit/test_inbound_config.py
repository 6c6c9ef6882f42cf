"""The inbound SOAP section of an adapter: compiled once, and every mistake reported at its YAML line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from project_support import LAND_ADAPTER, TAX_ADAPTER, assemble_project
from ruamel.yaml import YAML

from lienthong.config.files import load_configuration
from lienthong.errors import ConfigError
from lienthong.intake.inbound import compile_inbound
from lienthong.xml import parse_xml

ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, schemas: Path | None = None) -> Path:
    """A test project with the land adapter; ``schemas`` replaces the schemas it links to."""
    config = assemble_project(tmp_path)
    if schemas is not None:
        shutil.rmtree(tmp_path / "schemas")  # links only: the repository's files stay
        (tmp_path / "schemas").symlink_to(schemas, target_is_directory=True)
    return config


def edit_inbound(config: Path, **changes: object) -> None:
    yaml = YAML()
    path = config / "adapters" / "land.yaml"
    data = yaml.load(path)
    for dotted, value in changes.items():
        node = data["inbound"]
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    yaml.dump(data, path)


def problems(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        compile_inbound(load_configuration(config, environ={}))
    return [str(issue) for issue in info.value.issues]


def test_the_projects_land_service_compiles_and_renders_its_wsdl(tmp_path: Path) -> None:
    services = compile_inbound(load_configuration(project(tmp_path), environ={}))
    land = services["land"]
    assert sorted(land.operations) == [
        "CapNhatTrangThaiHoSo",
        "GuiPhieuChuyenThongTinDiaChinh",
        "TraKetQuaHoSo",
    ]
    assert sorted(land.published.schemas) == ["hub/hub.xsd", "land/dangkydatdai.xsd"]
    wsdl = parse_xml(land.published.render("https://hub.example.vn/soap/land") or b"")
    assert {el.get("location") for el in wsdl.iter("{*}address")} == {"https://hub.example.vn/soap/land"}
    assert land.published.render("https://x/soap/land", "../config/hub.yaml") is None


def test_a_body_element_in_no_namespace_is_named_without_a_prefix(tmp_path: Path) -> None:
    """The tax authority pushes its notices as DATA/BODY/ROW_LIST, in no namespace."""
    config = assemble_project(tmp_path, adapters=(LAND_ADAPTER, TAX_ADAPTER))
    tax = compile_inbound(load_configuration(config, environ={}))["tax"]
    notice = tax.operations["GuiThongBaoThue"]
    assert notice.element == "DATA"
    assert tax.dispatch(None, parse_xml(b"<DATA><BODY/></DATA>")) is notice
    assert sorted(tax.published.schemas) == ["hub/hub.xsd", "tax/thongbaothue.xsd"]
    entry = parse_xml(
        b"<DATA><BODY><ROW_LIST><MA_HSO> 000.00.00.H49-261121-0001 </MA_HSO></ROW_LIST></BODY></DATA>"
    )
    assert notice.metadata(entry) == {"dossier_code": "000.00.00.H49-261121-0001"}


def test_each_mistake_is_reported_at_its_line(tmp_path: Path) -> None:
    config = project(tmp_path)
    edit_inbound(
        config,
        operations__CapNhatTrangThaiHoSo__dossier_code="dd:MaHoSoMotCua[",
        operations__TraKetQuaHoSo__soap_action="urn:x/TraKetQuaHoSo",
    )
    found = problems(config)
    text = (config / "adapters" / "land.yaml").read_text(encoding="utf-8").splitlines()
    xpath_line = 1 + next(i for i, line in enumerate(text) if "MaHoSoMotCua[" in line)
    action_line = 1 + next(i for i, line in enumerate(text) if "urn:x/TraKetQuaHoSo" in line)
    assert any(f"land.yaml:{xpath_line}:" in p and ".dossier_code]: invalid XPath" in p for p in found), found
    assert any(f"land.yaml:{action_line}:" in p and ".soap_action]" in p for p in found), found

    edit_inbound(config, operations__TraKetQuaHoSo__element="xx:TraKetQuaHoSo")
    found = problems(config)
    assert any("xx:TraKetQuaHoSo" in p and "prefix" in p for p in found), found
    assert not any("not configured" in p for p in found), found


def test_the_wsdl_and_the_configuration_must_offer_the_same_operations(tmp_path: Path) -> None:
    config = project(tmp_path)
    yaml = YAML()
    path = config / "adapters" / "land.yaml"
    data = yaml.load(path)
    del data["inbound"]["operations"]["TraKetQuaHoSo"]
    yaml.dump(data, path)
    assert any("offers 'TraKetQuaHoSo', which is not configured" in p for p in problems(config))


def test_a_wsdl_may_import_only_files_in_its_schemas_tree(tmp_path: Path) -> None:
    schemas = tmp_path / "own-schemas" / "schemas"
    shutil.copytree(ROOT / "schemas", schemas)
    (tmp_path / "outside.xsd").write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>')
    wsdl = schemas / "land" / "hub-inbound.wsdl"
    wsdl.write_text(wsdl.read_text(encoding="utf-8").replace("../hub/hub.xsd", "../../../outside.xsd"))
    found = problems(project(tmp_path / "p", schemas))
    assert any("outside.xsd" in p and "must be a relative path to a file under" in p for p in found), found
    assert any("hub header schema" in p for p in found), found
