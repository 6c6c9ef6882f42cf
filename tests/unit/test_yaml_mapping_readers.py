"""A declarative mapping's readers without XPath (a child's text, the children of one name, the
document's root, templates of them: lienthong.pipeline._yaml_run) give what its XPaths give.

Every mapping of the project, applied to every document it can read among the project's samples, the
adapters' cases, the tests' fixtures and the shared test data, and to careless and hostile variants
of the dossier (a name repeated, comments and processing instructions among the children, mixed
content, the same local name in another namespace, empty and missing elements), gives the same bytes
or the same refusal with its readers as with its XPaths alone."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from lienthong.devtools.justice_samples import birth_dossier, death_dossier, lltp_dossier
from lienthong.devtools.samples import sample_dossiers
from lienthong.jsonxml import dumps, json_to_tree, tree_to_json
from lienthong.pipeline.yaml_mapping import YamlMapping
from lienthong.xml import parse_xml, serialize

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata"
H = "{urn:lienthong:province:hoso:1}"
PARAMS = {
    "message_id": "m-42",
    "sender": "000.00.00.H49",
    "hub_agency": "000.00.00.H49",
    "target_agency": "000.00.00.G22",
}
MAPPINGS = sorted((ROOT / "mappings").glob("*/*.yaml"))


def _files() -> Iterator[Path]:
    for folder in (ROOT / "adapters", ROOT / "tests" / "fixtures", SHARED):
        if folder.is_dir():
            for pattern in ("*.xml", "*.edxml", "*.json"):
                yield from sorted(folder.rglob(pattern))


def _parsed(path: Path) -> etree._Element | None:
    try:
        data = path.read_bytes()
        return json_to_tree(data) if path.suffix == ".json" else parse_xml(data)
    except Exception:  # not a document a mapping reads (a schema's JSON, a refused attack)
        return None


def _hostile(root: etree._Element) -> Iterator[etree._Element]:
    """Variants of a dossier that the readers must read as XPath does."""

    def variant(change: Callable[[etree._Element], None]) -> etree._Element:
        new = copy.deepcopy(root)
        change(new)
        return new

    def repeat(new: etree._Element) -> None:  # the first of a name counts
        for child in list(new)[:6]:
            twin = copy.deepcopy(child)
            twin.text = "khác"
            child.addnext(twin)

    def comments_and_pis(new: etree._Element) -> None:
        for index, child in enumerate(list(new)):
            child.addprevious(
                etree.Comment(" trước ") if index % 2 else etree.ProcessingInstruction("x", "y")
            )

    def mixed(new: etree._Element) -> None:
        for child in list(new)[:8]:
            if not len(child):
                child.text = (child.text or "") + " "
                etree.SubElement(child, f"{H}b").text = "đậm"
                child[-1].tail = " sau "

    def other_namespace(new: etree._Element) -> None:
        for child in list(new):
            if isinstance(child.tag, str):
                stranger = etree.Element(f"{{urn:other}}{etree.QName(child).localname}")
                stranger.text = "lạ"
                child.addprevious(stranger)
                plain = etree.Element(etree.QName(child).localname)
                plain.text = "không tên miền"
                child.addprevious(plain)

    def empty(new: etree._Element) -> None:
        for index, child in enumerate(list(new)):
            if not len(child) and index % 3 == 0:
                child.text = None
            elif not len(child) and index % 3 == 1:
                child.text = "  \n\t "

    def missing(new: etree._Element) -> None:
        for child in list(new)[1::4]:
            new.remove(child)

    def nested_documents(new: etree._Element) -> None:
        for document in new.iterchildren(f"{H}TaiLieuNop"):
            for child in list(document):
                child.addprevious(etree.Comment("c"))
                child.addnext(copy.deepcopy(child))

    for change in (repeat, comments_and_pis, mixed, other_namespace, empty, missing, nested_documents):
        yield variant(change)


def _documents() -> list[etree._Element]:
    documents = [parse_xml(s.xml) for s in sample_dossiers(30, day=date(2026, 11, 21))]
    documents += [
        parse_xml(s.xml) for s in sample_dossiers(3, day=date(2026, 11, 21), agency="000.00.00.G13")
    ]
    justice = [
        birth_dossier("KS-1"),
        death_dossier("KT-1"),
        lltp_dossier("LL-1"),
        birth_dossier("KS-2", child="Lê Ý"),
    ]
    documents += [parse_xml(data) for data in justice]
    documents += [root for root in map(_parsed, _files()) if root is not None]
    for data in [s.xml for s in sample_dossiers(4, day=date(2026, 11, 21))] + justice:
        documents += _hostile(parse_xml(data))
    return documents


DOCUMENTS = _documents()


def _outcome(mapping: YamlMapping, root: etree._Element) -> tuple[str, Any]:
    try:
        if mapping.json_target:
            value = dumps(mapping.apply_json(root, PARAMS))
            assert value == tree_to_json(mapping.apply(root, PARAMS))
            return "json", value
        return "xml", serialize(mapping.apply(root, PARAMS))
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_readers_give_what_xpath_gives(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = YamlMapping(path)
    read = [d for d in DOCUMENTS if not mapping.source_root or d.tag == mapping.source_root]
    with_readers = [_outcome(mapping, document) for document in read]
    monkeypatch.setattr(mapping, "readers", [None] * len(mapping.readers))  # every value by XPath
    assert [_outcome(mapping, document) for document in read] == with_readers


def test_the_documents_reach_the_portals_mapping_with_and_without_values() -> None:
    """The variants are read, not all refused: most give a value, some a refusal."""
    mapping = YamlMapping(ROOT / "mappings" / "dvcqg" / "hoso-to-dongbohosomc.yaml")
    kinds = [_outcome(mapping, d)[0] for d in DOCUMENTS if d.tag == mapping.source_root]
    assert kinds.count("json") > 30 and len(set(kinds)) > 1
