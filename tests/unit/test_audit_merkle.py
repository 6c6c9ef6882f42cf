"""The Merkle tree's own guarantees, beyond the shared vectors: every proof the hub makes verifies, every
changed byte of a proof fails, and the three ways to compute a root agree with the RFC's recursion."""

from __future__ import annotations

import hashlib

import pytest

from lienthong.audit import merkle
from lienthong.errors import ProofError


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 written as the RFC states it, as the reference."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


LEAVES = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(70)]


def test_roots_agree_with_the_rfc_recursion_at_every_size() -> None:
    tree = merkle.MerkleTree(LEAVES)
    acc = merkle.CompactRange()
    for n in range(len(LEAVES) + 1):
        expected = _mth(LEAVES[:n])
        assert acc.root() == expected
        assert tree.root(n) == expected
        assert merkle.root(LEAVES[:n]) == expected
        assert merkle.MerkleTree(LEAVES[:n]).root() == expected
        if n < len(LEAVES):
            acc.append(LEAVES[n])


def test_every_inclusion_proof_verifies_and_fails_for_another_leaf_or_index() -> None:
    tree = merkle.MerkleTree(LEAVES)
    for n in range(1, 40):
        root = tree.root(n)
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            merkle.verify_inclusion(i, n, LEAVES[i], proof, root)
            with pytest.raises(ProofError):
                merkle.verify_inclusion(i, n, LEAVES[i + 1], proof, root)
            if n > 1:
                with pytest.raises(ProofError):
                    merkle.verify_inclusion((i + 1) % n, n, LEAVES[i], proof, root)
    assert merkle.inclusion_proof(5, LEAVES[:9]) == tree.inclusion_proof(5, 9)


def test_every_consistency_proof_verifies_and_a_wrong_root_fails() -> None:
    tree = merkle.MerkleTree(LEAVES)
    for n in range(0, 40):
        for m in range(0, n + 1):
            proof = tree.consistency_proof(m, n)
            merkle.verify_consistency(m, n, tree.root(m), tree.root(n), proof)
            if 0 < m < n:
                with pytest.raises(ProofError):
                    merkle.verify_consistency(m, n, tree.root(m - 1), tree.root(n), proof)
                with pytest.raises(ProofError):
                    merkle.verify_consistency(m, n, tree.root(m), tree.root(n - 1), proof)
    assert merkle.consistency_proof(3, LEAVES[:7]) == tree.consistency_proof(3, 7)


@pytest.mark.parametrize(("m", "n", "index"), [(13, 37, 21), (16, 33, 5), (1, 2, 1)])
def test_any_flipped_bit_in_a_proof_fails(m: int, n: int, index: int) -> None:
    tree = merkle.MerkleTree(LEAVES)
    inclusion = tree.inclusion_proof(index, n)
    consistency = tree.consistency_proof(m, n)
    for which in range(len(inclusion)):
        bad = list(inclusion)
        bad[which] = bytes([bad[which][0] ^ 1]) + bad[which][1:]
        with pytest.raises(ProofError, match="root"):
            merkle.verify_inclusion(index, n, LEAVES[index], bad, tree.root(n))
    for which in range(len(consistency)):
        bad = list(consistency)
        bad[which] = bad[which][:31] + bytes([bad[which][31] ^ 0x80])
        with pytest.raises(ProofError):
            merkle.verify_consistency(m, n, tree.root(m), tree.root(n), bad)


def test_a_proof_of_the_wrong_length_is_refused_for_its_shape() -> None:
    tree = merkle.MerkleTree(LEAVES)
    proof = tree.inclusion_proof(3, 20)
    with pytest.raises(ProofError) as short:
        merkle.verify_inclusion(3, 20, LEAVES[3], proof[:-1], tree.root(20))
    assert short.value.reason == "proof-length"
    with pytest.raises(ProofError) as long:
        merkle.verify_inclusion(3, 20, LEAVES[3], [*proof, proof[0]], tree.root(20))
    assert long.value.reason == "proof-length"
    with pytest.raises(ProofError) as size:
        merkle.verify_inclusion(3, 20, LEAVES[3], [p[:31] for p in proof], tree.root(20))
    assert size.value.reason == "hash-size"


def test_the_compact_range_resumes_from_its_state() -> None:
    first = merkle.CompactRange()
    first.extend(LEAVES[:45])
    state = first.state()
    assert state.size == 45 and len(state.hashes) == bin(45).count("1")
    resumed = merkle.CompactRange(state)
    resumed.extend(LEAVES[45:])
    assert resumed.size == len(LEAVES)
    assert resumed.root() == _mth(LEAVES)
    with pytest.raises(ProofError, match="compact range"):
        merkle.CompactRange(merkle.CompactState(45, state.hashes[:-1]))


def test_sizes_out_of_range_are_refused() -> None:
    tree = merkle.MerkleTree(LEAVES[:5])
    with pytest.raises(ProofError):
        tree.root(6)
    with pytest.raises(ProofError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ProofError):
        tree.consistency_proof(6)
    with pytest.raises(ProofError):
        merkle.verify_consistency(6, 5, tree.root(), tree.root(), [])
    with pytest.raises(ProofError):
        merkle.MerkleTree([b"short"])
