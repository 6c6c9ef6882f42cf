"""Console users and sessions on both databases: argon2 hashes, sign-in, sessions, expiry, disabling."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select, update

from lienthong.console.users import ConsoleUsers, Role
from lienthong.errors import HubError
from lienthong.store.migrate import upgrade
from lienthong.store.schema import console_sessions, console_users
from lienthong.store.sql import create_store_engine

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
PASSWORD = "correct horse battery"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    made = create_store_engine(url)
    upgrade(made)
    yield made
    made.dispose()


def test_a_user_signs_in_with_their_password_only(engine: Engine) -> None:
    users = ConsoleUsers(engine)
    users.add("lan", Role.OPERATOR, PASSWORD)
    with engine.connect() as conn:
        stored = conn.execute(select(console_users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    user = users.authenticate("lan", PASSWORD)
    assert user is not None and user.role is Role.OPERATOR
    assert users.authenticate("lan", PASSWORD + "!") is None
    assert users.authenticate("nobody", PASSWORD) is None
    with pytest.raises(HubError, match="exists already"):
        users.add("lan", Role.AUDITOR, PASSWORD)
    with pytest.raises(HubError, match="password too short"):
        users.add("minh", Role.AUDITOR, "short")


def test_a_hash_with_old_parameters_is_remade_at_sign_in(engine: Engine) -> None:
    users = ConsoleUsers(engine)
    users.add("lan", Role.ADMIN, PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with engine.begin() as conn:
        conn.execute(update(console_users).values(password_hash=weak))
    assert users.authenticate("lan", PASSWORD) is not None
    with engine.connect() as conn:
        stored = conn.execute(select(console_users.c.password_hash)).scalar_one()
    assert stored != weak
    assert not PasswordHasher().check_needs_rehash(stored)


def test_sessions_end_at_logout_expiry_and_when_the_user_is_disabled(engine: Engine) -> None:
    users = ConsoleUsers(engine)
    user = users.add("lan", Role.AUDITOR, PASSWORD)
    first, second = users.open_session(user), users.open_session(user)
    assert first.token != second.token and first.csrf != second.csrf
    found = users.session(first.token)
    assert found is not None and found.user.name == "lan" and found.csrf == first.csrf
    with engine.connect() as conn:
        digests = set(conn.execute(select(console_sessions.c.token_sha256)).scalars())
    assert digests == {hashlib.sha256(s.token.encode()).hexdigest() for s in (first, second)}

    users.close_session(first.token)
    assert users.session(first.token) is None
    assert users.session("") is None and users.session("forged") is None

    with engine.begin() as conn:
        conn.execute(update(console_sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert users.session(second.token) is None

    third = users.open_session(user)  # opening one purges the expired
    with engine.connect() as conn:
        assert conn.execute(select(console_sessions.c.token_sha256)).scalars().all() == [
            hashlib.sha256(third.token.encode()).hexdigest()
        ]
    users.disable("lan")
    assert users.session(third.token) is None
    assert users.authenticate("lan", PASSWORD) is None
    assert [u.disabled_at is not None for u in users.users()] == [True]
    with pytest.raises(HubError, match="no active user"):
        users.disable("lan")
