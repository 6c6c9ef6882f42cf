"""Every adapter brings its own cases (``adapters/<name>/cases/<case>/``): an input document
(input.xml, or input.json for a system that sends JSON), the message's metadata (case.yaml) and
what the adapter must make of it. This one test collects them all, so a new adapter adds tests
without adding Python.

A case belongs to the adapter whose folder it lives in, and asserts that adapter's prepared output:
the hub's intake stages for it (validate the input → translate → validate the translation → sign when
its policy signs), run on the adapter alone, in a configuration of its own. Routing is not an
adapter's business (routes.yaml is the province's), so no case depends on which routes exist, nor on
which other adapters are configured.

case.yaml holds the envelope's metadata (``kind``, ``sender``; optionally ``procedure_code``,
``dossier_code``, ``document_id``, ``document_type``, ``recipient``, ``message_id``), for an adapter
with ``operations:`` the ``operation`` the message must go to, and either nothing more (the output
must equal expected.xml, compared canonically, or expected.json, compared as JSON values, for an
operation that sends JSON) or ``refused:`` with words the refusal must contain (input the adapter's
target can never accept).

Cases are collected from the repository's ``adapters/*/cases/`` (the adapter's YAML is
``config/adapters/<name>.yaml``) and from fixture adapters under ``tests/fixtures/*/`` laid out alike.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from lxml import etree
from project_support import FIXTURES, LAND_ADAPTER, ROOT, AdapterSource, adapter_configuration
from ruamel.yaml import YAML

from lienthong.config.models import Configuration, SigningPolicyConfig
from lienthong.envelope import Envelope, MessageKind, new_envelope
from lienthong.errors import InvalidMessageError
from lienthong.jsonxml import JSON_CONTENT_TYPE
from lienthong.pipeline.prepare import build_preparations
from lienthong.trust.keys import Keystore, create_dev_ca
from lienthong.trust.sign import Signer, build_signers
from lienthong.trust.verify import AgencyPolicy, TrustStore, XmlVerifier
from lienthong.xml import XMLDSIG_NS, parse_xml

CASES = sorted([*ROOT.glob("adapters/*/cases/*/case.yaml"), *FIXTURES.glob("*/adapters/*/cases/*/case.yaml")])
#: Metadata a case may give, passed to the envelope as it is.
_METADATA = ("procedure_code", "dossier_code", "document_id", "document_type", "recipient")


def source_of(case: Path) -> AdapterSource:
    """``<root>/adapters/<name>/cases/<case>/case.yaml`` belongs to adapter ``<name>`` of ``<root>``."""
    return AdapterSource(name=case.parents[2].name, root=case.parents[4])


def _c14n(data: bytes | etree._Element) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    root = etree.fromstring(data, parser) if isinstance(data, bytes) else data
    # lxml-stubs do not know C14N 2.0's strip_text (lxml 4.4+)
    canonical: bytes = cast(Any, etree).tostring(root, method="c14n2", strip_text=True)
    return canonical


@dataclasses.dataclass(frozen=True)
class DevKeys:
    """Development keys for adapters whose policy signs, and a verifier that trusts only them."""

    keystore: Keystore
    verifier: XmlVerifier


@pytest.fixture(scope="module")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevKeys]:
    ca = create_dev_ca(tmp_path_factory.mktemp("keys"), "000.00.00.H49", {})
    anchors = tuple(x509.load_pem_x509_certificates(ca.ca_certificate.read_bytes()))
    trust = TrustStore(default=AgencyPolicy(anchors=anchors))
    yield DevKeys(Keystore.load(ca.key_references(), Path("/")), XmlVerifier(trust))


def _input_name(case: Path) -> str:
    """input.json for a system that sends JSON (justice's polled results), else input.xml."""
    return "input.json" if (case.parent / "input.json").is_file() else "input.xml"


def envelope_for(case: Path, spec: Mapping[str, Any]) -> Envelope:
    envelope = new_envelope(
        kind=MessageKind(spec["kind"]),
        sender=spec["sender"],
        sender_message_id=f"case-{case.parent.name}",
        payload=(case.parent / _input_name(case)).read_bytes(),
        content_type="application/json" if _input_name(case) == "input.json" else "application/xml",
        **{key: spec[key] for key in _METADATA if key in spec},
    )
    if "message_id" in spec:  # for mappings that write the hub's id into the output
        envelope = dataclasses.replace(envelope, message_id=uuid.UUID(spec["message_id"]))
    return envelope


def check_case(case: Path, config: Configuration, name: str, keys: DevKeys | None) -> None:
    """Run adapter ``name`` of ``config`` on the case and assert what case.yaml says it must make."""
    spec: dict[str, Any] = YAML(typ="safe", pure=True).load(case.read_text(encoding="utf-8"))
    adapter = config.adapters[name]
    signers: Mapping[str, Signer] = {}
    if adapter.signing.policy != "none":
        assert keys is not None, f"adapter '{name}' signs: the case needs development keys"
        signers = build_signers(config, keys.keystore)
    # The adapter's stages as intake runs them: with operations, the one that accepts the input.
    preparation = build_preparations(config, signers=signers, only=[name])[name]
    envelope = envelope_for(case, spec)

    if "refused" in spec:
        with pytest.raises(InvalidMessageError) as refused:
            preparation.prepare(envelope, None)
        assert spec["refused"] in refused.value.message
        return
    prepared = preparation.prepare(envelope, None)

    assert prepared.target == name
    if adapter.operations or "operation" in spec:
        assert prepared.operation == spec.get("operation"), "case.yaml names the operation it must go to"
    if (expected_json := case.parent / "expected.json").is_file():
        assert prepared.content_type == JSON_CONTENT_TYPE
        assert json.loads(prepared.payload) == json.loads(expected_json.read_bytes())
        return
    output = parse_xml(prepared.payload)
    signatures = output.findall(f".//{{{XMLDSIG_NS}}}Signature")
    if adapter.signing.policy == "none":
        assert signatures == [], f"adapter '{name}' does not sign, yet its output carries a signature"
    else:
        assert keys is not None
        assert len(signatures) == 1, f"adapter '{name}' signs ({adapter.signing.policy}): one signature"
        keys.verifier.verify(prepared.payload, agency=None)  # raises unless it verifies
        for signature in signatures:  # what remains is what the expected output shows
            parent = signature.getparent()
            assert parent is not None
            parent.remove(signature)
    assert _c14n(output) == _c14n((case.parent / "expected.xml").read_bytes())


def test_cases_exist() -> None:
    assert CASES, "no adapter cases found under adapters/*/cases/"
    assert any(source_of(c) == LAND_ADAPTER for c in CASES), "the land adapter has no cases"


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.parent.relative_to(ROOT).as_posix())
def test_case(case: Path, dev_keys: DevKeys) -> None:
    source = source_of(case)
    check_case(case, adapter_configuration(source), source.name, dev_keys)


# ---------------------------------------------------------------- the collector itself


def _land_case() -> Path:
    """The land adapter's dossier case (the one-stop HoSo → TiepNhanHoSo)."""
    return next(c for c in CASES if source_of(c) == LAND_ADAPTER and c.parent.name == "transfer-basic")


@pytest.mark.parametrize("policy", ["xmldsig", "xades-bes"])
def test_a_case_of_an_adapter_that_signs_checks_the_signature_and_the_document(
    policy: str, dev_keys: DevKeys
) -> None:
    """The land case, had land's policy been to sign: the signature must verify, and the document
    under it must still be the expected one."""
    config = adapter_configuration(LAND_ADAPTER)
    signing = SigningPolicyConfig.model_validate({"policy": policy})
    land = config.adapters["land"].model_copy(update={"signing": signing})
    config = config.model_copy(update={"adapters": {"land": land}})

    check_case(_land_case(), config, "land", dev_keys)


def test_a_case_fails_when_the_output_differs(tmp_path: Path) -> None:
    """No case can pass whatever the adapter makes: a changed expected.xml fails it."""
    case = tmp_path / "changed" / "case.yaml"
    case.parent.mkdir()
    original = _land_case()
    for name in ("case.yaml", "input.xml"):
        (case.parent / name).write_bytes((original.parent / name).read_bytes())
    expected = (original.parent / "expected.xml").read_text(encoding="utf-8")
    (case.parent / "expected.xml").write_text(expected.replace("<MaTTHC>1.004227", "<MaTTHC>1.004221"))

    with pytest.raises(AssertionError):
        check_case(case, adapter_configuration(LAND_ADAPTER), "land", None)


def _bhxh_case(name: str) -> Path:
    return next(c for c in CASES if c.parent.name == name and source_of(c).name == "bhxh")


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("expected.json", '"hinhThucNop": "TRUC_TIEP"', '"hinhThucNop": "TRUC_TUYEN"'),
        ("case.yaml", "operation: BaoTangLaoDong", "operation: CapTheBHYTTreEm"),
    ],
)
def test_a_json_case_fails_when_the_output_or_the_operation_differs(
    file: str, old: str, new: str, tmp_path: Path
) -> None:
    """A JSON case compares the values sent, and a case of an adapter with operations names the one
    its message must go to: changing either fails it."""
    original = _bhxh_case("employee-enrolment")
    case = tmp_path / "changed" / "case.yaml"
    case.parent.mkdir()
    for name in ("case.yaml", "input.xml", "expected.json"):
        text = (original.parent / name).read_text(encoding="utf-8")
        if name == file:
            assert old in text
            text = text.replace(old, new)
        (case.parent / name).write_text(text, encoding="utf-8")
    source = source_of(original)

    with pytest.raises(AssertionError):
        check_case(case, adapter_configuration(source), source.name, None)
