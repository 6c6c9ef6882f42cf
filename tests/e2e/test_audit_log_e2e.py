"""The auditor's log end to end: dossiers over the real HTTP path, delivered to the land registry
simulator, sealed into the log in the background with signed heads; ``hub audit verify`` over the
command line says the log verifies, then names the entry an attacker altered (issue 12)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit_log_support import as_attacker
from sqlalchemy import create_engine, text

from lienthong.audit.log import AuditLog
from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.trust.keys import create_dev_ca

PROVINCE = "000.00.00.H49"


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout}s: {what}")
        time.sleep(0.1)


def test_dossiers_are_sealed_signed_verified_and_tampering_is_named(
    project_factory: Callable[..., Any],
    hub_factory: Callable[..., Any],
    land_sim: Any,
    hub_cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    project = project_factory(land_sim.url)
    ca = create_dev_ca(tmp_path / "keys", PROVINCE, {})
    project.update(
        "hub.yaml",
        {
            "audit": {
                "seal_interval": "100ms",
                "head_interval": "200ms",
                "signing": {
                    "id": "audit",
                    "key_file": str(ca.hub_key),
                    "certificate_file": str(ca.hub_certificate),
                },
            }
        },
    )
    running = hub_factory(project)
    samples = sample_dossiers(3)
    ids = []
    for sample in samples:
        accepted = running.submit(dossier_body(sample.dossier_code, sample.procedure_code, sample.xml))
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["message_id"])
    for message_id in ids:
        running.wait(message_id)
    refused = running.client.post("/api/v1/messages", json={}, headers={"X-API-Key": "not-a-key"})
    assert refused.status_code == 401

    audit_log = AuditLog(running.hub.store.engine)

    def sealed() -> bool:
        kinds = [
            {json.loads(e.entry)["kind"] for e in audit_log.entries_for(dossier_code=s.dossier_code)}
            for s in samples
        ]
        refusals = [e for e in audit_log.iter_entries() if e.kind == "refusal"]
        head = audit_log.latest_head()
        return all(k == {"message-in", "route", "delivery-attempt"} for k in kinds) and (
            bool(refusals) and head is not None and head.size == audit_log.size()
        )

    _wait_for("every dossier's entries and the refusal under a signed head", sealed)
    entries = [json.loads(e.entry) for e in audit_log.iter_entries()]
    refusal = [e for e in entries if e["kind"] == "refusal"]
    assert len(refusal) == 1 and refusal[0]["reason"] == "unauthenticated"
    first = audit_log.entries_for(dossier_code=samples[0].dossier_code)
    received = json.loads(first[0].entry)
    assert received["kind"] == "message-in" and received["message_id"] == ids[0]
    assert received["sender"] == PROVINCE and len(received["payload"]["sha256"]) == 64
    attempt = next(json.loads(e.entry) for e in first if e.kind == "delivery-attempt")
    assert attempt["target"] == "land" and attempt["outcome"] == "delivered"
    assert attempt["answer"]["status"] == 200 and len(attempt["answer"]["sha256"]) == 64

    ok = hub_cli("audit", "verify", "-c", project.config_dir)
    assert ok.returncode == 0, ok.stderr
    assert "the log verifies" in ok.stdout

    target = audit_log.entries_for(dossier_code=samples[1].dossier_code)[0]
    engine = create_engine(f"sqlite:///{project.database}")
    try:
        altered = target.entry.replace(
            samples[1].dossier_code.encode(), b"X" + samples[1].dossier_code.encode()[1:]
        )
        as_attacker(engine)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE audit_entries SET entry = :e WHERE leaf_index = :i"),
                {"e": altered, "i": target.leaf_index},
            )
    finally:
        engine.dispose()
    bad = hub_cli("audit", "verify", "-c", project.config_dir)
    assert bad.returncode == 1
    assert f"entry {target.leaf_index} altered" in bad.stderr
