"""A lookup through an adapter with ``operations:`` calls the one ``lookup.operation`` names: its
endpoint, its plugin options (WSDL operation, SOAPAction) and its schema, and the logged exchange
records it. Without the name, or with a name the adapter lacks, ``hub config check`` says so at the
line of the ``lookup`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from project_support import LAND_ADAPTER, ROOT, AdapterSource, assemble_project
from ruamel.yaml import YAML

from lienthong import MemoryTransport, TransportRequest, TransportResponse
from lienthong.adapter import discover_plugins
from lienthong.compose import check_configuration
from lienthong.config.files import load_configuration
from lienthong.delivery.breaker import CircuitBreaker
from lienthong.delivery.lookup import build_lookups
from lienthong.errors import ConfigError, LookupKeyInvalidError
from lienthong.store.memory import MemoryStore
from lienthong.xml import SOAP11_NS, parse_xml

BUSINESS = AdapterSource("business", ROOT)
LOOKUP_URL = "http://registry.invalid/soap/business"
OTHER_URL = "http://registry.invalid/soap/nhanhoso"
ACTION = "urn:lienthong:dkkd:doanhnghiep:1/LayThongTinDoanhNghiep"
DN = "urn:lienthong:dkkd:doanhnghiep:1"


def with_operations(tmp_path: Path, lookup_operation: str | None) -> Path:
    """The business adapter rewritten with two operations, the lookup's second: one to take dossiers
    (the first, so a lookup that ignored ``lookup.operation`` would call it) and the registry query."""
    config = assemble_project(tmp_path, adapters=(LAND_ADAPTER, BUSINESS))
    path = config / "adapters" / "business.yaml"
    yaml = YAML()
    data: Any = yaml.load(path)
    schema, options = data.pop("schema"), data.pop("options")
    data["endpoint"] = LOOKUP_URL
    data.insert(5, "namespaces", {"h": "urn:lienthong:province:hoso:1"})
    data.insert(
        6,
        "operations",
        {
            "NhanHoSo": {
                "accepts": ["h:HoSo"],
                "endpoint": OTHER_URL,
                "options": {"transport": "soap11", "operation": "NhanHoSo", "soap_action": "urn:x/NhanHoSo"},
            },
            "LayThongTinDoanhNghiep": {"schema": schema, "options": options},
        },
    )
    if lookup_operation is not None:
        data["lookup"].insert(0, "operation", lookup_operation)
    yaml.dump(data, path)
    return config


def line_of(config: Path, text: str) -> int:
    lines = (config / "adapters" / "business.yaml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith(text))


def registry(request: TransportRequest) -> TransportResponse:
    """The registry: one enterprise, answered in a SOAP 1.1 envelope."""
    body = parse_xml(request.body).find(f"{{{SOAP11_NS}}}Body/{{{DN}}}LayThongTinDoanhNghiep")
    assert body is not None, request.body
    code = body.findtext(f"{{{DN}}}MaSoDoanhNghiep")
    reply = (
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>'
        f'<LayThongTinDoanhNghiepResponse xmlns="{DN}"><KetQua><MaKetQua>00</MaKetQua></KetQua>'
        f"<EntCert><MaSoDoanhNghiep>{code}</MaSoDoanhNghiep><SoGCNDKKD>2203001187</SoGCNDKKD>"
        "<LoaiHinhDN>Công ty cổ phần</LoaiHinhDN><TenTiengViet>CÔNG TY CỔ PHẦN DU LỊCH VỊNH HẠ LONG XANH"
        "</TenTiengViet><NgayDangKyLanDau>2008-03-14</NgayDangKyLanDau><TinhTrangPhapLy>Đang hoạt động"
        "</TinhTrangPhapLy><DiaChiTruSo>Số 18 đường Hạ Long, phường Bãi Cháy</DiaChiTruSo></EntCert>"
        "</LayThongTinDoanhNghiepResponse></soap:Body></soap:Envelope>"
    )
    return TransportResponse(200, reply.encode(), {"content-type": "text/xml; charset=utf-8"})


def test_the_lookup_calls_the_operation_it_names(tmp_path: Path) -> None:
    config = load_configuration(with_operations(tmp_path, "LayThongTinDoanhNghiep"), environ={})
    check_configuration(config, discover_plugins())
    store = MemoryStore()
    transport = MemoryTransport(registry)
    breakers = {name: CircuitBreaker(a.circuit_breaker, name=name) for name, a in config.adapters.items()}
    [service] = build_lookups(
        config, discover_plugins(), store, breakers, transports={"business": transport}
    ).values()

    answer = service.lookup("5700100256", "000.00.00.H49")

    [request] = transport.requests
    assert request.url == LOOKUP_URL
    assert request.headers.get("SOAPAction", "").strip('"') == ACTION
    assert b"<MaSoDoanhNghiep>5700100256</MaSoDoanhNghiep>" in answer.answer
    [delivery] = store.get_message(answer.message_id).deliveries
    assert (delivery.target, delivery.operation) == ("business", "LayThongTinDoanhNghiep")


def test_the_lookup_request_is_checked_against_its_operation_s_schema(tmp_path: Path) -> None:
    """The operation's XSD wants 10 digits (or a branch); a key that fits the 'none' check but not
    the schema is refused before any call: the schema in use is the operation's."""
    config_dir = with_operations(tmp_path, "LayThongTinDoanhNghiep")
    path = config_dir / "adapters" / "business.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("check: mst", "check: none"), encoding="utf-8")
    config = load_configuration(config_dir, environ={})
    transport = MemoryTransport(registry)
    breakers = {name: CircuitBreaker(a.circuit_breaker, name=name) for name, a in config.adapters.items()}
    [service] = build_lookups(
        config, discover_plugins(), MemoryStore(), breakers, transports={"business": transport}
    ).values()

    with pytest.raises(LookupKeyInvalidError, match="does not fit business's request"):
        service.lookup("not-a-code", "000.00.00.H49")
    assert transport.requests == []


@pytest.mark.parametrize(
    ("operation", "at", "words"),
    [
        (None, "lookup:", "name the one the lookup calls in lookup.operation"),
        ("TraCuu", "operation: TraCuu", "no operation 'TraCuu' in this adapter"),
    ],
)
def test_a_missing_or_unknown_lookup_operation_is_reported_at_its_line(
    tmp_path: Path, operation: str | None, at: str, words: str
) -> None:
    config = with_operations(tmp_path, operation)

    with pytest.raises(ConfigError) as info:
        check_configuration(load_configuration(config, environ={}), discover_plugins())

    issues = [str(issue) for issue in info.value.issues]
    expected = f"config/adapters/business.yaml:{line_of(config, at)}:"
    assert any(i.startswith(expected) and words in i for i in issues), issues


def test_a_lookup_on_a_json_operation_is_refused(tmp_path: Path) -> None:
    config = with_operations(tmp_path, "NhanHoSo")
    path = config / "adapters" / "business.yaml"
    yaml = YAML()
    data: Any = yaml.load(path)
    data["operations"]["NhanHoSo"]["schema"] = "schemas/business/answer.schema.json"
    data["operations"]["NhanHoSo"]["plugin"] = "rest"
    data["operations"]["NhanHoSo"]["options"] = {}
    yaml.dump(data, path)

    with pytest.raises(ConfigError) as info:
        check_configuration(load_configuration(config, environ={}), discover_plugins())

    issues = [str(issue) for issue in info.value.issues]
    assert any(
        i.startswith(f"config/adapters/business.yaml:{line_of(config, 'operation: NhanHoSo')}:")
        and "lookups need a SOAP/XML operation" in i
        for i in issues
    ), issues
