"""``hub audit tsa-simulator``: a development time-stamping authority an operator can point
``audit.timestamping`` at; its keys are kept, so a token it issued still verifies after a restart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509

from lienthong.audit import merkle
from lienthong.audit.timestamps import HttpTsaClient, verify_timestamp

HUB_SCRIPT = Path(sys.executable).with_name("hub")


@contextmanager
def _tsa(directory: Path) -> Iterator[str]:
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [str(HUB_SCRIPT), "audit", "tsa-simulator", "--dir", str(directory), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert found, line + (process.stderr.read() if process.stderr and process.poll() is not None else "")
        yield found.group(1)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_the_development_tsa_stamps_and_keeps_its_keys(tmp_path: Path) -> None:
    head_hash = merkle.root([merkle.leaf_hash(b"entry")])
    keys = tmp_path / "dev-tsa"
    with _tsa(keys) as url:
        token = HttpTsaClient(url).stamp(head_hash)
    chain = x509.load_pem_x509_certificates((keys / "tsa-chain.pem").read_bytes())
    stamped = verify_timestamp(token, digest=head_hash, roots=chain[-1:], tsa_certificate=chain[0])
    assert "Lien thong dev TSA" in stamped.tsa
    with _tsa(keys) as url:  # restarted: the same keys, so the same chain verifies the new token
        again = HttpTsaClient(url).stamp(head_hash)
    verify_timestamp(again, digest=head_hash, roots=chain[-1:], tsa_certificate=chain[0])
    assert sorted(p.name for p in keys.iterdir()) == ["tsa-chain.pem", "tsa-root.pem", "tsa.key", "tsa.pem"]
    assert (keys / "tsa.key").stat().st_mode & 0o077 == 0
