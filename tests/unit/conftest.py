"""Unit tests run in memory: no network sockets (STYLE.md 16). A test that needs a real socket belongs
in tests/integration or tests/e2e; this fixture makes one that tries fail loudly, naming the address,
instead of passing on a developer's machine and hanging in a sandbox.

Unix-domain sockets stay allowed: asyncio's event loop wakes itself through a socketpair, and they
never leave the machine."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


class NetworkInUnitTestError(RuntimeError):
    """A unit test tried to open a network connection or listen on a port."""


def _guarded(name: str, original: Any) -> Any:
    def guard(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if self.family == socket.AF_UNIX:
            return original(self, *args, **kwargs)
        address = args[0] if args else kwargs.get("address")
        self.close()  # the caller may not expect this error, and would leave the socket open
        raise NetworkInUnitTestError(
            f"socket.{name}({address!r}) in a unit test: unit tests use no network; "
            "use an in-memory double, or move the test to tests/integration or tests/e2e"
        )

    return guard


@pytest.fixture(autouse=True)
def _no_network_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _guarded(name, getattr(socket.socket, name)))
    yield
