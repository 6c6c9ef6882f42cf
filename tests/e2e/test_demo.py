"""``hub demo``: the whole story in one command, as a newcomer runs it from a checkout."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.slow
def test_demo_delivers_every_dossier_through_an_outage(
    hub_cli: Callable[..., subprocess.CompletedProcess[str]], shipped_project: Any
) -> None:
    # Run from a checkout of its own (config/ copied, schemas and mappings linked): var/demo/ lands there.
    checkout = shipped_project.root

    started = time.monotonic()
    result = hub_cli("demo", "--count", "6", "--outage", "2", cwd=checkout, timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert elapsed < 60
    out = result.stdout
    assert "6 dossiers accepted (HTTP 202) while the registry is down" in out
    assert "duplicate=True" in out
    assert "an invalid dossier is refused: HTTP 422" in out
    assert "kept as 'unroutable'" in out
    assert "what went where" in out
    rows = [line for line in out.splitlines() if re.search(r"H49-\d{6}-\d{4}\s+.*\bdelivered\b", line)]
    assert len(rows) == 6, out
    assert all(re.search(r"\bDD-\d{4}-\d{6}\b", row) for row in rows), "every row shows the registry case"
    assert "6/6 payloads sent carry an XML signature that verifies" in out
    assert re.search(r"^delivered 6/6 in [\d.]+s", out, re.MULTILINE), out
    assert (checkout / "var" / "demo" / "hub.db").is_file()
