#!/usr/bin/env python3
"""The land mapping as XSLT and as declarative YAML, on the same dossiers: what each costs per message.

    python bench/mapping.py [--docs 100] [--repeats 5]

Both mappings are compiled once (the XSLT by libxslt, the YAML's XPaths by libxml2 at load) and then
applied to the land adapter's sample dossiers, ``--docs`` of them per pass; the figure is
microseconds per dossier, the median (and best) of ``--repeats`` passes after a warm-up. The outputs
are compared first: the two must produce the same bytes (tests/unit/test_yaml_mapping_land.py).
Loading each mapping (for the YAML: reading, checking and compiling) is timed once, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from _timing import once_ms
from lxml import etree

from lienthong.devtools.samples import sample_dossiers
from lienthong.pipeline.translate import Mapper, load_mapper
from lienthong.xml import parse_xml, serialize

ROOT = Path(__file__).resolve().parents[1]
XSLT = ROOT / "mappings" / "land" / "hoso-to-tiepnhanhoso.xsl"
YAML = ROOT / "mappings" / "land" / "hoso-to-tiepnhanhoso.yaml"
PARAMS = {
    "message_id": "bench",
    "sender": "000.00.00.H49",
    "hub_agency": "000.00.00.H49",
    "target_agency": "G13",
}


def per_document_us(mapper: Mapper, trees: list[etree._Element], repeats: int) -> tuple[float, float]:
    def one_pass() -> float:
        t0 = time.perf_counter()
        for tree in trees:
            mapper.apply(tree, PARAMS)
        return (time.perf_counter() - t0) / len(trees) * 1e6

    one_pass()  # warm-up
    passes = [one_pass() for _ in range(repeats)]
    return statistics.median(passes), min(passes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    trees = [parse_xml(s.xml) for s in sample_dossiers(args.docs, day=date(2026, 11, 21))]
    mappers: dict[str, Callable[[], Mapper]] = {
        "XSLT (libxslt)": lambda: load_mapper(XSLT),
        "YAML (compiled XPaths)": lambda: load_mapper(YAML),
    }
    loaded = {label: make() for label, make in mappers.items()}
    xslt, declarative = loaded.values()
    for tree in trees:
        if serialize(xslt.apply(tree, PARAMS)) != serialize(declarative.apply(tree, PARAMS)):
            print("the two mappings disagree: run tests/unit/test_yaml_mapping_land.py", file=sys.stderr)
            return 1
    print(f"{len(trees)} land dossiers, median (best) of {args.repeats} passes")
    print(f"{'mapping':<24} {'per dossier':>16} {'load':>10}")
    for label, mapper in loaded.items():
        median, best = per_document_us(mapper, trees, args.repeats)
        load_ms = once_ms(mappers[label])
        print(f"{label:<24} {median:>8.1f} ({best:.1f}) µs {load_ms:>7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
