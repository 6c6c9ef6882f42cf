#!/usr/bin/env python3
"""XSD validation on the hot path: lxml (libxml2) against xmlschema, and what each intake stage costs.

    python bench/validate.py [--docs 100] [--repeats 5] [--json out.json]
    python3 dev.py bench validate [same options]

hub/validate.py claims that libxml2's validator, compiled once (``XsdValidator``), is about two
orders of magnitude faster than xmlschema's pure-Python one. This measures both, each compiled
once, on the documents the hub really validates: the provincial ``HoSo`` dossiers from the land
adapter's samples (``hoso.xsd``) and the ``TiepNhanHoSo`` requests the land mapping makes of them
(``dangkydatdai.xsd``).

For context it also times every XML stage of the intake path as the land adapter runs it
(``Intake.submit`` → ``Preparation.prepare``): parse, route, validate input, translate, validate
output, serialize — and ``prepare`` whole, as a cross-check of the sum.

Each figure is microseconds per document: the median (and best) of ``--repeats`` passes over
``--docs`` documents, after one warm-up pass. Only ratios taken within one run are compared.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar
from xml.etree import ElementTree

import xmlschema
from _timing import once_ms
from lxml import etree
from rich.console import Console
from rich.table import Table

from lienthong.config.files import load_configuration
from lienthong.envelope import Envelope
from lienthong.errors import SchemaValidationError
from lienthong.pipeline.prepare import Preparation, build_preparations
from lienthong.pipeline.route import Router
from lienthong.pipeline.validate import SchemaExplainer, XsdValidator
from lienthong.xml import parse_xml

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "land"
PROVINCE = "000.00.00.H49"

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    label: str
    median_us: float
    best_us: float


def per_document(label: str, fn: Callable[[T], object], items: Sequence[T], repeats: int) -> Timing:
    """Microseconds per item: one warm-up pass, then ``repeats`` timed passes."""
    for item in items:
        fn(item)
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for item in items:
            fn(item)
        passes.append((time.perf_counter_ns() - t0) / len(items) / 1000)
    return Timing(label, statistics.median(passes), min(passes))


# ---------------------------------------------------------------- the documents


@dataclass(frozen=True)
class Corpus:
    adapter: Preparation
    router: Router
    envelopes: list[Envelope]
    inputs: list[etree._Element]  # parsed HoSo dossiers
    outputs: list[etree._Element]  # TiepNhanHoSo, as the mapping makes them

    @property
    def input_bytes(self) -> list[bytes]:
        return [e.payload for e in self.envelopes]

    @property
    def output_bytes(self) -> list[bytes]:
        return [etree.tostring(o, xml_declaration=True, encoding="UTF-8") for o in self.outputs]


def load_corpus(count: int) -> Corpus:
    from lienthong.devtools.samples import sample_dossiers

    config = load_configuration(ROOT / "config")
    adapter = build_preparations(config)[PLUGIN]
    envelopes = [s.envelope(sender=PROVINCE) for s in sample_dossiers(count, agency=PROVINCE)]
    inputs = [parse_xml(e.payload) for e in envelopes]
    outputs = [parse_xml(adapter.prepare(e, t).payload) for e, t in zip(envelopes, inputs, strict=True)]
    return Corpus(adapter, Router(config.routes), envelopes, inputs, outputs)


# ---------------------------------------------------------------- lxml against xmlschema


@dataclass(frozen=True)
class Comparison:
    document: str
    schema: str
    size_bytes: int
    lxml: Timing
    xmlschema_lxml_tree: Timing
    xmlschema_etree: Timing
    xmlschema_validate: Timing
    lxml_compile_ms: float
    xmlschema_compile_ms: float
    refusal_lxml: Timing  # an invalid document: libxml2's verdict alone
    refusal_explain: Timing  # the verdict plus xmlschema's explanation, as the SOAP gateway answers

    @property
    def ratio(self) -> float:
        """How many times slower xmlschema is than lxml, taking xmlschema's fastest way in.

        Best passes, not medians: on a shared machine the best pass is the one least disturbed."""
        fastest = min(self.xmlschema_lxml_tree.best_us, self.xmlschema_etree.best_us)
        return fastest / self.lxml.best_us


def compare(
    document: str, schema_path: Path, trees: list[etree._Element], raw: list[bytes], repeats: int
) -> Comparison:
    lxml_validator = XsdValidator(schema_path)
    pure = _xmlschema(schema_path)
    stdlib_trees = [ElementTree.fromstring(b) for b in raw]
    invalid = _broken(trees[0])
    agree = (
        all(pure.is_valid(t) for t in stdlib_trees)
        and all(_lxml_valid(lxml_validator, t) for t in trees)
        and not pure.is_valid(invalid)
        and not _lxml_valid(lxml_validator, invalid)
    )
    if not agree:
        raise SystemExit(f"lxml and xmlschema disagree on {document}: the comparison would be meaningless")
    refused = [_broken(t) for t in trees]
    explainer = SchemaExplainer(schema_path)

    def explain(tree: etree._Element) -> object:
        try:
            lxml_validator.validate(tree)
        except SchemaValidationError as exc:
            return explainer.explain(tree, exc.violations, size=len(etree.tostring(tree)))
        raise AssertionError("a broken document was accepted")

    return Comparison(
        document=document,
        schema=schema_path.name,
        size_bytes=round(statistics.mean(len(b) for b in raw)),
        lxml=per_document("lxml XsdValidator.validate", lxml_validator.validate, trees, repeats),
        xmlschema_lxml_tree=per_document("xmlschema is_valid (lxml tree)", pure.is_valid, trees, repeats),
        xmlschema_etree=per_document(
            "xmlschema is_valid (ElementTree)", pure.is_valid, stdlib_trees, repeats
        ),
        xmlschema_validate=per_document(
            "xmlschema validate (ElementTree)", pure.validate, stdlib_trees, repeats
        ),
        lxml_compile_ms=once_ms(lambda: etree.XMLSchema(etree.parse(str(schema_path)))),
        xmlschema_compile_ms=once_ms(lambda: _xmlschema(schema_path)),
        refusal_lxml=per_document("lxml refuses", lambda t: _lxml_valid(lxml_validator, t), refused, repeats),
        refusal_explain=per_document("SchemaExplainer.explain", explain, refused, repeats),
    )


def _xmlschema(path: Path) -> xmlschema.XMLSchema10:
    """Built as the hub's SchemaExplainer builds it: local files only, no DTDs."""
    return xmlschema.XMLSchema10(str(path.resolve()), allow="local", defuse="always")


def _lxml_valid(validator: XsdValidator, root: etree._Element) -> bool:
    try:
        validator.validate(root)
    except SchemaValidationError:
        return False
    return True


def _broken(root: etree._Element) -> etree._Element:
    """A copy with its second element removed: invalid for both schemas (a required field is gone)."""
    copy = etree.fromstring(etree.tostring(root))
    copy.remove(copy[1])
    return copy


# ---------------------------------------------------------------- the intake path, stage by stage


def stages(corpus: Corpus, repeats: int) -> tuple[list[Timing], list[Timing]]:
    """The stages in intake order, and two cross-checks that are not part of the sum."""
    adapter = corpus.adapter
    assert adapter.input_schema is not None
    assert adapter.output_schema is not None
    assert adapter.mapper is not None
    input_schema, output_schema, mapping = adapter.input_schema, adapter.output_schema, adapter.mapper
    pairs = list(zip(corpus.envelopes, corpus.inputs, strict=True))

    def translate(pair: tuple[Envelope, etree._Element]) -> etree._Element:
        envelope, root = pair
        params = {  # the parameters Preparation.prepare passes
            "message_id": str(envelope.message_id),
            "sender": envelope.sender,
            "hub_agency": adapter.hub_agency,
            "target_agency": adapter.target_agency,
        }
        return mapping.apply(root, params)

    def serialize(root: etree._Element) -> bytes:
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    path = [
        per_document("parse (parse_xml, hardened)", parse_xml, corpus.input_bytes, repeats),
        per_document("route (Router.decide, XPath)", lambda p: corpus.router.decide(*p), pairs, repeats),
        per_document("validate input (hoso.xsd)", input_schema.validate, corpus.inputs, repeats),
        per_document("translate (XSLT)", translate, pairs, repeats),
        per_document("validate output (dangkydatdai.xsd)", output_schema.validate, corpus.outputs, repeats),
        per_document("serialize (tostring)", serialize, corpus.outputs, repeats),
    ]
    checks = [
        per_document("  of parse: libxml2 alone (fromstring)", _plain_parse, corpus.input_bytes, repeats),
        per_document("Preparation.prepare (last 4 stages)", lambda p: adapter.prepare(*p), pairs, repeats),
    ]
    return path, checks


_PLAIN = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _plain_parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, _PLAIN)


# ---------------------------------------------------------------- output


def comparison_table(rows: Sequence[Comparison]) -> Table:
    table = Table(title="XSD validation, compiled once: µs per document (median of passes; best)")
    for column in ("document", "bytes", "lxml", "xmlschema (lxml tree)", "xmlschema (ElementTree)"):
        table.add_column(column, justify="left" if column == "document" else "right")
    table.add_column("xmlschema ÷ lxml (best)", justify="right")
    table.add_column("compile ms lxml / xmlschema", justify="right")
    table.add_column("refusal: lxml / + explain", justify="right")
    for c in rows:
        table.add_row(
            f"{c.document} ({c.schema})",
            f"{c.size_bytes:,}",
            _us(c.lxml),
            _us(c.xmlschema_lxml_tree),
            _us(c.xmlschema_etree),
            f"{c.ratio:,.0f}×",
            f"{c.lxml_compile_ms:.1f} / {c.xmlschema_compile_ms:.0f}",
            f"{c.refusal_lxml.median_us:,.0f} / {c.refusal_explain.median_us:,.0f}",
        )
    return table


def stage_table(timings: Sequence[Timing], checks: Sequence[Timing]) -> Table:
    table = Table(title="Intake XML stages (land adapter): µs per document")
    table.add_column("stage")
    table.add_column("median µs", justify="right")
    table.add_column("best µs", justify="right")
    table.add_column("share", justify="right")
    total = sum(t.median_us for t in timings)
    for t in timings:
        table.add_row(
            t.label, f"{t.median_us:,.1f}", f"{t.best_us:,.1f}", f"{100 * t.median_us / total:.0f}%"
        )
    table.add_row("[bold]sum of the stages[/]", f"[bold]{total:,.1f}[/]", "", "100%")
    for t in checks:
        table.add_row(f"[dim]{t.label}[/]", f"[dim]{t.median_us:,.1f}[/]", f"[dim]{t.best_us:,.1f}[/]", "")
    return table


def _us(t: Timing) -> str:
    return f"{t.median_us:,.1f} ({t.best_us:,.1f})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=100, help="documents per pass (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal and console.width < 130:
        console = Console(width=130)
    console.print(
        f"Python {platform.python_version()} · lxml {etree.__version__} · libxml2 "
        f"{'.'.join(map(str, etree.LIBXML_VERSION))} · libxslt {'.'.join(map(str, etree.LIBXSLT_VERSION))}"
        f" · xmlschema {xmlschema.__version__} · {args.docs} documents × {args.repeats} passes"
    )
    corpus = load_corpus(args.docs)
    HOSO_SCHEMA = ROOT / "schemas" / "province" / "hoso.xsd"
    LAND_SCHEMA = ROOT / "schemas" / "land" / "dangkydatdai.xsd"

    comparisons = [
        compare("TiepNhanHoSo", LAND_SCHEMA, corpus.outputs, corpus.output_bytes, args.repeats),
        compare("HoSo", HOSO_SCHEMA, corpus.inputs, corpus.input_bytes, args.repeats),
    ]
    console.print(comparison_table(comparisons))
    timings, checks = stages(corpus, args.repeats)
    console.print(stage_table(timings, checks))
    if args.json:
        payload = {
            "versions": {
                "python": platform.python_version(),
                "lxml": etree.__version__,
                "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
                "xmlschema": xmlschema.__version__,
            },
            "docs": args.docs,
            "repeats": args.repeats,
            "validation": [asdict(c) | {"ratio": c.ratio} for c in comparisons],
            "stages": [asdict(t) for t in timings],
            "stage_checks": [asdict(t) for t in checks],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
