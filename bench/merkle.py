#!/usr/bin/env python3
"""The auditor's proofs at scale, without a database: what the Merkle tree, the heads, the timestamps
and the bundles cost over a log of a million entries.

    python bench/merkle.py [--leaves 1000000] [--proofs 2000] [--json out.json]

1. **leaf hashes**: SHA-256(0x00 || entry) over ``--leaves`` entries of ~400 bytes (the size of a sealed
   entry), per second;
2. **accumulator**: ``CompactRange.extend`` over those leaf hashes (what the sealer and ``hub audit
   verify`` do), leaves per second, and the root;
3. **tree**: building ``MerkleTree`` (every perfect subtree's hash, for proofs) and its memory;
4. **proofs**: ``--proofs`` inclusion proofs at random leaves and as many consistency proofs between
   random sizes, generated and verified, microseconds each;
5. **heads**: signing and verifying a tree head (RSA-2048, PKCS#1 v1.5, SHA-256);
6. **timestamps**: a token from the TSA simulator, and verifying it with rfc3161-client;
7. **bundle**: writing and verifying (offline) a bundle of one dossier's entries over the whole log.

CPU time of this process (``time.process_time``), one core. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lienthong.audit import merkle  # noqa: E402
from lienthong.audit.bundle import BundleEntry, select_heads, verify_bundle, write_bundle  # noqa: E402
from lienthong.audit.heads import TreeHead, sign_head, verify_head  # noqa: E402
from lienthong.audit.timestamps import build_request, verify_timestamp  # noqa: E402
from lienthong.devtools.simulator.tsa import DevTsa  # noqa: E402
from tests.audit_support import self_signed  # noqa: E402


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    value = fn()
    return value, time.process_time() - start


def _entry(i: int) -> bytes:
    body = {
        "at": f"2026-11-30T08:00:{i % 60:02d}.000000Z",
        "dossier_code": f"000.00.00.H49-261130-{i // 3:07d}",
        "kind": ("message-in", "route", "delivery-attempt")[i % 3],
        "leaf_index": i,
        "message_id": f"{i // 3:032x}",
        "payload": {"sha256": f"{i:064x}", "size": 4096},
        "sender": "000.00.00.H49",
        "procedure": "1.004227",
        "agency": "000.00.00.G12",
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _tree_costs(results: dict[str, Any], entries: list[bytes], proofs: int, rng: random.Random) -> Any:
    n = len(entries)
    leaves, t = _cpu(lambda: [merkle.leaf_hash(e) for e in entries])
    results["leaf_hash_per_s"] = n / t

    def accumulate() -> bytes:
        acc = merkle.CompactRange()
        acc.extend(leaves)
        return acc.root()

    root, t = _cpu(accumulate)
    results["accumulator_leaves_per_s"] = n / t
    results["accumulator_s"] = t

    def one_by_one() -> bytes:
        acc = merkle.CompactRange()
        for leaf in leaves:
            acc.append(leaf)
        return acc.root()

    again, t = _cpu(one_by_one)
    assert again == root
    results["append_one_leaves_per_s"] = n / t

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tree, t = _cpu(lambda: merkle.MerkleTree(leaves))
    results["tree_build_s"] = t
    results["tree_levels_mb"] = sum(map(len, tree._levels)) / 1e6
    results["max_rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert tree.root() == root

    indices = [rng.randrange(n) for _ in range(proofs)]
    made, t = _cpu(lambda: [tree.inclusion_proof(i) for i in indices])
    results["inclusion_proof_us"] = t / len(indices) * 1e6
    results["inclusion_proof_hashes"] = sum(map(len, made)) / len(made)

    def verify_all() -> None:
        for i, proof in zip(indices, made, strict=True):
            merkle.verify_inclusion(i, n, leaves[i], proof, root)

    _, t = _cpu(verify_all)
    results["verify_inclusion_us"] = t / len(indices) * 1e6

    pairs = sorted((rng.randrange(1, n), n) for _ in range(proofs // 4))
    roots = {m: tree.root(m) for m, _ in pairs}
    cons, t = _cpu(lambda: [tree.consistency_proof(m, k) for m, k in pairs])
    results["consistency_proof_us"] = t / len(pairs) * 1e6

    def verify_cons() -> None:
        for (m, k), proof in zip(pairs, cons, strict=True):
            merkle.verify_consistency(m, k, roots[m], root, proof)

    _, t = _cpu(verify_cons)
    results["verify_consistency_us"] = t / len(pairs) * 1e6
    return tree


def _head_and_bundle_costs(results: dict[str, Any], entries: list[bytes], tree: merkle.MerkleTree) -> None:
    n = len(entries)
    key, cert = self_signed("bench heads")
    head = TreeHead(size=n, root=tree.root(), at=dt.datetime.now(dt.UTC))
    signed, t = _cpu(lambda: [sign_head(head, key, cert) for _ in range(100)][-1])
    results["head_sign_ms"] = t / 100 * 1e3
    _, t = _cpu(lambda: [verify_head(signed) for _ in range(100)])
    results["head_verify_ms"] = t / 100 * 1e3

    tsa = DevTsa.create()
    token, t = _cpu(lambda: [tsa.respond(build_request(head.hash())) for _ in range(50)][-1])
    results["tsa_simulator_token_ms"] = t / 50 * 1e3
    _, t = _cpu(
        lambda: [
            verify_timestamp(token, digest=head.hash(), roots=[tsa.root], tsa_certificate=tsa.certificate)
            for _ in range(50)
        ]
    )
    results["timestamp_verify_ms"] = t / 50 * 1e3

    # One dossier (3 entries) under three heads (at a third, two thirds and the whole log).
    heads = []
    previous = None
    for size in (n // 3, 2 * n // 3, n):
        h = TreeHead(size=size, root=tree.root(size), at=dt.datetime.now(dt.UTC), previous=previous)
        heads.append(sign_head(h, key, cert))
        previous = h.hash()
    dossier = [3 * (n // 9) + k for k in range(3)]
    tokens = {h.head.hash(): tsa.respond(build_request(h.head.hash())) for h in heads}
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bundle.zip"

        def write() -> None:
            write_bundle(
                path,
                entries=[BundleEntry(i, entries[i]) for i in dossier],
                heads=select_heads(heads, dossier),
                tree=tree,
                timestamps=tokens,
                tsa_certificates=[tsa.certificate, tsa.root],
                subject={"dossier_code": "bench"},
            )

        _, t = _cpu(write)
        results["bundle_write_ms"] = t * 1e3
        results["bundle_bytes"] = path.stat().st_size
        report, t = _cpu(lambda: verify_bundle(path))
        assert report.ok, report.problems
        results["bundle_verify_ms"] = t * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"leaves": args.leaves}
    entries = [_entry(i) for i in range(args.leaves)]
    results["entry_bytes_mean"] = sum(map(len, entries)) / len(entries)
    tree = _tree_costs(results, entries, args.proofs, random.Random(6962))
    _head_and_bundle_costs(results, entries, tree)
    width = max(map(len, results))
    for name, value in results.items():
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        print(f"{name:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
