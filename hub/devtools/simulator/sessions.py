"""Who may call a simulated REST service: an API key header, or a session from a login call.

The national portal hands out a session on ``POST {login} {"username", "password"}`` and refuses a
call whose body carries none, an unknown one or an expired one with its own result code (HTTP 200,
``{"error_code": "-1", ...}``), not with an HTTP error: that is what the hub's session renewal must
recognise. Sessions live in memory, as a real portal's do across its own restarts only by luck: a
restarted simulator has forgotten them, and callers log in again.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lienthong.devtools.simulator.spec import SessionSpec

__all__ = ["Sessions"]

_MAX_LOGIN_BODY: Final = 4096


class Sessions:
    """The sessions handed out by one simulator (every REST service of it shares them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self.logins = 0
        self.refused = 0

    def open(self, ttl: float) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._expiry[token] = time.monotonic() + ttl
            self.logins += 1
        return token

    def valid(self, token: object) -> bool:
        if not isinstance(token, str) or not token:
            return False
        with self._lock:
            expiry = self._expiry.get(token)
            if expiry is not None and expiry <= time.monotonic():
                del self._expiry[token]
                expiry = None
            if expiry is None:
                self.refused += 1
            return expiry is not None

    def expire_all(self) -> int:
        """Every session ends now (control API): the next call of each caller is refused."""
        with self._lock:
            count = len(self._expiry)
            self._expiry.clear()
        return count

    def stats(self) -> dict[str, int]:
        with self._lock:
            now = time.monotonic()
            active = sum(1 for expiry in self._expiry.values() if expiry > now)
            return {"active": active, "logins": self.logins, "refused": self.refused}

    def reset(self) -> None:
        with self._lock:
            self._expiry.clear()
            self.logins = self.refused = 0

    async def login(self, request: Request, spec: SessionSpec) -> Response:
        """``{"username", "password"}`` → ``{"session", "error_code": 0}``; wrong credentials are a 401
        with ``error_code`` 1 and no session (compared in constant time)."""
        body = await request.body()
        try:
            given = json.loads(body) if len(body) <= _MAX_LOGIN_BODY else None
        except ValueError:
            given = None
        if not isinstance(given, dict):
            return JSONResponse(
                {spec.code_field: 1, "message": "Yêu cầu đăng nhập không hợp lệ / invalid login request"}, 400
            )
        username, password = str(given.get("username", "")), str(given.get("password", ""))
        ok = hmac.compare_digest(username.encode(), spec.username.encode())
        ok &= hmac.compare_digest(password.encode(), spec.password.encode())
        if not ok:
            return JSONResponse(
                {
                    spec.code_field: 1,
                    "message": "Sai tên đăng nhập hoặc mật khẩu / wrong username or password",
                },
                401,
            )
        return JSONResponse({"session": self.open(spec.ttl), spec.code_field: 0})

    @staticmethod
    def refusal(spec: SessionSpec) -> Response:
        """The portal's answer to a call without a valid session."""
        return JSONResponse(
            {
                spec.code_field: spec.expired_code,
                "message": "Phiên làm việc không hợp lệ hoặc đã hết hạn / session invalid or expired",
            }
        )
