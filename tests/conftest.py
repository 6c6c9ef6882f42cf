"""Shared fixtures. Tests that need ../shared or PostgreSQL skip with a reason on a user's machine
and fail under CI=true, so CI always runs them."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PG_BASE_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing — unless this is CI, where a skip would hide a gap."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    need(SHARED.is_dir(), f"{SHARED} (the shared test data) is not beside the checkout")
    return SHARED


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_BASE_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """The xmlsec1 command, the independent verifier of the hub's signatures (.ci/run installs it)."""
    path = shutil.which("xmlsec1")
    need(path is not None, "xmlsec1 is not installed (Debian/Ubuntu: apt-get install xmlsec1)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def pg_available() -> None:
    problem = _pg_available()
    need(problem is None, f"PostgreSQL is not reachable at {PG_BASE_URL}: {problem}")


@pytest.fixture
def pg_url(pg_available: None) -> Iterator[str]:
    """A URL to an empty schema of its own in the test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_BASE_URL else "?"
    yield f"{PG_BASE_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"
