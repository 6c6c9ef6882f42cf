"""The hub's intake stages (validate → translate → validate → sign → serialise), run for every
adapter by the kernel, and the checks of what an adapter file declares about its plugin and its
simulator, with file:line like every other configuration error."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest
from lxml import etree

from lienthong.adapter import check_adapters, discover_plugins
from lienthong.config.files import load_configuration
from lienthong.devtools.samples import sample_dossiers
from lienthong.errors import ConfigError, SchemaValidationError
from lienthong.pipeline.prepare import Preparation
from lienthong.pipeline.translate import XsltMapping
from lienthong.pipeline.validate import XsdValidator
from lienthong.xml import parse_xml, serialize

ROOT = Path(__file__).resolve().parents[2]
LAND_NS = "urn:lienthong:tnmt:dangkydatdai:1"


class RecordingMapper:
    """The land mapping, noting that it ran; or a mapping whose output the target refuses."""

    def __init__(self, log: list[str], *, broken: bool = False) -> None:
        self.log, self.broken = log, broken
        self.xslt = XsltMapping(ROOT / "mappings" / "land" / "hoso-to-tiepnhanhoso.xsl")

    def apply(self, tree: etree._Element, params: Mapping[str, str]) -> etree._Element:
        self.log.append(f"translate {etree.QName(tree).localname}")
        out = self.xslt.apply(tree, params)
        if self.broken:
            out.append(etree.Element(f"{{{LAND_NS}}}Unexpected"))
        return out


class RecordingSigner:
    """Appends a marker where a signature would go, noting what it was given."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def sign(self, root: etree._Element) -> etree._Element:
        self.log.append(f"sign {etree.QName(root).localname}")
        etree.SubElement(root, "{urn:test}Signed")
        return root

    def sign_to_bytes(self, root: etree._Element, *, keep_input: bool = True) -> bytes:
        return serialize(self.sign(root))


def stages(log: list[str], *, broken: bool = False) -> Preparation:
    return Preparation(
        target="land",
        target_agency="000.00.00.G13",
        hub_agency="000.00.00.H49",
        input_schema=XsdValidator(ROOT / "schemas" / "province" / "hoso.xsd"),
        mapper=RecordingMapper(log, broken=broken),
        output_schema=XsdValidator(ROOT / "schemas" / "land" / "dangkydatdai.xsd"),
        signer=RecordingSigner(log),
    )


def test_signing_comes_last_after_the_output_schema_accepted_the_translation() -> None:
    log: list[str] = []
    envelope = sample_dossiers(1)[0].envelope(sender="000.00.00.H49")

    prepared = stages(log).prepare(envelope, None)

    assert log == ["translate HoSo", "sign TiepNhanHoSo"]
    root = parse_xml(prepared.payload)
    assert root.tag == f"{{{LAND_NS}}}TiepNhanHoSo" and root[-1].tag == "{urn:test}Signed"
    assert prepared.target == "land" and prepared.content_type == "application/xml"


def test_a_translation_the_target_refuses_is_never_signed() -> None:
    log: list[str] = []
    envelope = sample_dossiers(1)[0].envelope(sender="000.00.00.H49")

    with pytest.raises(SchemaValidationError, match="translation for 'land'"):
        stages(log, broken=True).prepare(envelope, None)

    assert log == ["translate HoSo"]


def test_input_the_adapter_refuses_is_never_translated() -> None:
    log: list[str] = []
    envelope = sample_dossiers(1)[0].envelope(sender="000.00.00.H49")
    tree = parse_xml(envelope.payload)
    tree.append(etree.Element("{urn:lienthong:province:hoso:1}Unexpected"))

    with pytest.raises(SchemaValidationError, match="payload for 'land'"):
        stages(log).prepare(envelope, tree)

    assert log == []


# ---------------------------------------------------------------- options and simulator, checked


def project(tmp_path: Path, options: str, simulator: str) -> Path:
    config = tmp_path / "config"
    (config / "adapters").mkdir(parents=True)
    (config / "hub.yaml").write_text("hub:\n  name: Test\n  agency: 000.00.00.H49\n", encoding="utf-8")
    (config / "routes.yaml").write_text("routes: []\n", encoding="utf-8")
    for shared in ("schemas", "mappings"):
        (tmp_path / shared).symlink_to(ROOT / shared, target_is_directory=True)
    land = textwrap.dedent(
        """\
        name: land
        plugin: soap
        agency: 000.00.00.G13
        endpoint: http://127.0.0.1:9/soap/land
        """
    )
    (config / "adapters" / "land.yaml").write_text(land + options + simulator, encoding="utf-8")
    return config


def test_the_soap_options_are_checked_against_the_plugin_s_model(tmp_path: Path) -> None:
    options = "options:\n  transport: soap13\n  wsdl: schemas/land/missing.wsdl\n"
    config = load_configuration(project(tmp_path, options, ""), environ={})

    issues = [str(i) for i in check_adapters(config, discover_plugins())]

    assert issues[0].startswith("config/adapters/land.yaml:6:3 [options.transport]: Input should be")
    assert issues[1].startswith("config/adapters/land.yaml:5:1 [options.operation]: Field required")
    assert len(issues) == 2


def test_a_path_among_the_options_must_name_a_file(tmp_path: Path) -> None:
    options = "options:\n  operation: TiepNhanHoSo\n  wsdl: schemas/land/missing.wsdl\n"
    config = load_configuration(project(tmp_path, options, ""), environ={})

    issues = [str(i) for i in check_adapters(config, discover_plugins())]

    assert issues == [
        "config/adapters/land.yaml:7:3 [options.wsdl]: file not found: schemas/land/missing.wsdl"
    ]


def test_the_simulator_section_is_checked_with_its_lines(tmp_path: Path) -> None:
    simulator = textwrap.dedent(
        """\
        simulator:
          path: /_sim/land
          schema: schemas/land/dangkydatdai.xsd
          namespaces: {dd: "urn:lienthong:tnmt:dangkydatdai:1"}
          operations:
            xx:TiepNhanHoSo: mappings/land/simulator/tiepnhanhoso-response.xsl
        """
    )
    options = "options:\n  operation: TiepNhanHoSo\n"

    with pytest.raises(ConfigError) as caught:
        load_configuration(project(tmp_path, options, simulator), environ={})

    issues = [str(i) for i in caught.value.issues]
    assert issues[0].startswith("config/adapters/land.yaml:8:3 [simulator.path]: ")
    assert "control API" in issues[0]
    assert len(issues) == 1  # the prefix is checked once the fields themselves are valid


def test_a_simulator_answer_mapping_must_exist(tmp_path: Path) -> None:
    simulator = textwrap.dedent(
        """\
        simulator:
          path: /soap/land
          schema: schemas/land/dangkydatdai.xsd
          namespaces: {dd: "urn:lienthong:tnmt:dangkydatdai:1"}
          operations:
            dd:TiepNhanHoSo: mappings/land/simulator/missing.xsl
        """
    )
    options = "options:\n  operation: TiepNhanHoSo\n"
    config = load_configuration(project(tmp_path, options, simulator), environ={})

    issues = [str(i) for i in check_adapters(config, discover_plugins())]

    assert issues == [
        "config/adapters/land.yaml:12:5 [simulator.operations.dd:TiepNhanHoSo]: "
        "file not found: mappings/land/simulator/missing.xsl"
    ]


def test_an_undeclared_prefix_in_the_simulator_is_an_error(tmp_path: Path) -> None:
    simulator = textwrap.dedent(
        """\
        simulator:
          path: /soap/land
          schema: schemas/land/dangkydatdai.xsd
          operations:
            dd:TiepNhanHoSo: mappings/land/simulator/tiepnhanhoso-response.xsl
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_configuration(project(tmp_path, "options:\n  operation: X\n", simulator), environ={})

    [issue] = [str(i) for i in caught.value.issues]
    assert issue.startswith("config/adapters/land.yaml:7:1 [simulator]: ")
    assert "prefix not declared in 'namespaces'" in issue


def test_a_simulator_step_must_call_an_inbound_operation(tmp_path: Path) -> None:
    simulator = textwrap.dedent(
        """\
        simulator:
          path: /soap/land
          schema: schemas/land/dangkydatdai.xsd
          namespaces: {dd: "urn:lienthong:tnmt:dangkydatdai:1"}
          operations:
            dd:TiepNhanHoSo:
              answer: mappings/land/simulator/tiepnhanhoso-response.xsl
              then:
                - call: CapNhatTrangThai
                  body: mappings/land/simulator/capnhattrangthai-callback.xsl
        """
    )
    config = load_configuration(
        project(tmp_path, "options:\n  operation: TiepNhanHoSo\n", simulator), environ={}
    )

    issues = [str(i) for i in check_adapters(config, discover_plugins())]

    assert issues == [
        "config/adapters/land.yaml:15:11 [simulator.operations.dd:TiepNhanHoSo.then.0.call]: the simulator "
        "calls 'CapNhatTrangThai', not an inbound operation of this adapter (no 'inbound:' section)"
    ]
