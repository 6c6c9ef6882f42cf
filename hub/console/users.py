"""Console users and their sessions, over the store's engine (tables ``console_users``, ``console_sessions``).

Passwords are hashed with argon2id (argon2-cffi, its recommended parameters); only the hash is stored,
and a hash made with older parameters is upgraded at the next successful sign-in. Sessions are
server-side so that logout, a disabled user and expiry take effect at once: the cookie carries a
random token, the database only its SHA-256, and each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lienthong.errors import HubError
from lienthong.store.schema import console_sessions, console_users

__all__ = ["ConsoleSession", "ConsoleUser", "ConsoleUsers", "Role"]

#: How long a console session lasts after sign-in, however active: a working day.
SESSION_LIFETIME: Final = timedelta(hours=8)
#: Shortest password accepted by ``hub users add``.
MIN_PASSWORD_LENGTH: Final = 12
_hasher = PasswordHasher()
#: Verified against when the user does not exist, so that an unknown name takes as long as a wrong password.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    ADMIN = "admin"  # everything an operator may, and managing users (from the command line)
    OPERATOR = "operator"  # replays dead letters, re-routes unroutable messages
    AUDITOR = "auditor"  # reads everything, changes nothing

    @property
    def may_change(self) -> bool:
        return self is not Role.AUDITOR


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in user: ``token`` is the cookie's value (only here, never stored), ``csrf`` goes in forms."""

    user: ConsoleUser
    csrf: str
    expires_at: datetime
    token: str = ""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class ConsoleUsers:
    """Users and sessions of the console over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, lifetime: timedelta = SESSION_LIFETIME) -> None:
        self.engine = engine
        self.lifetime = lifetime

    # ------------------------------------------------------------ users

    def add(self, name: str, role: Role, password: str) -> ConsoleUser:
        name = name.strip()
        if not name or len(name) > 64 or not name.isprintable():
            raise HubError(f"invalid user name {name!r} (1-64 printable characters)")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise HubError(
                f"password too short: at least {MIN_PASSWORD_LENGTH} characters "
                f"(mật khẩu quá ngắn: ít nhất {MIN_PASSWORD_LENGTH} ký tự)"
            )
        user = ConsoleUser(name, role, _now(), None)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(console_users).values(
                        name=name,
                        role=role.value,
                        password_hash=_hasher.hash(password),
                        created_at=user.created_at,
                    )
                )
        except IntegrityError:
            raise HubError(f"user {name} exists already (người dùng {name} đã có)") from None
        return user

    def users(self) -> list[ConsoleUser]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(console_users).order_by(console_users.c.name)).all()
        return [ConsoleUser(r.name, Role(r.role), r.created_at, r.disabled_at) for r in rows]

    def disable(self, name: str) -> None:
        """Refuse the user's sign-ins from now on and end their sessions."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(console_users)
                .where(console_users.c.name == name, console_users.c.disabled_at.is_(None))
                .values(disabled_at=_now())
            ).rowcount
            conn.execute(delete(console_sessions).where(console_sessions.c.user_name == name))
        if not done:
            raise HubError(f"no active user {name} (không có người dùng {name})")

    def authenticate(self, name: str, password: str) -> ConsoleUser | None:
        """The user if the password is theirs and they are not disabled; None otherwise (whichever it is)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(console_users).where(console_users.c.name == name)).first()
        stored = row.password_hash if row is not None else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled_at is not None:
            return None
        if _hasher.check_needs_rehash(stored):
            with self.engine.begin() as conn:
                conn.execute(
                    update(console_users)
                    .where(console_users.c.name == name)
                    .values(password_hash=_hasher.hash(password))
                )
        return ConsoleUser(row.name, Role(row.role), row.created_at, row.disabled_at)

    # ------------------------------------------------------------ sessions

    def open_session(self, user: ConsoleUser) -> ConsoleSession:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now()
        session = ConsoleSession(user, csrf, now + self.lifetime, token)
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
            conn.execute(
                insert(console_sessions).values(
                    token_sha256=_digest(token),
                    user_name=user.name,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return session

    def session(self, token: str) -> ConsoleSession | None:
        """The live session of this cookie token: None when unknown, expired or its user disabled."""
        if not token:
            return None
        query = (
            select(console_sessions, console_users)
            .join(console_users, console_users.c.name == console_sessions.c.user_name)
            .where(console_sessions.c.token_sha256 == _digest(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= _now() or row.disabled_at is not None:
            return None
        user = ConsoleUser(row.name, Role(row.role), row.created_at, row.disabled_at)
        return ConsoleSession(user, row.csrf_token, row.expires_at, token)

    def close_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.token_sha256 == _digest(token)))
