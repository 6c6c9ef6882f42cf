"""Every adapter brings its own cases (adapters/<name>/cases/<case>/): an input document, the route
it must take and the exact translation the target receives. This one test collects them all, so a
new adapter adds tests without adding Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from lxml import etree
from ruamel.yaml import YAML

from lienthong.config.files import load_configuration
from lienthong.envelope import MessageKind, new_envelope
from lienthong.pipeline.prepare import Preparation, build_preparations
from lienthong.pipeline.route import Router
from lienthong.xml import parse_xml

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(ROOT.glob("adapters/*/cases/*/case.yaml"))


def _c14n(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    # lxml-stubs do not know C14N 2.0's strip_text (lxml 4.4+)
    canonical: bytes = cast(Any, etree).tostring(
        etree.fromstring(data, parser), method="c14n2", strip_text=True
    )
    return canonical


@pytest.fixture(scope="module")
def pipeline() -> tuple[Router, dict[str, Preparation]]:
    config = load_configuration(ROOT / "config")
    return Router(config.routes), build_preparations(config)


def test_cases_exist() -> None:
    assert CASES, "no adapter cases found under adapters/*/cases/"


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parts[-4]}/{p.parts[-2]}")
def test_case(case: Path, pipeline: tuple[Router, dict[str, Preparation]]) -> None:
    router, adapters = pipeline
    spec = YAML(typ="safe").load(case.read_text(encoding="utf-8"))
    payload = (case.parent / "input.xml").read_bytes()
    envelope = new_envelope(
        kind=MessageKind(spec["kind"]),
        sender=spec["sender"],
        sender_message_id=f"case-{case.parent.name}",
        payload=payload,
        content_type="application/xml",
        procedure_code=spec.get("procedure_code"),
        dossier_code=spec.get("dossier_code"),
    )
    tree = parse_xml(payload)
    decision = router.decide(envelope, tree)
    assert decision.rule == spec["route"]
    assert list(decision.targets) == spec["targets"]
    for target in decision.targets:
        prepared = adapters[target].prepare(envelope, tree)
        expected = case.parent / (f"expected-{target}.xml" if len(decision.targets) > 1 else "expected.xml")
        assert _c14n(prepared.payload) == _c14n(expected.read_bytes())
