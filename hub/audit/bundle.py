"""Audit bundles: a zip an auditor verifies offline — no database, no configuration, no network.

Why a bundle: an auditor should not have to trust the hub's database, its operators or even this
program's reading of them. A bundle carries the entries about one dossier (or any selection), each with
its inclusion proof against the newest signed head in the bundle; the signed heads that first covered
those entries, with consistency proofs from each head to the next, so every earlier head is proven a
prefix of the newest; the hub's certificates; and the RFC 3161 tokens dating the heads. Everything in it
is checked with merkle.py, heads.py and timestamps.py, which any RFC 6962 / RFC 3161 tool can redo.

Layout (every JSON file is canonical: sorted keys, no whitespace, UTF-8)::

    manifest.json                     format, subject, created_at, files {name: sha256}, and the sections
    entries/<leaf index>.json         an entry's exact bytes, as sealed
    proofs/inclusion/<leaf>.json      {leaf_index, tree_size, hashes} against the newest head
    heads/<n>.json                    SignedHead.to_json(), oldest first; the last one is the anchor
    proofs/consistency/<a>-<b>.json   {old_size, new_size, hashes} between consecutive heads
    timestamps/<n>.tsr                the TSA's TimeStampResp for head n, byte for byte
    certificates/hub-<sha256>.pem     the certificates that signed the heads
    certificates/tsa-<sha256>.pem     the TSA's certificates (self-signed ones are the roots)

Any changed byte fails: a member whose bytes changed fails its CRC or its SHA-256 in the manifest; a
manifest changed with it fails the proof, signature or token its part takes part in; and the zip itself
is written deterministically (stored, fixed dates and attributes, fixed order), so the verifier rebuilds it
from its members and any other byte in the container fails too. Each failure names the part.

What the bundle proves is bounded by who is trusted: the certificates inside are the bundle's own claim.
:func:`verify_bundle` takes the SHA-256 fingerprints the auditor got from the hub's operator (``hub``) and
the TSA roots they trust (``tsa_roots``); without them the report says that nothing was pinned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from lienthong.audit import merkle
from lienthong.audit.heads import SignedHead, certificate_fingerprint, verify_head
from lienthong.audit.timestamps import StampedTime, verify_timestamp
from lienthong.errors import AuditProofError, BundleError

__all__ = [
    "BUNDLE_FORMAT",
    "BundleEntry",
    "BundleReport",
    "EntryLine",
    "HeadLine",
    "Problem",
    "select_heads",
    "verify_bundle",
    "write_bundle",
]

BUNDLE_FORMAT: Final = "lienthong-audit-bundle/1"
MANIFEST: Final = "manifest.json"
_ZIP_DATE: Final = (1980, 1, 1, 0, 0, 0)
#: No member of a bundle comes near this (an entry is a few hundred bytes, a token a few kilobytes).
MAX_MEMBER: Final = 64 * 1024 * 1024


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _zip(members: Sequence[tuple[str, bytes]]) -> bytes:
    """The one way a bundle's zip is laid out, so that the verifier can rebuild it byte for byte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


# ---------------------------------------------------------------- writing


@dataclass(frozen=True)
class BundleEntry:
    """One log entry to put in a bundle: its leaf index and its exact sealed bytes."""

    leaf_index: int
    data: bytes


def select_heads(heads: Sequence[SignedHead], leaf_indices: Iterable[int]) -> list[SignedHead]:
    """The heads a bundle needs: for each entry the first head that covered it (the earliest moment the hub
    committed to it, which its timestamp dates), and the newest head, which the inclusion proofs use."""
    ordered = sorted(heads, key=lambda h: (h.head.size, h.head.at))
    if not ordered:
        raise BundleError("there is no signed head to prove the entries against", reason="no-head")
    chosen = {len(ordered) - 1}
    for index in leaf_indices:
        first = next((i for i, h in enumerate(ordered) if h.head.size > index), None)
        if first is None:
            raise BundleError(
                f"entry {index} is not covered by any signed head yet",
                reason="not-covered",
                what=f"entry {index}",
            )
        chosen.add(first)
    return [ordered[i] for i in sorted(chosen)]


def write_bundle(
    path: Path,
    *,
    entries: Sequence[BundleEntry],
    heads: Sequence[SignedHead],
    tree: merkle.MerkleTree,
    timestamps: Mapping[bytes, bytes] | None = None,
    tsa_certificates: Sequence[x509.Certificate] = (),
    subject: Mapping[str, str] | None = None,
    created_at: dt.datetime | None = None,
) -> None:
    """Write a bundle from plain data: the entries, the heads to include (:func:`select_heads`), a tree over
    the log's leaf hashes (at least as large as the newest head), the stored timestamp tokens by head hash,
    and the TSA's certificate chain. Refuses to write what would not verify (a head whose root is not the
    tree's, an entry whose bytes are not its leaf)."""
    ordered = sorted(heads, key=lambda h: (h.head.size, h.head.at))
    if not ordered:
        raise BundleError("a bundle needs at least one signed head", reason="no-head")
    anchor = ordered[-1].head
    for signed in ordered:
        if tree.root(signed.head.size) != signed.head.root:
            raise BundleError(
                f"the head of size {signed.head.size} does not match the log's leaves",
                reason="root-mismatch",
                what=f"head of size {signed.head.size}",
            )
    members: dict[str, bytes] = {}
    manifest_entries = []
    for entry in sorted(entries, key=lambda e: e.leaf_index):
        if entry.leaf_index >= anchor.size:
            raise BundleError(
                f"entry {entry.leaf_index} is not covered by the newest head (size {anchor.size})",
                reason="not-covered",
                what=f"entry {entry.leaf_index}",
            )
        if tree.leaf(entry.leaf_index) != merkle.leaf_hash(entry.data):
            raise BundleError(
                f"entry {entry.leaf_index} is not the log's leaf {entry.leaf_index}",
                reason="leaf-mismatch",
                what=f"entry {entry.leaf_index}",
            )
        name = f"entries/{entry.leaf_index:012d}.json"
        proof_name = f"proofs/inclusion/{entry.leaf_index:012d}.json"
        members[name] = entry.data
        members[proof_name] = _canonical(
            {
                "leaf_index": entry.leaf_index,
                "tree_size": anchor.size,
                "hashes": [h.hex() for h in tree.inclusion_proof(entry.leaf_index, anchor.size)],
            }
        )
        manifest_entries.append({"leaf_index": entry.leaf_index, "file": name, "proof": proof_name})

    hub_certs: dict[str, bytes] = {}
    manifest_heads = []
    tokens = timestamps or {}
    for n, signed in enumerate(ordered):
        name = f"heads/{n:04d}.json"
        members[name] = _canonical(signed.to_json())
        token_name = None
        token = tokens.get(signed.head.hash())
        if token is not None:
            token_name = f"timestamps/{n:04d}.tsr"
            members[token_name] = token
        manifest_heads.append({"file": name, "timestamp": token_name})
        hub_certs[f"certificates/hub-{certificate_fingerprint(signed.certificate)}.pem"] = signed.certificate
    consistency = []
    for n in range(1, len(ordered)):
        old, new = ordered[n - 1].head, ordered[n].head
        name = f"proofs/consistency/{n - 1:04d}-{n:04d}.json"
        members[name] = _canonical(
            {
                "old_size": old.size,
                "new_size": new.size,
                "hashes": [h.hex() for h in tree.consistency_proof(old.size, new.size)],
            }
        )
        consistency.append({"from": n - 1, "to": n, "file": name})
    for name, der in hub_certs.items():
        members[name] = _pem(der)
    tsa_names = []
    for cert in tsa_certificates:
        der = cert.public_bytes(Encoding.DER)
        name = f"certificates/tsa-{certificate_fingerprint(der)}.pem"
        members[name] = _pem(der)
        tsa_names.append(name)
    manifest = {
        "format": BUNDLE_FORMAT,
        "created_at": _utc(created_at or dt.datetime.now(dt.UTC)),
        "subject": dict(subject or {}),
        "entries": manifest_entries,
        "heads": manifest_heads,
        "consistency": consistency,
        "certificates": {"hub": sorted(hub_certs), "tsa": sorted(set(tsa_names))},
        "files": {name: _sha256(data) for name, data in sorted(members.items())},
    }
    ordered_members = [(MANIFEST, _canonical(manifest)), *sorted(members.items())]
    path.write_bytes(_zip(ordered_members))


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify: ``what`` names the part (``entry 12``, ``signature of head 1``)."""

    what: str
    message: str
    reason: str = ""


@dataclass(frozen=True)
class EntryLine:
    leaf_index: int
    sha256: str
    kind: str
    at: str


@dataclass(frozen=True)
class HeadLine:
    size: int
    root: str
    at: dt.datetime
    signer: str
    timestamp: StampedTime | None


@dataclass
class BundleReport:
    """What :func:`verify_bundle` found: ``ok`` only when nothing failed."""

    path: Path
    subject: dict[str, str] = field(default_factory=dict)
    entries: list[EntryLine] = field(default_factory=list)
    heads: list[HeadLine] = field(default_factory=list)
    hub_fingerprints: set[str] = field(default_factory=set)
    tsa_roots: set[str] = field(default_factory=set)
    hub_pinned: bool = False
    tsa_pinned: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, what: str, message: str, reason: str = "") -> None:
        self.problems.append(Problem(what, message, reason))


class _Stop(Exception):
    """Nothing more can be checked (the container or the manifest is unreadable)."""


class _Reader:
    def __init__(self, path: Path, report: BundleReport) -> None:
        self.path = path
        self.report = report
        self.members: dict[str, bytes] = {}
        self.roles: dict[str, str] = {MANIFEST: "manifest"}
        self.read_members: dict[str, bytes] = {}

    def open(self) -> dict[str, Any]:
        report = self.report
        try:
            self.raw = self.path.read_bytes()
            self.archive = zipfile.ZipFile(io.BytesIO(self.raw))
            self.names = self.archive.namelist()
        except Exception as exc:  # zipfile raises many kinds on a damaged directory
            report.fail("bundle", f"not a readable zip: {exc}", "unreadable")
            raise _Stop from exc
        if len(set(self.names)) != len(self.names):
            report.fail("bundle", "a file name appears twice in the zip", "duplicate-member")
            raise _Stop
        data = self._read(MANIFEST)
        if data is None:
            raise _Stop
        try:
            manifest = json.loads(data.decode("utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
                raise ValueError(f"not a {BUNDLE_FORMAT} manifest")
        except ValueError as exc:
            report.fail("manifest", f"unreadable manifest: {exc}", "unreadable")
            raise _Stop from exc
        if _canonical(manifest) != data:
            report.fail("manifest", "the manifest is not in canonical form", "not-canonical")
            raise _Stop
        return manifest

    def _read(self, name: str) -> bytes | None:
        what = self.roles.get(name, name)
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            self.report.fail(what, f"{name} is missing from the bundle", "missing")
            return None
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > MAX_MEMBER:
            # A bundle is written stored; anything else is not one (and could be a decompression bomb).
            self.report.fail(what, f"{name} is compressed or too large for a bundle", "damaged")
            return None
        try:
            data = self.archive.read(name)
        except KeyError:
            self.report.fail(what, f"{name} is missing from the bundle", "missing")
            return None
        except Exception as exc:  # a bad CRC, a garbled header: zipfile raises many kinds on altered bytes
            self.report.fail(what, f"{name} is damaged: {exc}", "damaged")
            return None
        self.read_members[name] = data
        return data

    def load(self, files: Mapping[str, str]) -> None:
        """Read every member the manifest lists and check it against its SHA-256; flag strangers."""
        for name in self.names:
            if name != MANIFEST and name not in files:
                self.report.fail(name, f"{name} is in the zip but not in the manifest", "unexpected-member")
        for name, digest in files.items():
            data = self._read(name)
            if data is None:
                continue
            if _sha256(data) != digest:
                self.report.fail(
                    self.roles.get(name, name), f"{name} differs from its SHA-256 in the manifest", "digest"
                )
                continue
            self.members[name] = data

    def container_is_canonical(self) -> None:
        if self.report.problems:
            return  # the parts already named what changed
        if set(self.read_members) != set(self.names):
            return
        rebuilt = _zip([(name, self.read_members[name]) for name in self.names])
        if rebuilt != self.raw:
            at = next((i for i, (a, b) in enumerate(zip(rebuilt, self.raw, strict=False)) if a != b), None)
            where = f"byte {at}" if at is not None else f"its length ({len(self.raw)}, not {len(rebuilt)})"
            self.report.fail("zip container", f"the zip around the files was altered at {where}", "container")


def _json(reader: _Reader, name: str) -> dict[str, Any] | None:
    data = reader.members.get(name)
    if data is None:
        return None
    what = reader.roles.get(name, name)
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        reader.report.fail(what, f"{name} is not JSON: {exc}", "unreadable")
        return None
    if not isinstance(value, dict) or _canonical(value) != data:
        reader.report.fail(what, f"{name} is not a canonical JSON object", "not-canonical")
        return None
    return value


def _hashes(value: object) -> list[bytes]:
    if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
        raise ValueError("hashes must be a list of hex strings")
    return [bytes.fromhex(h) for h in value]


def verify_bundle(
    path: Path,
    *,
    hub: frozenset[str] | None = None,
    tsa_roots: Sequence[x509.Certificate] | None = None,
) -> BundleReport:
    """Check a bundle on its own. ``hub``: the SHA-256 fingerprints of the certificates the auditor trusts to
    sign heads; ``tsa_roots``: the TSA roots they trust (else the bundle's own self-signed TSA certificates).
    Never raises for a bad bundle: every failure is a :class:`Problem` naming the part."""
    report = BundleReport(path=path, hub_pinned=hub is not None, tsa_pinned=tsa_roots is not None)
    reader = _Reader(path, report)
    try:
        manifest = reader.open()
        _verify(reader, manifest, hub, tsa_roots)
    except _Stop:
        return report
    reader.container_is_canonical()
    return report


def _verify(
    reader: _Reader,
    manifest: dict[str, Any],
    hub: frozenset[str] | None,
    tsa_roots: Sequence[x509.Certificate] | None,
) -> None:
    report = reader.report
    try:
        files: dict[str, str] = dict(manifest["files"])
        entries = list(manifest["entries"])
        heads = list(manifest["heads"])
        consistency = list(manifest["consistency"])
        hub_files = list(manifest["certificates"]["hub"])
        tsa_files = list(manifest["certificates"]["tsa"])
        report.subject = {str(k): str(v) for k, v in dict(manifest["subject"]).items()}
        for e in entries:
            reader.roles[e["file"]] = f"entry {e['leaf_index']}"
            reader.roles[e["proof"]] = f"inclusion proof of entry {e['leaf_index']}"
        for n, h in enumerate(heads):
            reader.roles[h["file"]] = f"head {n}"
            if h["timestamp"] is not None:
                reader.roles[h["timestamp"]] = f"timestamp of head {n}"
        for c in consistency:
            reader.roles[c["file"]] = f"consistency proof from head {c['from']} to head {c['to']}"
        for name in hub_files:
            reader.roles[name] = f"hub certificate {name}"
        for name in tsa_files:
            reader.roles[name] = f"TSA certificate {name}"
    except (KeyError, TypeError, ValueError) as exc:
        report.fail("manifest", f"the manifest lacks or garbles a section: {exc!r}", "malformed")
        raise _Stop from exc
    if not heads:
        report.fail("manifest", "the bundle has no signed head", "no-head")
        raise _Stop
    listed = set(hub_files) | set(tsa_files) | {MANIFEST}
    listed |= {e["file"] for e in entries} | {e["proof"] for e in entries} | {c["file"] for c in consistency}
    listed |= {h["file"] for h in heads} | {h["timestamp"] for h in heads if h["timestamp"] is not None}
    if listed != set(files) | {MANIFEST}:
        report.fail("manifest", "the manifest's sections and its file list disagree", "malformed")
    reader.load(files)

    hub_certs = _certificates(reader, hub_files)
    tsa_certs = _certificates(reader, tsa_files)
    report.hub_fingerprints = set(hub_certs)
    roots = (
        list(tsa_roots) if tsa_roots is not None else [c for c in tsa_certs.values() if c.issuer == c.subject]
    )
    report.tsa_roots = {certificate_fingerprint(c.public_bytes(Encoding.DER)) for c in roots}
    intermediates = [c for c in tsa_certs.values() if c.issuer != c.subject]

    signed_heads: list[SignedHead | None] = []
    for n, h in enumerate(heads):
        signed_heads.append(_verify_head(reader, n, h, hub_certs, hub, roots, intermediates))
    for c in consistency:
        _verify_consistency(reader, c, signed_heads)
    if len(consistency) != len(heads) - 1 or any(
        c.get("from") != n or c.get("to") != n + 1 for n, c in enumerate(consistency)
    ):
        report.fail(
            "manifest", "each head but the first needs a consistency proof from the one before", "chain"
        )
    anchor = signed_heads[-1]
    for e in entries:
        _verify_entry(reader, e, anchor)


def _certificates(reader: _Reader, names: Sequence[str]) -> dict[str, x509.Certificate]:
    found: dict[str, x509.Certificate] = {}
    for name in names:
        data = reader.members.get(name)
        if data is None:
            continue
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            reader.report.fail(
                reader.roles[name], f"{name} is not a readable certificate: {exc}", "unreadable"
            )
            continue
        der = cert.public_bytes(Encoding.DER)
        fingerprint = certificate_fingerprint(der)
        if _pem(der) != data or not name.endswith(f"-{fingerprint}.pem"):
            reader.report.fail(
                reader.roles[name], f"{name} does not hold the certificate its name gives", "certificate"
            )
            continue
        found[fingerprint] = cert
    return found


#: Which part of a head a failure names, by TreeHeadError.reason.
_HEAD_PARTS: Final = {
    "signature-invalid": "signature of ",
    "algorithm-mismatch": "signature of ",
    "certificate-unreadable": "certificate of ",
    "untrusted-signer": "certificate of ",
}


def _verify_head(
    reader: _Reader,
    n: int,
    listed: Mapping[str, Any],
    hub_certs: Mapping[str, x509.Certificate],
    hub: frozenset[str] | None,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
) -> SignedHead | None:
    report = reader.report
    what = f"head {n}"
    value = _json(reader, listed["file"])
    if value is None:
        return None
    try:
        signed = SignedHead.from_json(value)
        fingerprint = certificate_fingerprint(signed.certificate)
        if fingerprint not in hub_certs and f"certificates/hub-{fingerprint}.pem" not in reader.roles:
            report.fail(
                f"certificate of {what}",
                f"head {n} is signed by a certificate the bundle does not list",
                "certificate",
            )
        verify_head(signed, trusted_fingerprints=hub)
    except AuditProofError as exc:
        part = _HEAD_PARTS.get(exc.reason, "")
        report.fail(f"{part}{what}", exc.message, exc.reason)
        return None
    stamped = None
    token_name = listed["timestamp"]
    if token_name is not None and token_name in reader.members:
        try:
            stamped = verify_timestamp(
                reader.members[token_name],
                digest=signed.head.hash(),
                roots=roots,
                intermediates=intermediates,
                what=f"timestamp of {what}",
            )
        except AuditProofError as exc:
            report.fail(f"timestamp of {what}", exc.message, exc.reason)
    report.heads.append(
        HeadLine(
            size=signed.head.size,
            root=signed.head.root.hex(),
            at=signed.head.at,
            signer=fingerprint,
            timestamp=stamped,
        )
    )
    return signed


def _verify_consistency(
    reader: _Reader, listed: Mapping[str, Any], heads: Sequence[SignedHead | None]
) -> None:
    what = reader.roles[listed["file"]]
    value = _json(reader, listed["file"])
    try:
        old, new = heads[int(listed["from"])], heads[int(listed["to"])]
    except (IndexError, ValueError, TypeError):
        reader.report.fail(what, "it names heads the bundle does not have", "malformed")
        return
    if value is None or old is None or new is None:
        return
    try:
        if (value.get("old_size"), value.get("new_size")) != (old.head.size, new.head.size):
            raise BundleError("its sizes are not those of the heads it links", reason="size-mismatch")
        merkle.verify_consistency(
            old.head.size, new.head.size, old.head.root, new.head.root, _hashes(value["hashes"])
        )
    except (AuditProofError, ValueError, KeyError) as exc:
        message = exc.message if isinstance(exc, AuditProofError) else str(exc)
        reader.report.fail(what, message, getattr(exc, "reason", "malformed"))


def _verify_entry(reader: _Reader, listed: Mapping[str, Any], anchor: SignedHead | None) -> None:
    report = reader.report
    index = listed["leaf_index"]
    what = f"entry {index}"
    data = reader.members.get(listed["file"])
    proof = _json(reader, listed["proof"])
    if data is None or proof is None or anchor is None:
        return
    try:
        if proof.get("leaf_index") != index or proof.get("tree_size") != anchor.head.size:
            raise BundleError(
                "its inclusion proof is for another leaf or another head", reason="proof-mismatch", what=what
            )
        merkle.verify_inclusion(
            int(index), anchor.head.size, merkle.leaf_hash(data), _hashes(proof["hashes"]), anchor.head.root
        )
    except (AuditProofError, ValueError, KeyError, TypeError) as exc:
        message = exc.message if isinstance(exc, AuditProofError) else str(exc)
        report.fail(
            what, f"entry {index} is not in the signed log: {message}", getattr(exc, "reason", "malformed")
        )
        return
    kind = at = ""
    try:
        body = json.loads(data.decode("utf-8"))
        if isinstance(body, dict):
            kind, at = str(body.get("kind", "")), str(body.get("at", ""))
    except ValueError:
        pass
    report.entries.append(EntryLine(leaf_index=int(index), sha256=_sha256(data), kind=kind, at=at))
