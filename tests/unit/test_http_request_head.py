"""The HTTP transport writes a request's head at once (``_send_request``) instead of through
``putrequest`` and ``putheader``; every request must leave as ``http.client``'s ``request()`` sends
it: the same bytes in the same order, the same error for what it refuses, and the connection in the
same state for ``getresponse()``. The writes are the same too (head, then body), but that a body of
up to ``_ONE_WRITE`` bytes goes in the head's write. Both write to a socket stand-in here, in memory;
tests/integration/test_http_transport.py compares what a server received."""

from __future__ import annotations

import http.client
import io
import itertools
from collections.abc import Callable

import pytest

from lienthong.delivery.transports.http import _ONE_WRITE, _send_request


class _Wire:
    """A connected socket as far as sending goes: every ``sendall`` kept, in order."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        pass


PLAIN = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"urn:x/Op"',
    "User-Agent": "lienthong-hub/1",
}
HEADERS: dict[str, dict[str, str]] = {
    "plain": PLAIN,
    "none": {},
    "JSON with hub headers": {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Message-Id": "5b7c1f0e-0000-4000-8000-000000000001",
        "X-Client": "000.00.00.H49",
        "Authorization": "Basic dXNlcjpwYXNz",
    },
    "Host given": {**PLAIN, "Host": "example.org"},
    "host given in lower case": {**PLAIN, "host": "example.org:81"},
    "Accept-Encoding given": {**PLAIN, "Accept-Encoding": "gzip"},
    "Content-Length given": {**PLAIN, "Content-Length": "3"},
    "Transfer-Encoding given": {**PLAIN, "Transfer-Encoding": "chunked"},
    "a Latin-1 value": {**PLAIN, "X-Name": "Tiến café"[3:]},
    "a tab in a value": {**PLAIN, "X-Tab": "a\tb"},
    "an empty value": {**PLAIN, "X-Empty": ""},
    "a value with a line break": {**PLAIN, "X-Bad": "a\r\nInjected: 1"},
    "a value with a folded line": {**PLAIN, "X-Folded": "a\r\n b"},
    "a value with a control character": {**PLAIN, "X-Ctl": "a\x01b"},
    "a value with DEL": {**PLAIN, "X-Del": "a\x7fb"},
    "a value beyond Latin-1": {**PLAIN, "X-Name": "Tiếp nhận"},
    "a name with a space": {**PLAIN, "X Bad": "1"},
    "a name with a colon": {**PLAIN, "X:Bad": "1"},
    "a name beyond ASCII": {**PLAIN, "X-Tên": "1"},
    "an empty name": {**PLAIN, "": "1"},
}
METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE", "post", "BAD METHOD", "GET\r\n")
TARGETS = ("/soap/land", "/", "/a?b=c&d=%20", "/path with space", "/tiếp", "http://other.example/x", "*")
BODIES: tuple[bytes | None, ...] = (None, b"<x/>", b"x" * 70_000)
HOSTS = (
    ("127.0.0.1", 8701),
    ("localhost", 80),
    ("registry.example.gov.vn", 443),
    ("::1", 8080),
    ("bücher.de", 80),
)


def _outcome(
    conn: http.client.HTTPConnection, write: Callable[[], object]
) -> tuple[tuple[object, ...], list[bytes]]:
    """What happened (the bytes sent, in order), and the writes that sent them."""
    wire = _Wire()
    conn.sock = wire
    try:
        write()
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc), b"".join(wire.writes)), wire.writes
    state = conn._HTTPConnection__state  # type: ignore[attr-defined]
    return ("sent", b"".join(wire.writes), state, conn._method), wire.writes  # type: ignore[attr-defined]


@pytest.mark.parametrize("headers", HEADERS.values(), ids=HEADERS.keys())
def test_every_request_leaves_as_http_client_sends_it(headers: dict[str, str]) -> None:
    for (host, port), method, target, body in itertools.product(HOSTS, METHODS, TARGETS, BODIES):
        ours = http.client.HTTPConnection(host, port)
        theirs = http.client.HTTPConnection(host, port)
        mine, my_writes = _outcome(ours, lambda: _send_request(ours, method, target, body, dict(headers)))  # noqa: B023
        stdlib, their_writes = _outcome(
            theirs,
            lambda: theirs.request(method, target, body=body, headers=dict(headers)),  # noqa: B023
        )
        where = (host, port, method, target, body and len(body))
        assert mine == stdlib, where
        if my_writes != their_writes:  # only a small body, sent in the head's write
            assert body is not None and 0 < len(body) <= _ONE_WRITE, where
            assert their_writes[1:] == [body] and my_writes == [their_writes[0] + body], where


def test_a_small_body_leaves_with_the_head_and_a_large_one_on_its_own() -> None:
    for size, writes in ((1, 1), (_ONE_WRITE, 1), (_ONE_WRITE + 1, 2)):
        conn = http.client.HTTPConnection("127.0.0.1", 8701)
        wire = _Wire()
        conn.sock = wire
        _send_request(conn, "POST", "/", b"x" * size, dict(PLAIN))
        assert len(wire.writes) == writes, size
        assert wire.writes[-1].endswith(b"\r\n\r\n" + b"x" * size if writes == 1 else b"x" * size)


@pytest.mark.parametrize(
    "values",
    [
        {"A": "1", "B": "2\n", "C": "3"},
        {"A": "1\n", "B": "2"},
        {"A": "\n"},
        {"A": "1", "B": "\n2"},
        {"A": "1\r\nInjected: x"},
    ],
)
def test_a_line_break_in_any_value_is_left_to_http_client(values: dict[str, str]) -> None:
    """The values are checked joined by line feeds (``_plain_values``): one inside a value must not
    pass for a separator."""
    conn = http.client.HTTPConnection("127.0.0.1", 8701)
    conn.sock = _Wire()
    with pytest.raises(ValueError, match="Invalid header value"):
        _send_request(conn, "POST", "/", b"x", values)


def test_a_kept_connection_sends_again_once_its_answer_was_read() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    class Replying(_Wire):
        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(answer)

    def twice(conn: http.client.HTTPConnection, send: Callable[[], object]) -> bytes:
        wire = Replying()
        conn.sock = wire
        for _ in range(2):
            send()
            response = conn.getresponse()
            assert response.read() == b"ok"
            response.close()
        return b"".join(wire.writes)

    ours, theirs = http.client.HTTPConnection("127.0.0.1", 1), http.client.HTTPConnection("127.0.0.1", 1)
    assert twice(ours, lambda: _send_request(ours, "POST", "/", b"a", PLAIN)) == twice(
        theirs, lambda: theirs.request("POST", "/", body=b"a", headers=PLAIN)
    )


def test_a_request_before_the_answer_was_read_is_refused_as_http_client_refuses_it() -> None:
    conn = http.client.HTTPConnection("127.0.0.1", 1)
    conn.sock = _Wire()
    _send_request(conn, "POST", "/", b"a", PLAIN)
    with pytest.raises(http.client.CannotSendRequest):
        _send_request(conn, "POST", "/", b"a", PLAIN)


def test_a_plain_request_is_written_without_putrequest_and_putheader() -> None:
    class Counted(http.client.HTTPConnection):
        def putheader(self, header: str | bytes, *values: object) -> None:
            raise AssertionError("the head was written header by header")

    conn = Counted("registry.example.gov.vn", 8443)
    wire = _Wire()
    conn.sock = wire
    _send_request(conn, "POST", "/soap/land", b"<x/>", dict(PLAIN))
    assert wire.writes == [
        b"POST /soap/land HTTP/1.1\r\nHost: registry.example.gov.vn:8443\r\nAccept-Encoding: identity\r\n"
        b'Content-Length: 4\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: "urn:x/Op"\r\n'
        b"User-Agent: lienthong-hub/1\r\n\r\n<x/>",
    ]
