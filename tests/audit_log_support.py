"""Helpers for the auditor's log tests: a head-signing key, and an attacker's hand on the database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from lienthong.config.models import KeyReference
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
