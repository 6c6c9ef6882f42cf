"""Simulators declared in YAML for the tests: the shipped land adapter with another ``simulator:``
section, or a fixture adapter (tests/fixtures/justice-sim), loaded as ``hub simulate`` loads them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from ruamel.yaml import YAML

from lienthong.config.files import load_configuration
from lienthong.config.models import Configuration
from lienthong.devtools.samples import sample_dossiers
from lienthong.xml import HUB_NS, SOAP11_NS

ROOT: Final = Path(__file__).resolve().parents[1]
JUSTICE: Final = ROOT / "tests" / "fixtures" / "justice-sim"
LAND_NS: Final = "urn:lienthong:tnmt:dangkydatdai:1"
#: The land simulator as shipped, plus what the tests add: a business key, a query, later steps.
LAND_SIMULATOR: Final[dict[str, Any]] = {
    "path": "/soap/land",
    "schema": "schemas/land/dangkydatdai.xsd",
    "wsdl": "schemas/land/dangkydatdai.wsdl",
    "namespaces": {"dd": LAND_NS},
    "operations": {
        "dd:TiepNhanHoSo": {
            "answer": "mappings/land/simulator/tiepnhanhoso-response.xsl",
            "key": "dd:MaHoSoMotCua",
        }
    },
    "query": {"element": "dd:TraCuuHoSo"},
}
T = TypeVar("T")


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    return yaml


def project(
    dest: Path, adapter: Mapping[str, Any], *, source: Path = ROOT, environ: Mapping[str, str] = {}
) -> Configuration:
    """A project in ``dest`` holding one adapter, its schemas and mappings linked from ``source``."""
    config = dest / "config"
    (config / "adapters").mkdir(parents=True, exist_ok=True)
    (config / "hub.yaml").write_text("hub:\n  name: Test\n  agency: 000.00.00.H49\n", encoding="utf-8")
    (config / "routes.yaml").write_text("routes: []\n", encoding="utf-8")
    for shared in ("schemas", "mappings"):
        if not (dest / shared).exists():
            (dest / shared).symlink_to(source / shared, target_is_directory=True)
    with (config / "adapters" / f"{adapter['name']}.yaml").open("w", encoding="utf-8") as f:
        _yaml().dump(dict(adapter), f)
    return load_configuration(config, environ=environ)


def land_adapter(simulator: Mapping[str, Any]) -> dict[str, Any]:
    """The shipped land.yaml with ``simulator`` in place of its own."""
    data: dict[str, Any] = _yaml().load(
        (ROOT / "config" / "adapters" / "land.yaml").read_text(encoding="utf-8")
    )
    data["endpoint"] = "http://127.0.0.1:9/soap/land"
    return data | {"simulator": dict(simulator)}


def justice_adapter() -> dict[str, Any]:
    data: dict[str, Any] = _yaml().load(
        (JUSTICE / "config" / "adapters" / "justice.yaml").read_text(encoding="utf-8")
    )
    return data


def land_request(index: int = 0, *, message_id: str | None = None) -> tuple[str, bytes]:
    """A TiepNhanHoSo SOAP 1.1 request (a sample dossier through the land mapping), and its dossier code."""
    from lxml import etree

    from lienthong.xml import parse_xml

    sample = sample_dossiers(index + 1)[index]
    xslt = etree.XSLT(etree.parse(str(ROOT / "mappings" / "land" / "hoso-to-tiepnhanhoso.xsl")))
    body = etree.tostring(xslt(parse_xml(sample.xml)).getroot(), encoding="unicode")
    mid = message_id or str(uuid.uuid4())
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:lt="{HUB_NS}">'
        f"<soap:Header><lt:messageId>{mid}</lt:messageId><lt:client>000.00.00.H49</lt:client></soap:Header>"
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    )
    return sample.dossier_code, envelope.encode()


SOAP_HEADERS: Final = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{LAND_NS}/TiepNhanHoSo"'}


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {result!r})")
        time.sleep(0.05)
