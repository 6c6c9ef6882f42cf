"""The auditor's Merkle tree: RFC 6962 / RFC 9162 hashing, roots, proofs and their verification.

Why these exact rules: an auditor checks the hub's record with tools the hub did not write (any RFC 9162
verifier, e.g. the transparency-dev Go library), so hashing is the standard's to the byte — SHA-256,
``leaf = H(0x00 || entry)``, ``node = H(0x01 || left || right)``, the empty tree ``H("")`` — and the
conformance vectors of ../shared/testdata/merkle decide what a verifier accepts.

Three shapes, for three costs:

* :class:`CompactRange` appends one leaf in amortised O(1) hashes and keeps only O(log n) hashes, so the
  sealer and ``hub audit verify`` go through a million entries without holding the tree; its
  :meth:`~CompactRange.state` can be stored and resumed.
* :class:`MerkleTree` keeps every level of the perfect subtrees (32 bytes per node, packed), so roots at any
  earlier size and proofs cost O(log² n) hashes once it is built: what ``hub audit export`` needs.
* The module functions (:func:`root`, :func:`inclusion_proof`, :func:`consistency_proof`) are the one-shot
  forms over a list of leaf hashes; :func:`verify_inclusion` and :func:`verify_consistency` are the RFC 9162
  §2.1.3.2 / §2.1.4.2 algorithms and need nothing but the proof.

This module touches no database and no configuration: a bundle verifier on an auditor's machine uses it as is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lienthong.errors import ProofError

HASH_SIZE = 32
#: The root of the empty tree, SHA-256 of no bytes.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The hash of one entry as a leaf: ``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# ---------------------------------------------------------------- the accumulator


@dataclass(frozen=True)
class CompactState:
    """What a :class:`CompactRange` needs to resume: the size and the roots of its perfect subtrees, the
    largest (leftmost) first — one per set bit of ``size``."""

    size: int
    hashes: tuple[bytes, ...]


class CompactRange:
    """An append-only Merkle accumulator: the roots of the perfect subtrees covering leaves ``[0, size)``.

    Appending merges equal-sized neighbours as a binary counter carries, so a million appends cost about
    two million SHA-256 calls in all and the state stays at one hash per set bit of the size.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, state: CompactState | None = None) -> None:
        if state is None:
            self._size = 0
            self._hashes: list[bytes] = []
            return
        if state.size < 0 or len(state.hashes) != state.size.bit_count():
            raise ProofError(
                f"a compact range of size {state.size} has {state.size.bit_count()} hashes,"
                f" not {len(state.hashes)}",
                reason="compact-range-shape",
            )
        if any(len(h) != HASH_SIZE for h in state.hashes):
            raise ProofError("a compact range hash is not 32 bytes", reason="hash-size")
        self._size = state.size
        self._hashes = list(state.hashes)

    @property
    def size(self) -> int:
        return self._size

    def state(self) -> CompactState:
        return CompactState(self._size, tuple(self._hashes))

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (see :func:`leaf_hash`)."""
        hashes = self._hashes
        size = self._size
        node = leaf
        while size & 1:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            size >>= 1
        hashes.append(node)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes; the loop is inlined: this is the sealer's and the verifier's hot path."""
        hashes = self._hashes
        pop = hashes.pop
        push = hashes.append
        count = self._size
        for leaf in leaves:
            size = count
            node = leaf
            while size & 1:
                node = _sha256(b"\x01" + pop() + node).digest()
                size >>= 1
            push(node)
            count += 1
        self._size = count

    def root(self) -> bytes:
        """The tree head's root hash at the current size (``EMPTY_ROOT`` when empty)."""
        if not self._hashes:
            return EMPTY_ROOT
        hashes = self._hashes
        acc = hashes[-1]
        for h in reversed(hashes[:-1]):
            acc = _sha256(b"\x01" + h + acc).digest()
        return acc


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    """The Merkle tree hash (RFC 9162 §2.1.1) over leaf hashes, in O(n) time and O(log n) memory."""
    acc = CompactRange()
    acc.extend(leaf_hashes)
    return acc.root()


# ---------------------------------------------------------------- the whole tree, for proofs


class MerkleTree:
    """Every perfect subtree's hash over a list of leaf hashes, so any earlier root and any proof is cheap.

    Level 0 is the caller's list (not copied); each higher level is one packed ``bytes`` (32 bytes a node),
    so a million leaves add 32 MB. Proofs and roots at any size ``≤ len(leaves)`` are the RFC 9162 §2.1
    recursions, where every left part is a perfect subtree read from a level and only the right edge is
    hashed: O(log² n) per call.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._leaves = leaf_hashes
        self._levels: list[bytes] = []
        size = len(leaf_hashes)
        if any(len(h) != HASH_SIZE for h in leaf_hashes):
            raise ProofError("a leaf hash is not 32 bytes", reason="hash-size")
        if size >= 2:
            level = b"".join(leaf_hashes[: size & ~1])
            while len(level) >= 2 * HASH_SIZE:
                count = len(level) // HASH_SIZE // 2
                level = b"".join(
                    _sha256(b"\x01" + level[i : i + 2 * HASH_SIZE]).digest()
                    for i in range(0, count * 2 * HASH_SIZE, 2 * HASH_SIZE)
                )
                self._levels.append(level)

    @property
    def size(self) -> int:
        return len(self._leaves)

    def _perfect(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of 2**height leaves starting at leaf ``index << height``."""
        if height == 0:
            return self._leaves[index]
        offset = index * HASH_SIZE
        return self._levels[height - 1][offset : offset + HASH_SIZE]

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range the RFC recursion produces (``start`` aligned to the left parts)."""
        n = end - start
        if n & (n - 1) == 0:
            height = n.bit_length() - 1
            return self._perfect(height, start >> height)
        k = _largest_power_of_two_below(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is beyond the {self.size} leaves known", reason="size-range")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root hash over the first ``size`` leaves (all of them by default)."""
        n = self._check_size(size)
        return EMPTY_ROOT if n == 0 else self._subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3.1), leaf first."""
        n = self._check_size(size)
        if not 0 <= index < n:
            raise ProofError(f"leaf {index} is not in a tree of {n} leaves", reason="index-range")
        path: list[bytes] = []
        start, end, m = 0, n, index
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if m < k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
                m -= k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """The proof that the tree of ``old_size`` leaves is a prefix of the tree of ``size`` (RFC 9162
        §2.1.4.1); empty when ``old_size`` is 0 or equals ``size``."""
        n = self._check_size(size)
        if not 0 <= old_size <= n:
            raise ProofError(f"old size {old_size} is beyond the new size {n}", reason="size-range")
        if old_size in (0, n):
            return []
        proof: list[bytes] = []
        start, end, m, whole = 0, n, old_size, True
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
                m -= k
                whole = False
        if not whole:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree over all ``leaf_hashes``."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The consistency proof from the tree of ``old_size`` leaves to the tree over all ``leaf_hashes``."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


# ---------------------------------------------------------------- verification (RFC 9162)


def _check_hashes(proof: Sequence[bytes], *named: tuple[str, bytes]) -> None:
    for name, value in named:
        if len(value) != HASH_SIZE:
            raise ProofError(f"the {name} is {len(value)} bytes, not 32", reason="hash-size")
    for i, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise ProofError(f"proof hash {i} is {len(value)} bytes, not 32", reason="hash-size")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1–3), or :class:`ProofError` when its
    shape cannot fit a tree of that size."""
    _check_hashes(proof, ("leaf hash", leaf))
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves", reason="index-range")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep", reason="proof-length")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep", reason="proof-length")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes) -> None:
    """Check that ``leaf`` is leaf ``index`` of the tree of ``size`` leaves whose root is ``root_hash``;
    raise :class:`ProofError` saying why not."""
    _check_hashes((), ("root", root_hash))
    if root_from_inclusion_proof(index, size, leaf, proof) != root_hash:
        raise ProofError(
            f"leaf {index} with its proof does not lead to the root of the tree of {size} leaves",
            reason="root-mismatch",
        )


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root_hash: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``old_size`` leaves with root ``old_root`` is a prefix of the tree of ``size``
    leaves with root ``root_hash`` (RFC 9162 §2.1.4.2); raise :class:`ProofError` saying why not."""
    _check_hashes(proof, ("old root", old_root), ("new root", root_hash))
    if not 0 <= old_size <= size:
        raise ProofError(f"old size {old_size} is larger than new size {size}", reason="size-range")
    if old_size == size:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof", reason="proof-length")
        if old_root != root_hash:
            raise ProofError(f"two different roots for the same size {size}", reason="root-mismatch")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty", reason="proof-length")
        return
    if not proof:
        raise ProofError("the consistency proof is empty", reason="proof-length")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long", reason="proof-length")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short", reason="proof-length")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the old root (size {old_size})", reason="root-mismatch")
    if sr != root_hash:
        raise ProofError(f"the proof does not lead to the new root (size {size})", reason="root-mismatch")
