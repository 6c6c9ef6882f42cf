"""Retention: payloads and metadata rows age out separately; the log's entries stay.

``hub archive`` first writes what goes to a zip file in ``audit.archive_dir`` (payloads by message,
delivery and attempt; rows as JSON lines), flushed to disk, and only then removes it from the database
in one transaction. Only what the log has sealed goes: an entry keeps the SHA-256 of every payload and
the facts of every row, so the log still proves what was exchanged, and an archived payload can be
checked against its entry. Payloads go after ``payload_retention``; messages with their routes,
deliveries and attempts after ``metadata_retention``, and only once every delivery is finished.

Accepted messages and their payloads are immutable in the database (triggers, migrations 0001/0005);
archiving lifts that for its own transaction only.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, String, and_, cast, delete, exists, select, update

from lienthong.audit.log import AuditLog
from lienthong.config.models import AuditSettings
from lienthong.envelope import utcnow
from lienthong.store.schema import (
    attempts,
    audit_entries,
    deliveries,
    delivery_payloads,
    document_links,
    idempotency_keys,
    message_payloads,
    messages,
    operator_actions,
    refusals,
    route_decisions,
)

_FINISHED = ("delivered", "dead")


@dataclass(frozen=True)
class ArchiveResult:
    payloads: int
    messages: int
    path: Path | None


def _sealed(message_id: Any) -> Any:
    return exists().where(audit_entries.c.source == "messages", audit_entries.c.message_id == message_id)


def _unfinished(message_id: Any) -> Any:
    return exists().where(deliveries.c.message_id == message_id, deliveries.c.state.not_in(_FINISHED))


@contextmanager
def _mutable(conn: Connection, tables: tuple[str, ...]) -> Iterator[None]:
    """Lift the immutability triggers of ``tables`` inside this transaction only."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        names = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
            f"({', '.join(repr(t) for t in tables)})"
        ).all()
        for name, _sql in names:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        yield
        for _name, sql in names:
            conn.exec_driver_sql(sql)
    else:
        for table in tables:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        yield
        for table in tables:
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def _json(row: Any) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, bytes | memoryview):
            return None
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, int | float | str | bool | list | dict) or value is None:
            return value
        return str(value)

    return json.dumps({k: plain(v) for k, v in row._mapping.items()}, ensure_ascii=False, sort_keys=True)


def archive_old(
    audit_log: AuditLog,
    settings: AuditSettings,
    *,
    root: Path,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ArchiveResult:
    now = now or utcnow()
    payload_before = None if settings.payload_retention is None else now - settings.payload_retention
    meta_before = None if settings.metadata_retention is None else now - settings.metadata_retention
    if payload_before is None:
        return ArchiveResult(0, 0, None)
    folder = settings.archive_dir if settings.archive_dir.is_absolute() else root / settings.archive_dir
    path = folder / f"archive-{now.strftime('%Y%m%dT%H%M%S%fZ')}.zip"
    with audit_log.engine.begin() as conn:
        old = select(messages.c.id).where(
            messages.c.received_at < payload_before, _sealed(messages.c.id), ~_unfinished(messages.c.id)
        )
        payload_ids = list(
            conn.execute(
                select(message_payloads.c.message_id).where(message_payloads.c.message_id.in_(old))
            ).scalars()
        )
        meta_ids: list[Any] = []
        if meta_before is not None:
            meta_ids = list(
                conn.execute(
                    select(messages.c.id).where(
                        messages.c.received_at < meta_before,
                        _sealed(messages.c.id),
                        ~_unfinished(messages.c.id),
                    )
                ).scalars()
            )
        if dry_run or not (payload_ids or meta_ids):
            return ArchiveResult(len(payload_ids), len(meta_ids), None)
        folder.mkdir(parents=True, exist_ok=True)
        _write_archive(conn, path, payload_ids, meta_ids)
        delivery_ids = select(deliveries.c.id).where(deliveries.c.message_id.in_(payload_ids))
        with _mutable(conn, ("message_payloads", "messages")):
            conn.execute(delete(message_payloads).where(message_payloads.c.message_id.in_(payload_ids)))
            conn.execute(delete(delivery_payloads).where(delivery_payloads.c.delivery_id.in_(delivery_ids)))
            conn.execute(
                update(attempts)
                .where(attempts.c.delivery_id.in_(delivery_ids))
                .values(request=None, response=None)
            )
            conn.execute(update(deliveries).where(deliveries.c.id.in_(delivery_ids)).values(response=None))
            if meta_ids:
                _delete_metadata(conn, meta_ids)
        if meta_before is not None:
            for table, source in ((refusals, "refusals"), (operator_actions, "operator_actions")):
                sealed = exists().where(
                    and_(
                        audit_entries.c.source == source,
                        audit_entries.c.source_key == cast(table.c.id, String),
                    )
                )
                conn.execute(delete(table).where(table.c.at < meta_before, sealed))
    return ArchiveResult(len(payload_ids), len(meta_ids), path)


def _write_archive(conn: Connection, path: Path, payload_ids: list[Any], meta_ids: list[Any]) -> None:
    with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED) as archive:
        for row in conn.execute(
            select(message_payloads).where(message_payloads.c.message_id.in_(payload_ids))
        ):
            archive.writestr(f"payloads/messages/{row.message_id}", row.payload)
        for row in conn.execute(
            select(delivery_payloads, deliveries.c.message_id)
            .join(deliveries, deliveries.c.id == delivery_payloads.c.delivery_id)
            .where(deliveries.c.message_id.in_(payload_ids))
        ):
            archive.writestr(f"payloads/deliveries/{row.delivery_id}", row.payload)
        for row in conn.execute(
            select(attempts)
            .join(deliveries, deliveries.c.id == attempts.c.delivery_id)
            .where(deliveries.c.message_id.in_(payload_ids))
        ):
            if row.request is not None:
                archive.writestr(f"payloads/attempts/{row.id}.request", row.request)
            if row.response is not None:
                archive.writestr(f"payloads/attempts/{row.id}.response", row.response)
        if meta_ids:
            for table, key in (
                (messages, messages.c.id),
                (route_decisions, route_decisions.c.message_id),
                (deliveries, deliveries.c.message_id),
                (document_links, document_links.c.message_id),
            ):
                lines = [_json(row) for row in conn.execute(select(table).where(key.in_(meta_ids)))]
                archive.writestr(f"rows/{table.name}.jsonl", "\n".join(lines) + "\n")
            lines = [
                _json(row)
                for row in conn.execute(
                    select(attempts)
                    .join(deliveries, deliveries.c.id == attempts.c.delivery_id)
                    .where(deliveries.c.message_id.in_(meta_ids))
                )
            ]
            archive.writestr("rows/attempts.jsonl", "\n".join(lines) + "\n")
    with open(path, "rb") as handle:  # on disk before anything is removed
        os.fsync(handle.fileno())


def _delete_metadata(conn: Connection, ids: list[Any]) -> None:
    delivery_ids = select(deliveries.c.id).where(deliveries.c.message_id.in_(ids))
    conn.execute(delete(attempts).where(attempts.c.delivery_id.in_(delivery_ids)))
    conn.execute(delete(delivery_payloads).where(delivery_payloads.c.delivery_id.in_(delivery_ids)))
    conn.execute(delete(deliveries).where(deliveries.c.message_id.in_(ids)))
    conn.execute(delete(route_decisions).where(route_decisions.c.message_id.in_(ids)))
    conn.execute(delete(document_links).where(document_links.c.message_id.in_(ids)))
    conn.execute(delete(idempotency_keys).where(idempotency_keys.c.message_id.in_(ids)))
    conn.execute(delete(message_payloads).where(message_payloads.c.message_id.in_(ids)))
    conn.execute(delete(messages).where(messages.c.id.in_(ids)))
