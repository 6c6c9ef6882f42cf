"""Land records (Đất đai): one-stop land-transfer dossiers to the land registry's ``TiepNhanHoSo``.

The simulator spec below is pure data: the generic engine in :mod:`lienthong.simulator` serves the
registry's WSDL, validates against its XSD and answers through an XSLT, so this adapter carries no
simulator code of its own. Paths are resolved from the repository root because the schemas and
mappings are shared with the hub's translation step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from lienthong import AdapterSpec, SimulatorSpec, SoapAdapter, SoapOptions

from .samples import sample_dossiers

ROOT: Final = Path(__file__).resolve().parents[2]
HERE: Final = Path(__file__).resolve().parent

LAND_NS: Final = "urn:lienthong:tnmt:dangkydatdai:1"
HOSO_SCHEMA: Final = ROOT / "schemas" / "province" / "hoso.xsd"
LAND_SCHEMA: Final = ROOT / "schemas" / "land" / "dangkydatdai.xsd"
LAND_WSDL: Final = ROOT / "schemas" / "land" / "dangkydatdai.wsdl"
MAPPING: Final = ROOT / "mappings" / "land" / "hoso-to-tiepnhanhoso.xsl"
SOAP_ACTION: Final = f"{LAND_NS}/TiepNhanHoSo"

SIMULATOR: Final = SimulatorSpec(
    name="land",
    path="/soap/land",
    schema=LAND_SCHEMA,
    operations={f"{{{LAND_NS}}}TiepNhanHoSo": HERE / "simulator" / "tiepnhanhoso-response.xsl"},
    wsdl=LAND_WSDL,
)

# The plugin the hub discovers through the 'lienthong.adapters' entry point: the generic SOAP
# adapter, configured by config/adapters/land.yaml; no Python of its own is needed.
ADAPTER: Final = AdapterSpec(
    name="land",
    description="Land registry (đăng ký đất đai): land-transfer dossiers over SOAP",
    factory=SoapAdapter,
    options_model=SoapOptions,
    simulator=SIMULATOR,
    samples=sample_dossiers,
)
