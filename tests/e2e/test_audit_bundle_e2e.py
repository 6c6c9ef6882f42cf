"""A dossier's record leaves the hub as a bundle and is checked where there is no hub: dossiers over the
real HTTP path, sealed under signed heads dated by a time-stamping authority on loopback; ``hub audit
export`` writes the bundle, ``hub audit verify-bundle`` checks it in an empty directory with no
configuration (exit 0), and names the part when one byte of it changes (exit 1) — issue 12."""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lienthong.audit.heads import certificate_fingerprint
from lienthong.audit.log import AuditLog
from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.demo import dossier_body
from lienthong.devtools.samples import sample_dossiers
from lienthong.devtools.simulator.tsa import DevTsa
from lienthong.trust.keys import create_dev_ca

PROVINCE = "000.00.00.H49"


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout}s: {what}")
        time.sleep(0.1)


@pytest.fixture
def tsa() -> Iterator[tuple[DevTsa, str]]:
    authority = DevTsa.create()
    with BackgroundServer(authority.app()) as server:
        yield authority, server.url + "/"


def _hub_with_heads(
    project_factory: Callable[..., Any],
    hub_factory: Callable[..., Any],
    land_sim: Any,
    tsa: tuple[DevTsa, str],
    tmp_path: Path,
) -> tuple[Any, Any, list[Any]]:
    """A hub whose log is sealed every 100 ms and signed every 200 ms, heads dated by the TSA; three
    dossiers delivered through it. Returns the project, the running hub and the samples."""
    authority, tsa_url = tsa
    chain = tmp_path / "tsa-chain.pem"
    chain.write_bytes(authority.chain_pem())
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
                "timestamping": {"url": tsa_url, "certificate_file": str(chain)},
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
    return project, running, samples


def test_a_dossier_bundle_is_exported_and_verified_offline(
    project_factory: Callable[..., Any],
    hub_factory: Callable[..., Any],
    land_sim: Any,
    hub_cli: Callable[..., Any],
    tsa: tuple[DevTsa, str],
    tmp_path: Path,
) -> None:
    project, running, samples = _hub_with_heads(project_factory, hub_factory, land_sim, tsa, tmp_path)
    audit_log = AuditLog(running.hub.store.engine)
    dossier = samples[1].dossier_code

    def covered() -> bool:
        kinds = {json.loads(e.entry)["kind"] for e in audit_log.entries_for(dossier_code=dossier)}
        head = audit_log.latest_head()
        return kinds == {"message-in", "route", "delivery-attempt"} and (
            head is not None and head.size == audit_log.size() and head.timestamp_token is not None
        )

    _wait_for("the dossier's entries under a timestamped signed head", covered)
    expected = sorted(e.leaf_index for e in audit_log.entries_for(dossier_code=dossier))
    hub_fingerprint = certificate_fingerprint(audit_log.latest_head().certificate)  # type: ignore[union-attr]

    bundle = tmp_path / "export" / "bundle.zip"
    bundle.parent.mkdir()
    exported = hub_cli("audit", "export", "--dossier", dossier, "-o", bundle, "-c", project.config_dir)
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 entries" in exported.stdout and hub_fingerprint in exported.stdout
    with zipfile.ZipFile(bundle) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = archive.namelist()
        bodies = [archive.read(e["file"]) for e in manifest["entries"]]
    assert manifest["subject"] == {"dossier_code": dossier}
    assert [e["leaf_index"] for e in manifest["entries"]] == expected
    assert any(n.startswith("timestamps/") for n in names)
    assert all(dossier.encode() in body for body in bodies)
    assert not any(samples[0].dossier_code.encode() in body for body in bodies)

    # The auditor's machine: an empty directory, no configuration, no database.
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    shutil.copy(bundle, auditor / "bundle.zip")
    ok = hub_cli("audit", "verify-bundle", "bundle.zip", "--trust", hub_fingerprint, cwd=auditor)
    assert ok.returncode == 0, ok.stderr
    assert "the bundle verifies: 3 entries for dossier_code " + dossier in ok.stdout
    assert "Lien thong dev TSA" in ok.stdout  # the TSA's time is shown for each head
    assert sorted(p.name for p in auditor.iterdir()) == ["bundle.zip"]  # it wrote nothing

    wrong_pin = hub_cli("audit", "verify-bundle", "bundle.zip", "--trust", "ab" * 32, cwd=auditor)
    assert wrong_pin.returncode == 1
    assert "NOT VALID" in wrong_pin.stderr and "certificate of head" in wrong_pin.stderr

    raw = bytearray((auditor / "bundle.zip").read_bytes())
    with zipfile.ZipFile(auditor / "bundle.zip") as archive:
        info = archive.getinfo(manifest["entries"][0]["file"])
    raw[info.header_offset + 30 + len(info.filename) + 5] ^= 0x01
    (auditor / "bundle.zip").write_bytes(bytes(raw))
    bad = hub_cli("audit", "verify-bundle", "bundle.zip", cwd=auditor)
    assert bad.returncode == 1
    assert f"entry {expected[0]}" in bad.stderr and "KHÔNG HỢP LỆ / NOT VALID" in bad.stderr
