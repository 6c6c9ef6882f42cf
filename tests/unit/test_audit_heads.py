"""Signed tree heads: canonical bytes an outside tool can recompute, signatures that fail on any change,
and the chain from each head to the one before."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from lienthong.audit import merkle
from lienthong.audit.heads import (
    SignedHead,
    TreeHead,
    certificate_fingerprint,
    sign_head,
    verify_head,
    verify_head_follows,
)
from lienthong.errors import TreeHeadError
from tests.audit_support import self_signed

AT = dt.datetime(2026, 11, 30, 21, 0, 0, 123456, tzinfo=dt.UTC)
ROOT = merkle.root([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")])


def test_canonical_bytes_are_sorted_compact_json_and_hash_to_the_head_hash() -> None:
    head = TreeHead(size=2, root=ROOT, at=AT.astimezone(dt.timezone(dt.timedelta(hours=7))))
    data = head.canonical()
    assert data == (
        b'{"at":"2026-11-30T21:00:00.123456Z","format":"lienthong-tree-head/1","previous":null,'
        b'"root":"' + ROOT.hex().encode() + b'","size":2}'
    )
    assert json.loads(data)["size"] == 2
    assert head.hash() == hashlib.sha256(data).digest()
    assert TreeHead.from_canonical(data) == head


def test_non_canonical_spellings_are_refused() -> None:
    data = TreeHead(size=2, root=ROOT, at=AT).canonical()
    with pytest.raises(TreeHeadError) as spaced:
        TreeHead.from_canonical(data.replace(b",", b", "))
    assert spaced.value.reason == "not-canonical"
    with pytest.raises(TreeHeadError) as upper:
        TreeHead.from_canonical(data.replace(ROOT.hex().encode(), ROOT.hex().upper().encode()))
    assert upper.value.reason == "not-canonical"
    with pytest.raises(TreeHeadError, match="unreadable"):
        TreeHead.from_canonical(data.replace(b"tree-head/1", b"tree-head/2"))
    with pytest.raises(TreeHeadError, match="time zone"):
        TreeHead(size=2, root=ROOT, at=AT.replace(tzinfo=None))


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a_signed_head_verifies_and_any_changed_byte_fails(kind: str) -> None:
    key, cert = self_signed("hub audit", kind=kind)
    signed = sign_head(TreeHead(size=2, root=ROOT, at=AT), key, cert)
    assert signed.algorithm == ("rsa-pkcs1v15-sha256" if kind == "rsa" else "ecdsa-sha256")
    assert verify_head(signed) == cert
    again = SignedHead.from_json(json.loads(json.dumps(signed.to_json())))
    assert again == signed
    verify_head(again, trusted_fingerprints=frozenset({certificate_fingerprint(signed.certificate)}))

    other = TreeHead(size=3, root=ROOT, at=AT)
    with pytest.raises(TreeHeadError) as changed:
        verify_head(SignedHead(other, signed.algorithm, signed.signature, signed.certificate))
    assert changed.value.reason == "signature-invalid"
    flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    with pytest.raises(TreeHeadError):
        verify_head(SignedHead(signed.head, signed.algorithm, flipped, signed.certificate))
    with pytest.raises(TreeHeadError) as untrusted:
        verify_head(signed, trusted_fingerprints=frozenset({"00" * 32}))
    assert untrusted.value.reason == "untrusted-signer"


def test_a_head_signed_by_another_key_fails_against_the_certificate_it_carries() -> None:
    key, cert = self_signed("hub audit")
    _, other_cert = self_signed("someone else")
    with pytest.raises(TreeHeadError, match="not the signing key"):
        sign_head(TreeHead(size=2, root=ROOT, at=AT), key, other_cert)
    signed = sign_head(TreeHead(size=2, root=ROOT, at=AT), key, cert)
    other_der = other_cert.public_bytes(Encoding.DER)
    swapped = SignedHead(signed.head, signed.algorithm, signed.signature, other_der)
    with pytest.raises(TreeHeadError) as exc:
        verify_head(swapped)
    assert exc.value.reason == "signature-invalid"


def test_each_head_follows_the_one_before() -> None:
    first = TreeHead(size=2, root=ROOT, at=AT)
    second = TreeHead(size=5, root=ROOT, at=AT + dt.timedelta(minutes=5), previous=first.hash())
    verify_head_follows(second, first)
    with pytest.raises(TreeHeadError) as broken:
        verify_head_follows(TreeHead(5, ROOT, second.at, previous=b"\0" * 32), first)
    assert broken.value.reason == "chain-broken"
    with pytest.raises(TreeHeadError) as shrinks:
        verify_head_follows(TreeHead(1, ROOT, second.at, previous=first.hash()), first)
    assert shrinks.value.reason == "chain-shrinks"
    with pytest.raises(TreeHeadError) as earlier:
        verify_head_follows(TreeHead(5, ROOT, AT - dt.timedelta(seconds=1), previous=first.hash()), first)
    assert earlier.value.reason == "chain-time"
