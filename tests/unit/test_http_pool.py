"""The HTTP transport's pool (``_Pool``) bounds the connections in use with a count under its own
lock: a take beyond ``max_connections`` waits up to ``wait`` for one to be given back, then fails
with ``PoolTimeout``; every connection given back, kept or closed, frees its place, also when the
take failed after counting it. No connection is opened here: the pool only makes them."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import cast

import pytest

from lienthong.delivery.transports.http import _Pool, _split, _TimedOutError

URL = _split("http://127.0.0.1:8701/soap/land")


def test_a_take_beyond_the_bound_waits_then_times_out() -> None:
    pool = _Pool(2, wait=0.05, connect_timeout=1)
    pool.take(URL), pool.take(URL)
    started = time.monotonic()

    with pytest.raises(_TimedOutError) as caught:
        pool.take(URL)

    assert caught.value.kind == "PoolTimeout"
    assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize("reusable", [True, False])
def test_a_connection_given_back_frees_its_place(reusable: bool) -> None:
    pool = _Pool(1, wait=0.01, connect_timeout=1)
    for _ in range(5):
        conn = pool.take(URL)
        pool.give_back(URL, conn, reusable=reusable)  # never connected: closed, not kept
    with pytest.raises(_TimedOutError):
        pool.take(URL), pool.take(URL)


def test_a_waiting_take_goes_on_as_soon_as_one_is_given_back() -> None:
    pool = _Pool(1, wait=10, connect_timeout=1)
    first = pool.take(URL)
    taken: list[http.client.HTTPConnection] = []
    waiter = threading.Thread(target=lambda: taken.append(pool.take(URL)))
    waiter.start()
    time.sleep(0.05)
    assert not taken  # still waiting

    pool.give_back(URL, first, reusable=False)
    waiter.join(5)

    assert len(taken) == 1 and taken[0] is not first


def test_a_take_that_fails_gives_its_place_back(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = _Pool(1, wait=0.01, connect_timeout=1)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("cannot make a connection")

    monkeypatch.setattr(http.client.HTTPConnection, "__init__", refuse)
    with pytest.raises(OSError, match="cannot make"):
        pool.take(URL)
    monkeypatch.undo()

    assert isinstance(pool.take(URL), http.client.HTTPConnection)


def test_a_connection_is_kept_until_the_pool_is_closed() -> None:
    pool = _Pool(1, wait=0.01, connect_timeout=1)
    conn = pool.take(URL)
    conn.sock, other = socket.socketpair(socket.AF_UNIX)  # a connected socket, as far as the pool sees
    with other:
        pool.give_back(URL, conn, reusable=True)
        assert pool.take(URL) is conn  # kept, and still usable
        pool.close()
        pool.give_back(URL, conn, reusable=True)

        assert pool._idle == {}
        assert cast("socket.socket | None", conn.sock) is None  # closed, not kept
        assert pool.take(URL) is not conn  # its place was freed
