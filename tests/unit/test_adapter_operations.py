"""An adapter with several operations: a routed message goes to the first operation that accepts its
root element, is translated by that operation's mapping, stored with the operation's name, and
delivered to that operation's endpoint with its action; a message no operation takes is refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from project_support import write_config
from ruamel.yaml import YAML

from lienthong import MemoryTransport, TransportRequest, TransportResponse
from lienthong.compose import build_hub
from lienthong.config.files import load_configuration
from lienthong.envelope import MessageKind, new_envelope
from lienthong.errors import ConfigError, InvalidMessageError
from lienthong.store import DeliveryState
from lienthong.store.memory import MemoryStore
from lienthong.xml import SOAP11_NS, parse_xml

NS = "urn:test:registry:1"
_MAPPING = """<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:r="urn:test:registry:1">
  <xsl:template match="/">
    <r:{out}><r:Ma><xsl:value-of select="/*/r:Ma"/></r:Ma></r:{out}>
  </xsl:template>
</xsl:stylesheet>
"""


def _adapter(**overrides: Any) -> dict[str, Any]:
    adapter: dict[str, Any] = {
        "name": "registry",
        "plugin": "soap",
        "agency": "000.00.00.G05",
        "endpoint": "http://registry.invalid/soap",
        "namespaces": {"r": NS},
        "operations": {
            "NhanHoSo": {
                "accepts": ["r:HoSo"],
                "mapping": "mappings/registry/hoso.xsl",
                "options": {"operation": "NhanHoSo", "soap_action": "urn:test/NhanHoSo"},
            },
            "NhanBienLai": {
                "accepts": ["r:BienLai"],
                "endpoint": "http://registry.invalid/soap/bienlai",
                "mapping": "mappings/registry/bienlai.xsl",
                "options": {"operation": "NhanBienLai", "soap_action": "urn:test/NhanBienLai"},
            },
        },
        "retry": {"initial_backoff": "0s", "jitter": "0s", "max_attempts": 2},
    }
    adapter.update(overrides)
    return adapter


def _project(root: Path, adapter: dict[str, Any]) -> Path:
    config_dir = write_config(root / "config", adapters=(), routes=[{"name": "all", "targets": ["registry"]}])
    with (config_dir / "adapters" / "registry.yaml").open("w", encoding="utf-8") as f:
        YAML().dump(adapter, f)
    mappings = root / "mappings" / "registry"
    mappings.mkdir(parents=True)
    (mappings / "hoso.xsl").write_text(_MAPPING.format(out="NhanHoSo"), encoding="utf-8")
    (mappings / "bienlai.xsl").write_text(_MAPPING.format(out="NhanBienLai"), encoding="utf-8")
    return config_dir


def _answer(request: TransportRequest) -> TransportResponse:
    body = f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><r:DaNhan xmlns:r="{NS}"/></s:Body></s:Envelope>'
    return TransportResponse(200, body.encode(), {"content-type": "text/xml"})


def _message(root: str, sender_id: str) -> Any:
    payload = f'<r:{root} xmlns:r="{NS}"><r:Ma>{sender_id}</r:Ma></r:{root}>'.encode()
    return new_envelope(
        kind=MessageKind.DOCUMENT,
        sender="000.00.00.H49",
        sender_message_id=sender_id,
        payload=payload,
        content_type="application/xml",
    )


def test_each_message_goes_to_the_operation_that_accepts_it(tmp_path: Path) -> None:
    config = load_configuration(_project(tmp_path, _adapter()), environ={})
    transport = MemoryTransport(_answer)
    store = MemoryStore()
    hub = build_hub(config, store=store, transports={"registry": transport})
    try:
        dossier = hub.intake.submit(_message("HoSo", "hs-1"))
        receipt = hub.intake.submit(_message("BienLai", "bl-1"))
        for claim in store.claim_due("w", 10, timedelta(seconds=30)):
            hub.workers.process(claim)
    finally:
        hub.close()

    stored = {r: store.get_message(m.message_id).deliveries[0] for r, m in (("hs", dossier), ("bl", receipt))}
    assert stored["hs"].operation == "NhanHoSo" and stored["bl"].operation == "NhanBienLai"
    assert all(d.state is DeliveryState.DELIVERED for d in stored.values())
    assert parse_xml(stored["hs"].payload).tag == f"{{{NS}}}NhanHoSo"
    sent = {r.headers["SOAPAction"]: r for r in transport.requests}
    assert set(sent) == {'"urn:test/NhanHoSo"', '"urn:test/NhanBienLai"'}
    assert sent['"urn:test/NhanHoSo"'].url == "http://registry.invalid/soap"
    assert sent['"urn:test/NhanBienLai"'].url == "http://registry.invalid/soap/bienlai"
    body_element = stored["bl"].payload.split(b"?>", 1)[1].strip()  # the stored bytes, less the declaration
    assert body_element in sent['"urn:test/NhanBienLai"'].body


def test_a_payload_no_operation_accepts_is_refused_naming_them(tmp_path: Path) -> None:
    config = load_configuration(_project(tmp_path, _adapter()), environ={})
    hub = build_hub(config, store=MemoryStore(), transports={"registry": MemoryTransport(_answer)})
    try:
        with pytest.raises(InvalidMessageError, match=r"no operation for .*ToKhai.*NhanHoSo, NhanBienLai"):
            hub.intake.submit(_message("ToKhai", "tk-1"))
    finally:
        hub.close()


def test_when_selects_between_operations_taking_the_same_element(tmp_path: Path) -> None:
    adapter = _adapter()
    adapter["operations"]["NhanBienLai"]["accepts"] = ["r:HoSo"]
    adapter["operations"]["NhanBienLai"]["when"] = "starts-with(r:Ma, 'bl-')"
    adapter["operations"] = dict(reversed(list(adapter["operations"].items())))
    config = load_configuration(_project(tmp_path, adapter), environ={})
    store = MemoryStore()
    hub = build_hub(config, store=store, transports={"registry": MemoryTransport(_answer)})
    try:
        first = hub.intake.submit(_message("HoSo", "bl-7"))
        second = hub.intake.submit(_message("HoSo", "hs-7"))
    finally:
        hub.close()
    assert store.get_message(first.message_id).deliveries[0].operation == "NhanBienLai"
    assert store.get_message(second.message_id).deliveries[0].operation == "NhanHoSo"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mapping": "mappings/registry/hoso.xsl"}, "mapping belong inside each operation"),
        ({"namespaces": {}}, "accepts 'r:HoSo': write prefix:name with a prefix declared"),
        ({"plugin": None}, "names no plugin"),
    ],
)
def test_operation_mistakes_are_configuration_errors(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    adapter = _adapter(**change)
    adapter = {k: v for k, v in adapter.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        load_configuration(_project(tmp_path, adapter), environ={})
    assert message in str(caught.value)
    assert "adapters/registry.yaml" in str(caught.value)


def test_a_missing_operation_mapping_points_at_its_line(tmp_path: Path) -> None:
    adapter = _adapter()
    adapter["operations"]["NhanBienLai"]["mapping"] = "mappings/registry/missing.xsl"
    config = load_configuration(_project(tmp_path, adapter), environ={})
    with pytest.raises(ConfigError) as caught:
        build_hub(config, store=MemoryStore(), transports={"registry": MemoryTransport(_answer)})
    [issue] = [i for i in caught.value.issues if "missing.xsl" in i.message]
    assert issue.key == "operations.NhanBienLai.mapping" and issue.line is not None


def test_an_element_in_no_namespace_is_accepted_by_its_bare_name(tmp_path: Path) -> None:
    """Tax notices arrive as DATA/BODY/ROW_LIST, in no namespace."""
    adapter = _adapter()
    adapter["operations"]["NhanBienLai"]["accepts"] = ["DATA"]
    config = load_configuration(_project(tmp_path, adapter), environ={})
    store = MemoryStore()
    hub = build_hub(config, store=store, transports={"registry": MemoryTransport(_answer)})
    notice = new_envelope(
        kind=MessageKind.ANSWER,
        sender="000.00.18.G12",
        sender_message_id="tb-1",
        payload=f'<DATA><r:Ma xmlns:r="{NS}">tb-1</r:Ma></DATA>'.encode(),
        content_type="application/xml",
    )
    try:
        accepted = hub.intake.submit(notice)
    finally:
        hub.close()
    assert store.get_message(accepted.message_id).deliveries[0].operation == "NhanBienLai"
