"""``hub audit verify``: recompute everything the log claims and name the first thing that does not hold.

What is checked, in one pass over the entries in leaf order (O(n) time, O(log n) memory for the tree):

* each entry's place: leaf indices run 0, 1, 2 … without a gap (a gap is a **missing** entry);
* each entry's bytes: canonical JSON whose SHA-256 leaf hash is the one stored (else **altered**), whose
  ``index`` is its place (else **reordered**: a swapped or renumbered entry), whose searchable columns
  (kind, dossier code, document id, message id) say what its bytes say;
* every signed head: its root equals the root recomputed from the entries' *bytes* (not from the stored
  hashes, which a forger would have rewritten too), its signature verifies with its certificate, it names
  the head before it, and the log is not shorter than it;
* the source rows, while they are kept: each entry equals the entry rebuilt from its row, each stored
  payload hashes to what its entry says, and no row older than the sealing grace was left unsealed.

Problems are reported in log order; the first one is what the auditor looks at first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import and_, select

from lienthong.audit.heads import SignedHead, TreeHead, verify_head, verify_head_follows
from lienthong.audit.log import SEAL_GRACE, AuditLog, StoredHead, entry_of, source_queries
from lienthong.audit.merkle import CompactRange, leaf_hash
from lienthong.envelope import utcnow
from lienthong.errors import AuditProofError
from lienthong.store.schema import audit_entries, message_payloads, messages

#: Problems listed at most (the first is what matters; the count says how bad).
MAX_PROBLEMS: Final = 50


@dataclass(frozen=True)
class Problem:
    """One thing that does not hold. ``index`` is the leaf index it concerns (None: not one entry)."""

    kind: str  # missing | altered | reordered | columns | head | source | unsealed | payload
    index: int | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class VerifyReport:
    size: int = 0
    heads: int = 0
    sources_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first problem in log order (entry problems by index, then heads, then unsealed rows)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.index is None, p.index or 0))

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more_problems += 1


def _signed(head: StoredHead) -> SignedHead:
    certificate = x509.load_der_x509_certificate(head.certificate)
    algorithm: Any = (
        "rsa-pkcs1v15-sha256" if isinstance(certificate.public_key(), rsa.RSAPublicKey) else "ecdsa-sha256"
    )
    return SignedHead(TreeHead.from_canonical(head.head), algorithm, head.signature, head.certificate)


def verify_log(
    audit_log: AuditLog, *, sources: bool = True, trusted_fingerprints: frozenset[str] | None = None
) -> VerifyReport:
    report = VerifyReport()
    heads = audit_log.heads()
    report.heads = len(heads)
    pending = iter(heads)
    next_head = next(pending, None)
    compact = CompactRange()
    expected = 0
    for stored in audit_log.iter_entries():
        index = stored.leaf_index
        if index != expected:
            if index > expected:
                gap = "entry" if index == expected + 1 else f"entries {expected}–{index - 1}"
                name = f"entry {expected}" if index == expected + 1 else gap
                report.add(
                    Problem(
                        "missing",
                        expected,
                        f"{name} missing / thiếu bản ghi: the log jumps from {expected - 1} to {index}",
                    )
                )
            expected = index
        data = bytes(stored.entry)
        computed = leaf_hash(data)
        if computed != bytes(stored.leaf_hash):
            report.add(
                Problem(
                    "altered",
                    index,
                    f"entry {index} altered / bản ghi {index} bị sửa: its bytes no longer match the hash "
                    "sealed with them",
                )
            )
        else:
            _check_body(report, index, data, stored)
        compact.extend((computed,))
        expected = index + 1
        while next_head is not None and next_head.size == compact.size:
            if compact.root() != next_head.root:
                report.add(
                    Problem(
                        "head",
                        next_head.size - 1,
                        f"head of size {next_head.size}: the entries' root is not the signed root "
                        f"(an entry before {next_head.size} was changed) / gốc cây không khớp đầu cây đã ký",
                    )
                )
            next_head = next(pending, None)
    report.size = expected
    while next_head is not None:
        if next_head.size > expected:
            report.add(
                Problem(
                    "missing",
                    expected,
                    f"the head of size {next_head.size} was signed over {next_head.size} entries but the log "
                    f"holds {expected}: entries from {expected} on are missing / thiếu bản ghi",
                )
            )
        next_head = next(pending, None)
    _check_heads(report, heads, trusted_fingerprints)
    if sources:
        _check_sources(report, audit_log)
    return report


def _check_body(report: VerifyReport, index: int, data: bytes, stored: Any) -> None:
    try:
        body = json.loads(data)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        report.add(Problem("altered", index, f"entry {index} altered / bản ghi {index} bị sửa: not JSON"))
        return
    if canonical != data or not isinstance(body, dict):
        report.add(
            Problem("altered", index, f"entry {index} altered / bản ghi {index} bị sửa: not canonical")
        )
        return
    if body.get("index") != index:
        report.add(
            Problem(
                "reordered",
                index,
                f"entry {index} out of order / bản ghi {index} sai thứ tự: it was sealed as entry "
                f"{body.get('index')}",
            )
        )
        return
    said = (body.get("kind"), body.get("dossier_code"), body.get("document_id"), body.get("message_id"))
    held = (
        stored.kind,
        stored.dossier_code,
        stored.document_id,
        None if stored.message_id is None else str(stored.message_id),
    )
    if said != held:
        report.add(
            Problem(
                "columns",
                index,
                f"entry {index}: its searchable columns were changed (they say {held}, its bytes {said}) "
                f"/ cột tìm kiếm của bản ghi {index} bị sửa",
            )
        )


def _check_heads(report: VerifyReport, heads: list[StoredHead], trusted: frozenset[str] | None) -> None:
    previous: TreeHead | None = None
    for stored in heads:
        what = f"head of size {stored.size}"
        try:
            signed = _signed(stored)
            head = signed.head
            if (head.size, head.root, head.previous) != (stored.size, stored.root, stored.previous):
                raise AuditProofError(f"the {what}'s columns differ from its signed bytes", reason="columns")
            verify_head(signed, trusted_fingerprints=trusted)
            if previous is None:
                if head.previous is not None:
                    raise AuditProofError(f"the first {what} names a head before it", reason="chain")
            else:
                verify_head_follows(head, previous)
            previous = head
        except (AuditProofError, ValueError) as exc:
            message = exc.message if isinstance(exc, AuditProofError) else str(exc)
            report.add(Problem("head", stored.size - 1, f"{what}: {message} / đầu cây đã ký không hợp lệ"))
            previous = None
            with contextlib.suppress(AuditProofError):
                previous = TreeHead.from_canonical(stored.head)


def _check_sources(report: VerifyReport, audit_log: AuditLog) -> None:
    """Entries against the rows they were sealed from (while retention keeps them)."""
    old = utcnow() - SEAL_GRACE
    with audit_log.engine.connect() as conn:
        for source, (query, column) in source_queries(None, unsealed=True).items():
            for row in conn.execute(query.where(column < old).order_by(column).limit(10)):
                key = row.id
                report.add(
                    Problem("unsealed", None, f"{source} row {key} was never sealed / chưa được niêm phong")
                )
        for source, (query, _column) in source_queries(None, unsealed=False).items():
            for row, leaf_index, sealed in _with_entries(conn, source, query):
                report.sources_checked += 1
                rebuilt = entry_of(source, row).sealed(leaf_index)
                if rebuilt != sealed and not _same_but_archived(source, row, rebuilt, sealed):
                    report.add(
                        Problem(
                            "source",
                            leaf_index,
                            f"entry {leaf_index} differs from the {source} row it was sealed from ({row.id}) "
                            f"/ bản ghi {leaf_index} không khớp dữ liệu gốc",
                        )
                    )
        payloads = select(messages.c.id, messages.c.payload_sha256, message_payloads.c.payload).join(
            message_payloads, message_payloads.c.message_id == messages.c.id
        )
        for row in conn.execution_options(yield_per=500).execute(payloads):
            if hashlib.sha256(row.payload).hexdigest() != row.payload_sha256:
                leaf = conn.execute(
                    select(audit_entries.c.leaf_index).where(
                        and_(audit_entries.c.source == "messages", audit_entries.c.message_id == row.id)
                    )
                ).scalar()
                report.add(
                    Problem(
                        "payload",
                        leaf,
                        f"the stored payload of message {row.id} does not hash to its SHA-256 in entry "
                        f"{leaf} / nội dung lưu trữ không khớp mã băm",
                    )
                )


def _same_but_archived(source: str, row: Any, rebuilt: bytes, sealed: bytes) -> bool:
    """Whether the two differ only in what ``hub archive`` removed (payload sizes and hashes)."""
    if source == "messages" and row.payload_size is None:
        drop: tuple[str, ...] = ("payload",)
    elif source == "attempts" and row.request is None and row.response is None:
        drop = ("request", "answer")
    else:
        return False
    try:
        ours, theirs = json.loads(rebuilt), json.loads(sealed)
    except ValueError:
        return False
    for name in drop:
        for body in (ours, theirs):
            part = body.get(name)
            if isinstance(part, dict):
                part.pop("sha256", None)
                part.pop("size", None)
    return bool(ours == theirs)


def _with_entries(conn: Any, source: str, query: Any) -> Iterator[tuple[Any, int, bytes]]:
    """Source rows with the leaf index and bytes of the entry sealed from each (rows never sealed skipped)."""
    from lienthong.audit.log import source_key_column

    if source == "messages":
        on = and_(audit_entries.c.source == "messages", audit_entries.c.message_id == messages.c.id)
    else:
        on = and_(audit_entries.c.source == source, audit_entries.c.source_key == source_key_column(source))
    joined = query.add_columns(
        audit_entries.c.leaf_index.label("_leaf"), audit_entries.c.entry.label("_entry")
    )
    joined = joined.join(audit_entries, on)
    for row in conn.execution_options(yield_per=2000).execute(joined):
        yield row, int(row._leaf), bytes(row._entry)
