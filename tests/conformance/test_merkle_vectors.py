"""The hub's Merkle verifier against the RFC 6962 / 9162 vectors in ../shared/testdata/merkle/ (by path).

Every vector's ``wantErr`` must be what the hub's verifier decides; the tree over the eight reference
leaves must give the roots MANIFEST.md lists; the known answers of transparency-dev's hasher must match;
and the hub's own proof generator must produce exactly the proofs the happy-path vectors carry.
"""

from __future__ import annotations

import json
import re
from base64 import b64decode
from pathlib import Path
from typing import Any

import pytest

from lienthong.audit import merkle
from lienthong.errors import ProofError

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT.parent / "shared" / "testdata" / "merkle"


def _names(kind: str) -> list[str]:
    folder = VECTORS / kind
    # Without ../shared, one placeholder runs so the shared_dir fixture can say why it skips.
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else ["(../shared absent)"]


def _load(shared_dir: Path, kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_dir / "testdata" / "merkle" / kind / name).read_text())
    return data


def _b64(value: str | None) -> bytes:
    return b64decode(value) if value else b""


@pytest.mark.parametrize("name", _names("inclusion"))
def test_inclusion_vector(shared_dir: Path, name: str) -> None:
    v = _load(shared_dir, "inclusion", name)
    proof = [_b64(p) for p in v["proof"] or []]
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), proof, _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("name", _names("consistency"))
def test_consistency_vector(shared_dir: Path, name: str) -> None:
    v = _load(shared_dir, "consistency", name)
    proof = [_b64(p) for p in v["proof"] or []]
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


def test_every_vector_is_run(shared_dir: Path) -> None:
    """MANIFEST.md counts 38 vectors: none may be silently missed by the glob above."""
    manifest = (shared_dir / "testdata" / "merkle" / "MANIFEST.md").read_text()
    assert "All 38 re-checked" in manifest
    assert len(_names("inclusion")) + len(_names("consistency")) == 38
    wanted = [
        _load(shared_dir, kind, name)["wantErr"]
        for kind in ("inclusion", "consistency")
        for name in _names(kind)
    ]
    assert wanted.count(False) == 2 and wanted.count(True) == 36


REFERENCE_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                    "606162636465666768696a6b6c6d6e6f"]  # fmt: skip


def _manifest_roots(shared_dir: Path) -> dict[int, bytes]:
    text = (shared_dir / "testdata" / "merkle" / "MANIFEST.md").read_text()
    found = re.findall(r"size(\d+) ([A-Za-z0-9+/]{43}=)", text)
    return {int(size): b64decode(value) for size, value in found}


def test_roots_of_the_reference_tree(shared_dir: Path) -> None:
    roots = _manifest_roots(shared_dir)
    assert sorted(roots) == [1, 2, 3, 5, 6, 7, 8]
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in REFERENCE_LEAVES]
    tree = merkle.MerkleTree(leaves)
    for size, expected in roots.items():
        assert merkle.root(leaves[:size]) == expected, size
        assert tree.root(size) == expected, size
    assert merkle.root([]) == tree.root(0) == merkle.EMPTY_ROOT


def test_known_answers(shared_dir: Path) -> None:
    manifest = (shared_dir / "testdata" / "merkle" / "MANIFEST.md").read_text()
    for answer in (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    ):
        assert answer in manifest
    assert merkle.leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert merkle.node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert b64decode("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") == merkle.EMPTY_ROOT


def test_the_hub_generates_the_happy_path_proofs(shared_dir: Path) -> None:
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in REFERENCE_LEAVES]
    tree = merkle.MerkleTree(leaves)
    inc = _load(shared_dir, "inclusion", "happy-path.json")
    assert tree.inclusion_proof(inc["leafIdx"], inc["treeSize"]) == [_b64(p) for p in inc["proof"]]
    con = _load(shared_dir, "consistency", "happy-path.json")
    assert tree.consistency_proof(con["size1"], con["size2"]) == [_b64(p) for p in con["proof"]]
