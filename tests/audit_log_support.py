"""Helpers for the auditor's log tests: a head-signing key, an attacker's hand on the database, and the
rows the hub leaves for a delivered message."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert

from lienthong.config.models import KeyReference
from lienthong.store.schema import attempts, deliveries, message_payloads, messages, route_decisions
from lienthong.trust.keys import Keystore, SigningKey, create_dev_ca

PROVINCE = "000.00.00.H49"


def head_signing_key(directory: Path) -> SigningKey:
    ca = create_dev_ca(directory, PROVINCE, {})
    ref = KeyReference(id="audit", key_file=ca.hub_key, certificate_file=ca.hub_certificate)
    return Keystore.load([ref], directory).current


def as_attacker(engine: Engine, *statements: str) -> None:
    """Run ``statements`` after lifting the log's append-only triggers, as the database owner could."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for name in ("audit_entries_no_update", "audit_entries_no_delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        else:
            conn.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        for statement in statements:
            conn.exec_driver_sql(statement)


def write_delivered(
    conn: Connection,
    at: datetime,
    code: str,
    payload: bytes | None,
    *,
    message: dict[str, Any] | None = None,
    attempt: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A message as the hub leaves it once delivered, all stamped ``at``: row, payload (unless None),
    route, delivery, finished attempt; ``message`` and ``attempt`` change or add those rows' columns."""
    mid = uuid.uuid4()
    row = {
        "id": mid,
        "kind": "dossier",
        "sender": PROVINCE,
        "sender_message_id": f"m-{code}",
        "dossier_code": code,
        "correlation_id": mid,
        "content_type": "application/xml",
        "payload_sha256": hashlib.sha256(payload or b"").hexdigest(),
        "headers": {},
        "received_at": at,
        "fingerprint": "0" * 64,
    }
    conn.execute(insert(messages).values(row | (message or {})))
    if payload is not None:
        conn.execute(insert(message_payloads).values(message_id=mid, payload=payload))
    conn.execute(
        insert(route_decisions).values(
            message_id=mid, decided_at=at, status="routed", rule="land", targets=["land"], reason="r"
        )
    )
    delivery = conn.execute(
        insert(deliveries).values(
            message_id=mid, target="land", state="delivered", attempts=1, round_attempts=1,
            content_type="application/xml", created_at=at, updated_at=at, delivered_at=at,
        )
    ).inserted_primary_key  # fmt: skip
    assert delivery is not None
    tried = {
        "delivery_id": delivery[0],
        "number": 1,
        "worker": "w",
        "started_at": at,
        "finished_at": at,
        "outcome": "delivered",
        "request": payload,
        "response": b"<ok/>",
        "response_status": 200,
    }
    conn.execute(insert(attempts).values(tried | (attempt or {})))
    return mid
