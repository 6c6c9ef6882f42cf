"""The ``simulator:`` section of the edXML kinds: what an operator may write, what the simulator makes
of it, and what the simulated agencies read of the messages they carry (tolerantly, by local name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from lienthong.config.models import SimulatorConfig
from lienthong.devtools.simulator.axis import ScriptedAgency, read_facts
from lienthong.devtools.simulator.axis.spec import DEFAULT_ANSWERS
from lienthong.edxml.build import build_document, build_status
from lienthong.edxml.model import Business, Organ, ResponseFor
from lienthong.errors import HubError

AXIS: dict[str, Any] = {"kind": "edxml-axis", "path": "/axis"}


def errors(**section: Any) -> str:
    with pytest.raises(ValidationError) as info:
        SimulatorConfig.model_validate(section)
    return str(info.value)


def test_status_codes_keep_their_two_digits_even_unquoted() -> None:
    sim = SimulatorConfig.model_validate(AXIS | {"agencies": {"000.00.00.G06": {"answers": [1, 3, "05", 6]}}})
    assert sim.agencies["000.00.00.G06"].answers == ["01", "03", "05", "06"]
    assert "07" in errors(**AXIS, agencies={"000.00.00.G06": {"answers": ["07"]}})


def test_each_kind_takes_only_its_own_keys() -> None:
    assert "kind edxml-axis serves the edXML protocol; remove operations" in errors(
        **AXIS, operations={"x:Op": "a.xsl"}
    )
    assert "agencies: for kind edxml-axis or edxml-qlvb only" in errors(
        path="/soap/x", schema="x.xsd", operations={"x:Op": "a.xsl"}, agencies={"000.00.00.G06": {}}
    )
    assert "kind" in errors(kind="edxml-bus")
    sim = SimulatorConfig.model_validate({"kind": "edxml-qlvb"})
    assert sim.service_list() == [] and sim.is_edxml


def test_a_change_is_answered_15_or_16_after_01_where_the_agency_acknowledges() -> None:
    ministry = ScriptedAgency("000.00.00.G06", answers=DEFAULT_ANSWERS["edxml-axis"])
    assert ministry.script(False) == ("01", "03", "05", "06")
    assert ministry.script(True) == ("01", "15")
    refusing = ScriptedAgency("000.00.00.G09", answers=DEFAULT_ANSWERS["edxml-axis"], refuse_changes=True)
    assert refusing.script(True) == ("01", "16")
    office = ScriptedAgency("000.00.00.H49", answers=DEFAULT_ANSWERS["edxml-qlvb"])
    assert (office.script(False), office.script(True)) == (("03", "05", "06"), ("15",))


def test_the_generic_simulator_spec_points_at_the_edxml_one(tmp_path: Path) -> None:
    from sim_support import project

    from lienthong.devtools.simulator import simulator_spec

    config = project(
        tmp_path,
        {
            "name": "vpcp",
            "plugin": "soap",
            "agency": "000.00.00.G22",
            "endpoint": "http://127.0.0.1:9/a",
            "simulator": AXIS,
        },
    )
    with pytest.raises(HubError, match="edxml-axis"):
        simulator_spec(config, "vpcp", environ={})


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_facts_of_a_document_a_revocation_and_a_status_package() -> None:
    sender, to = Organ("000.00.00.H49"), [Organ("000.00.00.G06"), Organ("000.00.00.G09")]
    doc = read_facts(
        _xml(
            build_document(
                sender=sender, recipients=to, code_number="7", code_notation="UBND-VP", subject="s"
            )
        )
    )
    assert (doc.message_type, doc.sender, doc.recipients) == (
        "edoc",
        "000.00.00.H49",
        ("000.00.00.G06", "000.00.00.G09"),
    )
    assert doc.code == "7/UBND-VP" and doc.document_id and doc.document_id.endswith(",7/UBND-VP")
    assert not doc.is_change
    revoke = build_document(
        sender=sender,
        recipients=to,
        code_number="8",
        code_notation="UBND-VP",
        subject="s",
        business=Business(doc_type="1", document_id=doc.document_id),
    )
    business = revoke.find(".//{*}Bussiness")
    assert business is not None
    business.tag = business.tag.replace("Bussiness", "Business")  # as some senders spell it
    facts = read_facts(_xml(revoke))
    assert (facts.business_doc_type, facts.is_change) == ("1", True)
    status = read_facts(
        _xml(
            build_status(
                about=ResponseFor("000.00.00.H49", "7/UBND-VP", None, doc.document_id),
                sender=Organ("000.00.00.G06"),
                code="05",
            )
        )
    )
    assert (status.message_type, status.sender, status.status_code, status.response_for) == (
        "status",
        "000.00.00.G06",
        "05",
        doc.document_id,
    )


def test_facts_refuse_what_is_not_edxml() -> None:
    with pytest.raises(HubError, match=r"root element is .HoSo., not edXML"):
        read_facts(b"<HoSo/>")
    with pytest.raises(HubError, match="not well-formed"):
        read_facts(b"<edXML><From></edXML>")


def test_facts_of_every_vendor_sample(shared_dir: Path) -> None:
    """Status fields directly under MessageHeader, any order: the simulators read all 15 well-formed."""
    samples = sorted((shared_dir / "testdata" / "edxml").glob("*.edxml"))
    read = {p.name: read_facts(p.read_bytes()) for p in samples if p.name != "edoc.edxml"}
    assert len(read) == 15
    assert read["status_finish_06.edxml"].status_code == "06"
    assert read["status_finish_06.edxml"].response_for == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert read["status_change-rejection_16.edxml"].sender == "000.00.00.H41"
    assert [read[f"edoc_{n}.edxml"].business_doc_type for n in ("revocation", "update", "replacement")] == [
        "1",
        "2",
        "3",
    ]
    assert read["edoc_new.edxml"].sender == "000.00.00.A80"
    with pytest.raises(HubError, match="not well-formed"):
        read_facts((shared_dir / "testdata" / "edxml" / "edoc.edxml").read_bytes())
