"""The land adapter as the tests see it: the files config/adapters/land.yaml names, and the registry
simulator that file declares. The adapter itself is data (plugin: soap); nothing here is used by the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from project_support import LAND_ADAPTER, adapter_configuration

from lienthong.devtools.simulator import SimulatorSpec, simulator_spec

ROOT: Final = Path(__file__).resolve().parents[1]

LAND_NS: Final = "urn:lienthong:tnmt:dangkydatdai:1"
HOSO_SCHEMA: Final = ROOT / "schemas" / "province" / "hoso.xsd"
LAND_SCHEMA: Final = ROOT / "schemas" / "land" / "dangkydatdai.xsd"
LAND_WSDL: Final = ROOT / "schemas" / "land" / "dangkydatdai.wsdl"
MAPPING: Final = ROOT / "mappings" / "land" / "hoso-to-tiepnhanhoso.xsl"
#: The land adapter's operation for the one-stop dossier (its other operations: the land/tax workflow).
TIEPNHAN: Final = "TiepNhanHoSo"
SOAP_ACTION: Final = f"{LAND_NS}/TiepNhanHoSo"
#: The land adapter's cases (input, metadata, expected output).
CASES: Final = LAND_ADAPTER.cases

#: The registry simulator, as the shipped land.yaml declares it; each server keeps its records in memory.
SIMULATOR: Final[SimulatorSpec] = simulator_spec(
    adapter_configuration(LAND_ADAPTER), "land", store=":memory:"
)
