"""Audit bundles: written from plain data, verified with nothing but the zip, and failing — naming the
part — when any byte changes, whether flipped in place or rewritten by someone who re-zips it carefully."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from lienthong.audit import merkle
from lienthong.audit.bundle import (
    MANIFEST,
    BundleEntry,
    BundleReport,
    _canonical,
    _sha256,
    _zip,
    select_heads,
    verify_bundle,
    write_bundle,
)
from lienthong.audit.heads import SignedHead, TreeHead, certificate_fingerprint, sign_head
from lienthong.audit.timestamps import build_request
from lienthong.devtools.simulator.tsa import DevTsa
from lienthong.errors import BundleError
from tests.audit_support import self_signed

T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def _entry(i: int) -> bytes:
    dossier = "000.00.00.H01-261130-0001" if i % 3 == 0 else f"other-{i}"
    body = {
        "at": f"2026-11-30T08:{i:02d}:00Z",
        "dossier_code": dossier,
        "kind": "message-in",
        "leaf_index": i,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Log:
    """A log of 20 entries with heads at sizes 5, 12 and 20, each timestamped by a dev TSA."""

    entries: list[bytes]
    tree: merkle.MerkleTree
    heads: list[SignedHead]
    tokens: dict[bytes, bytes]
    tsa: DevTsa
    hub_fingerprint: str


@pytest.fixture(scope="module")
def log() -> Log:
    key, cert = self_signed("Hub audit heads")
    entries = [_entry(i) for i in range(20)]
    tree = merkle.MerkleTree([merkle.leaf_hash(e) for e in entries])
    tsa = DevTsa.create()
    heads: list[SignedHead] = []
    tokens: dict[bytes, bytes] = {}
    previous = None
    for n, size in enumerate((5, 12, 20)):
        head = TreeHead(size=size, root=tree.root(size), at=T0 + dt.timedelta(minutes=n), previous=previous)
        heads.append(sign_head(head, key, cert))
        tokens[head.hash()] = tsa.respond(build_request(head.hash()))
        previous = head.hash()
    fingerprint = certificate_fingerprint(cert.public_bytes(Encoding.DER))
    return Log(entries, tree, heads, tokens, tsa, fingerprint)


DOSSIER_ENTRIES = [0, 3, 6, 9, 12, 15, 18]


def _write(log: Log, path: Path) -> Path:
    chosen = select_heads(log.heads, DOSSIER_ENTRIES)
    write_bundle(
        path,
        entries=[BundleEntry(i, log.entries[i]) for i in DOSSIER_ENTRIES],
        heads=chosen,
        tree=log.tree,
        timestamps=log.tokens,
        tsa_certificates=[log.tsa.certificate, log.tsa.root],
        subject={"dossier_code": "000.00.00.H01-261130-0001"},
        created_at=T0 + dt.timedelta(hours=1),
    )
    return path


@pytest.fixture
def bundle(log: Log, tmp_path: Path) -> Path:
    return _write(log, tmp_path / "bundle.zip")


def test_a_bundle_verifies_alone_in_an_empty_directory(
    log: Log, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = tmp_path / "auditor"
    alone.mkdir()
    copy = alone / "bundle.zip"
    copy.write_bytes(bundle.read_bytes())
    monkeypatch.chdir(alone)
    monkeypatch.delenv("HUB_CONFIG", raising=False)
    report = verify_bundle(copy, hub=frozenset({log.hub_fingerprint}), tsa_roots=[log.tsa.root])
    assert report.ok, report.problems
    assert [e.leaf_index for e in report.entries] == DOSSIER_ENTRIES
    assert report.entries[0].kind == "message-in"
    assert [h.size for h in report.heads] == [5, 12, 20]
    assert all(h.timestamp is not None and "dev TSA" in h.timestamp.tsa for h in report.heads)
    assert report.subject == {"dossier_code": "000.00.00.H01-261130-0001"}
    assert report.hub_fingerprints == {log.hub_fingerprint}
    # Unpinned, it still verifies, and says so.
    unpinned = verify_bundle(copy)
    assert unpinned.ok and not unpinned.hub_pinned and not unpinned.tsa_pinned


def test_the_same_data_gives_the_same_bytes(log: Log, bundle: Path, tmp_path: Path) -> None:
    assert _write(log, tmp_path / "again.zip").read_bytes() == bundle.read_bytes()


def test_select_heads_takes_the_first_head_covering_each_entry_and_the_newest(log: Log) -> None:
    assert [h.head.size for h in select_heads(log.heads, [13])] == [20]
    assert [h.head.size for h in select_heads(log.heads, [0, 13])] == [5, 20]
    assert [h.head.size for h in select_heads(log.heads, [5, 11])] == [12, 20]
    with pytest.raises(BundleError, match="not covered"):
        select_heads(log.heads, [20])


def _members(bundle: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(bundle) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def _what(report: BundleReport) -> list[str]:
    assert not report.ok
    return [p.what for p in report.problems]


def test_a_byte_flipped_in_any_member_fails_naming_the_member(bundle: Path, log: Log) -> None:
    raw = bundle.read_bytes()
    with zipfile.ZipFile(bundle) as archive:
        infos = archive.infolist()
    hub_cert = f"certificates/hub-{log.hub_fingerprint}.pem"
    expected = {
        "manifest.json": "manifest",
        "entries/000000000009.json": "entry 9",
        "proofs/inclusion/000000000009.json": "inclusion proof of entry 9",
        "heads/0001.json": "head 1",
        "timestamps/0001.tsr": "timestamp of head 1",
        "proofs/consistency/0000-0001.json": "consistency proof from head 0 to head 1",
        hub_cert: f"hub certificate {hub_cert}",
    }
    seen = set()
    for info in infos:
        if info.filename not in expected:
            continue
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        for offset in (start, start + info.file_size // 2, start + info.file_size - 1):
            changed = bytearray(raw)
            changed[offset] ^= 0x04
            bundle.write_bytes(bytes(changed))
            assert _what(verify_bundle(bundle)) == [expected[info.filename]], (info.filename, offset)
        seen.add(info.filename)
    assert seen == set(expected)


def test_any_flipped_byte_anywhere_fails(bundle: Path) -> None:
    raw = bundle.read_bytes()
    step = max(1, len(raw) // 400)
    for offset in [*range(0, len(raw), step), len(raw) - 1]:
        changed = bytearray(raw)
        changed[offset] ^= 0x01
        bundle.write_bytes(bytes(changed))
        assert not verify_bundle(bundle).ok, offset


def test_the_zip_around_the_files_is_checked_too(bundle: Path) -> None:
    raw = bytearray(bundle.read_bytes())
    raw[10] ^= 0x01  # the first member's modification time: no content changes
    bundle.write_bytes(bytes(raw))
    report = verify_bundle(bundle)
    assert _what(report) == ["zip container"]
    assert "byte 10" in report.problems[0].message


def _rezip(bundle: Path, name: str, change: Callable[[bytes], bytes], *, manifest: bool = True) -> None:
    """Rewrite one member as a careful forger would: new bytes, the manifest's hash updated, re-zipped."""
    members = dict(_members(bundle))
    members[name] = change(members[name])
    if manifest and name != MANIFEST:
        body = json.loads(members[MANIFEST])
        body["files"][name] = _sha256(members[name])
        members[MANIFEST] = _canonical(body)
    order = [MANIFEST, *sorted(n for n in members if n != MANIFEST)]
    bundle.write_bytes(_zip([(n, members[n]) for n in order]))


def _json_change(update: Callable[[dict[str, object]], None]) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        body = json.loads(data)
        update(body)
        return _canonical(body)

    return change


def _flip_hex(field: str, at: int = 10) -> Callable[[dict[str, object]], None]:
    def update(body: dict[str, object]) -> None:
        value = str(body[field])
        body[field] = value[:at] + ("1" if value[at] != "1" else "2") + value[at + 1 :]

    return update


def test_a_rewritten_entry_fails_its_inclusion_proof(bundle: Path) -> None:
    _rezip(bundle, "entries/000000000006.json", lambda d: d.replace(b'"message-in"', b'"message-ix"'))
    report = verify_bundle(bundle)
    assert _what(report) == ["entry 6"]
    assert "not in the signed log" in report.problems[0].message


def test_a_rewritten_inclusion_proof_fails(bundle: Path) -> None:
    def update(body: dict[str, object]) -> None:
        hashes = list(body["hashes"])  # type: ignore[call-overload]
        hashes[1] = "00" * 32
        body["hashes"] = hashes

    _rezip(bundle, "proofs/inclusion/000000000012.json", _json_change(update))
    assert _what(verify_bundle(bundle)) == ["entry 12"]


def test_a_rewritten_head_fails_its_signature(bundle: Path) -> None:
    def update(body: dict[str, object]) -> None:
        body["head"] = str(body["head"]).replace('"size":12', '"size":13')

    _rezip(bundle, "heads/0001.json", _json_change(update))
    report = verify_bundle(bundle)
    assert "signature of head 1" in _what(report)


def test_a_rewritten_signature_fails(bundle: Path) -> None:
    _rezip(bundle, "heads/0002.json", _json_change(_flip_hex("signature")))
    assert _what(verify_bundle(bundle))[0] == "signature of head 2"


def test_a_rewritten_certificate_in_a_head_fails(bundle: Path) -> None:
    _rezip(bundle, "heads/0000.json", _json_change(_flip_hex("certificate", at=600)))
    assert _what(verify_bundle(bundle))[0] in {"certificate of head 0", "signature of head 0"}


def test_a_rewritten_hub_certificate_file_fails(bundle: Path, log: Log) -> None:
    name = f"certificates/hub-{log.hub_fingerprint}.pem"
    _, other = self_signed("Someone else")
    _rezip(bundle, name, lambda _: other.public_bytes(Encoding.PEM))
    assert _what(verify_bundle(bundle))[0] == f"hub certificate {name}"


def test_a_rewritten_timestamp_token_fails(bundle: Path, log: Log) -> None:
    head_hash = log.heads[1].head.hash()
    _rezip(bundle, "timestamps/0001.tsr", lambda t: t.replace(head_hash, bytes(32)))
    report = verify_bundle(bundle)
    assert _what(report) == ["timestamp of head 1"]


def test_a_token_for_another_head_fails(bundle: Path, log: Log) -> None:
    other = log.tokens[log.heads[0].head.hash()]
    _rezip(bundle, "timestamps/0001.tsr", lambda _: other)
    assert _what(verify_bundle(bundle)) == ["timestamp of head 1"]


def test_a_rewritten_consistency_proof_fails(bundle: Path) -> None:
    def update(body: dict[str, object]) -> None:
        hashes = list(body["hashes"])  # type: ignore[call-overload]
        hashes[0] = "11" * 32
        body["hashes"] = hashes

    _rezip(bundle, "proofs/consistency/0001-0002.json", _json_change(update))
    assert _what(verify_bundle(bundle)) == ["consistency proof from head 1 to head 2"]


def test_a_rewritten_manifest_fails(bundle: Path) -> None:
    def update(body: dict[str, object]) -> None:
        entries = list(body["entries"])  # type: ignore[call-overload]
        entries[2] = {**entries[2], "leaf_index": 7}
        body["entries"] = entries

    _rezip(bundle, MANIFEST, _json_change(update))
    assert "entry 7" in _what(verify_bundle(bundle))


def test_a_removed_or_added_file_fails(bundle: Path) -> None:
    members = _members(bundle)
    without = [(n, d) for n, d in members if n != "entries/000000000003.json"]
    bundle.write_bytes(_zip(without))
    assert _what(verify_bundle(bundle)) == ["entry 3"]
    bundle.write_bytes(_zip([*members, ("notes.txt", b"hello")]))
    assert _what(verify_bundle(bundle)) == ["notes.txt"]


def test_pins_decide_who_is_trusted(bundle: Path, log: Log) -> None:
    report = verify_bundle(bundle, hub=frozenset({"ab" * 32}))
    assert set(_what(report)) == {"certificate of head 0", "certificate of head 1", "certificate of head 2"}
    stranger = DevTsa.create("Another TSA")
    report = verify_bundle(bundle, tsa_roots=[stranger.root])
    assert set(_what(report)) == {"timestamp of head 0", "timestamp of head 1", "timestamp of head 2"}


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK\x03\x04 nothing")
    assert _what(verify_bundle(path)) == ["bundle"]
    path.write_bytes(_zip([("other.json", b"{}")]))
    assert _what(verify_bundle(path)) == ["manifest"]


def test_the_writer_refuses_what_would_not_verify(log: Log, tmp_path: Path) -> None:
    wrong = BundleEntry(3, log.entries[4])
    with pytest.raises(BundleError, match="not the log's leaf"):
        write_bundle(tmp_path / "b.zip", entries=[wrong], heads=log.heads, tree=log.tree)
    other_tree = merkle.MerkleTree([merkle.leaf_hash(b"x")] * 20)
    with pytest.raises(BundleError, match="does not match the log"):
        write_bundle(tmp_path / "b.zip", entries=[], heads=log.heads, tree=other_tree)


@pytest.mark.parametrize(
    "garble",
    [
        lambda m: m.update(entries="nope"),
        lambda m: m.update(entries=[{"leaf_index": "x", "file": 3, "proof": None}]),
        lambda m: m.update(heads=[]),
        lambda m: m.update(heads=[7]),
        lambda m: m.update(consistency=[{"from": "a", "to": 9, "file": "proofs/consistency/0000-0001.json"}]),
        lambda m: m.update(certificates={"hub": "x"}),
        lambda m: m.update(files=[1, 2]),
        lambda m: m.pop("subject"),
        lambda m: m.update(format="something else"),
    ],
)
def test_a_garbled_manifest_is_a_named_failure_not_a_crash(
    bundle: Path, garble: Callable[[dict[str, object]], object]
) -> None:
    _rezip(bundle, MANIFEST, _json_change(garble))  # type: ignore[arg-type]
    assert "manifest" in _what(verify_bundle(bundle))


def test_a_compressed_member_is_refused_unread(bundle: Path) -> None:
    members = _members(bundle)
    out = Path(str(bundle) + ".deflated")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    report = verify_bundle(out)
    assert "manifest" in _what(report) and "compressed" in report.problems[0].message
