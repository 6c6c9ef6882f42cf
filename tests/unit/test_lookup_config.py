"""The ``lookup:`` section of an adapter: its shape checked by the model, its XPaths by the config
check, each mistake at its YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_support import LAND_ADAPTER, ROOT, AdapterSource, assemble_project
from ruamel.yaml import YAML

from lienthong.adapter import discover_plugins
from lienthong.compose import check_configuration
from lienthong.config.files import load_configuration
from lienthong.delivery.lookup import schema_shapes
from lienthong.errors import ConfigError

BUSINESS = AdapterSource("business", ROOT)


def project(tmp_path: Path) -> Path:
    return assemble_project(tmp_path, adapters=(LAND_ADAPTER, BUSINESS))


def edit_lookup(config: Path, **changes: object) -> None:
    yaml = YAML()
    path = config / "adapters" / "business.yaml"
    data = yaml.load(path)
    for dotted, value in changes.items():
        node = data["lookup"]
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    yaml.dump(data, path)


def line_of(config: Path, text: str) -> int:
    lines = (config / "adapters" / "business.yaml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_the_shipped_business_lookup_checks_out(tmp_path: Path) -> None:
    config = load_configuration(project(tmp_path), environ={})
    lookup = config.adapters["business"].lookup
    assert lookup is not None and lookup.key.check == "mst" and lookup.key.name == "code"
    parts = check_configuration(config, discover_plugins())
    assert "business" in parts.adapters


def test_shape_mistakes_are_reported_at_their_line(tmp_path: Path) -> None:
    config = project(tmp_path)
    edit_lookup(config, key__check="tin", key__check_digit_ten="ten", timeout="soon")
    with pytest.raises(ConfigError) as info:
        load_configuration(config, environ={})
    text = "\n".join(str(issue) for issue in info.value.issues)
    assert f"business.yaml:{line_of(config, 'check: tin')}" in text
    assert f"business.yaml:{line_of(config, 'check_digit_ten: ten')}" in text
    assert f"business.yaml:{line_of(config, 'timeout: soon')}" in text


def test_an_undeclared_prefix_is_refused(tmp_path: Path) -> None:
    config = project(tmp_path)
    edit_lookup(config, request__element="x:LayThongTinDoanhNghiep")
    with pytest.raises(ConfigError) as info:
        load_configuration(config, environ={})
    assert "prefix not declared" in str(info.value.issues[0])


def test_an_xpath_that_does_not_compile_is_reported_at_its_line(tmp_path: Path) -> None:
    config = project(tmp_path)
    edit_lookup(config, answer="dn:EntCert[", not_found="dn:KetQua/dn:MaKetQua = ")
    with pytest.raises(ConfigError) as info:
        check_configuration(load_configuration(config, environ={}), discover_plugins())
    issues = [str(issue) for issue in info.value.issues]
    assert any(f"business.yaml:{line_of(config, 'answer:')}" in i and "invalid XPath" in i for i in issues)
    assert any(f"business.yaml:{line_of(config, 'not_found:')}" in i for i in issues)


def test_the_json_shape_comes_from_the_registry_schema() -> None:
    repeated, booleans = schema_shapes(ROOT / "schemas" / "business" / "dangkydoanhnghiep.xsd")
    assert {"DaiDienPhapLuat", "NganhNgheKinhDoanh"} <= repeated
    assert "TenTiengViet" not in repeated
    assert booleans == {"LaNganhChinh"}
