"""The unit suite's guard against network sockets (conftest.py) holds, and lets Unix sockets through."""

from __future__ import annotations

import socket

import pytest

#: What the guard's error says (conftest.py); matched rather than imported, as conftest is no module.
NO_NETWORK = "unit tests use no network"


def test_connecting_to_the_network_fails_loudly() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(RuntimeError, match=r"socket.connect\(\('127.0.0.1', 9\)\) in a unit test"),
    ):
        sock.connect(("127.0.0.1", 9))


def test_listening_on_a_port_fails_loudly() -> None:
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock,
        pytest.raises(RuntimeError, match=NO_NETWORK),
    ):
        sock.bind(("::1", 0))


def test_a_client_library_cannot_reach_the_network_either() -> None:
    import httpx

    with pytest.raises(RuntimeError, match=NO_NETWORK):
        httpx.get("http://127.0.0.1:9/", timeout=1)


def test_unix_sockets_stay_allowed() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        left.sendall(b"ok")
        assert right.recv(2) == b"ok"
