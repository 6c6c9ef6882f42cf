"""``hub archive``'s work on both databases: payloads and rows past their retention go to a zip file and
leave the database; the log's entries stay, and the log still verifies (issue 12, item 1)."""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_log_support import write_delivered
from sqlalchemy import Engine, func, select

from lienthong.audit.log import AuditLog
from lienthong.audit.retention import archive_old
from lienthong.audit.verify import verify_log
from lienthong.config.models import AuditSettings
from lienthong.store.migrate import upgrade
from lienthong.store.schema import (
    attempts,
    audit_entries,
    deliveries,
    message_payloads,
    messages,
)
from lienthong.store.sql import create_store_engine

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = create_store_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _delivered(engine: Engine, at: datetime, code: str) -> uuid.UUID:
    """A message as the hub leaves it once delivered: row, payload, route, delivery, finished attempt."""
    with engine.begin() as conn:
        return write_delivered(conn, at, code, f"<HoSo>{code}</HoSo>".encode())


def test_payloads_then_rows_age_out_and_the_log_still_verifies(engine: Engine, tmp_path: Path) -> None:
    ancient = _delivered(engine, NOW - timedelta(days=400), "OLD-1")
    older = _delivered(engine, NOW - timedelta(days=60), "MID-1")
    recent = _delivered(engine, NOW - timedelta(days=1), "NEW-1")
    audit_log = AuditLog(engine)
    assert audit_log.seal() == 9
    settings = AuditSettings(
        payload_retention=timedelta(days=30),
        metadata_retention=timedelta(days=365),
        archive_dir=tmp_path / "a",
    )
    dry = archive_old(audit_log, settings, root=tmp_path, dry_run=True, now=NOW)
    assert (dry.payloads, dry.messages, dry.path) == (2, 1, None)
    result = archive_old(audit_log, settings, root=tmp_path, now=NOW)
    assert (result.payloads, result.messages) == (2, 1)
    assert result.path is not None
    with zipfile.ZipFile(result.path) as archive:
        names = set(archive.namelist())
        assert archive.read(f"payloads/messages/{older}") == b"<HoSo>MID-1</HoSo>"
        assert f"payloads/messages/{ancient}" in names
        assert f"payloads/messages/{recent}" not in names
        assert "OLD-1" in archive.read("rows/messages.jsonl").decode()
    with engine.connect() as conn:
        kept = set(conn.execute(select(messages.c.id)).scalars())
        payloads = set(conn.execute(select(message_payloads.c.message_id)).scalars())
        entries = conn.execute(select(func.count()).select_from(audit_entries)).scalar()
        request = conn.execute(
            select(attempts.c.request).join(deliveries).where(deliveries.c.message_id == older)
        ).scalar()
    assert kept == {older, recent}
    assert payloads == {recent}
    assert request is None
    assert entries == 9  # the log keeps every entry
    report = verify_log(audit_log)
    assert report.ok, report.problems
    assert len(audit_log.entries_for(dossier_code="OLD-1")) == 3
    again = archive_old(audit_log, settings, root=tmp_path, now=NOW)
    assert (again.payloads, again.messages, again.path) == (0, 0, None)


def test_metadata_may_not_outlive_nothing() -> None:
    with pytest.raises(ValueError, match="at least payload_retention"):
        AuditSettings(payload_retention=timedelta(days=30), metadata_retention=timedelta(days=7))
