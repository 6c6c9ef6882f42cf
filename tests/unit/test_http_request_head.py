"""The HTTP transport writes a request's head at once (``_send_request``) instead of through
``putrequest`` and ``putheader``; every request must leave as ``http.client``'s ``request()`` sends
it: the same writes (head, then body), the same bytes, the same error for what it refuses, and the
connection in the same state for ``getresponse()``. Both write to a socket stand-in here, in memory;
tests/integration/test_http_transport.py compares what a server received."""

from __future__ import annotations

import http.client
import io
import itertools
from collections.abc import Callable

import pytest

from lienthong.delivery.transports.http import _send_request


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


def _outcome(conn: http.client.HTTPConnection, write: Callable[[], object]) -> tuple[object, ...]:
    wire = _Wire()
    conn.sock = wire
    try:
        write()
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc), wire.writes)
    return ("sent", wire.writes, conn._HTTPConnection__state, conn._method)  # type: ignore[attr-defined]


@pytest.mark.parametrize("headers", HEADERS.values(), ids=HEADERS.keys())
def test_every_request_leaves_as_http_client_sends_it(headers: dict[str, str]) -> None:
    for (host, port), method, target, body in itertools.product(HOSTS, METHODS, TARGETS, BODIES):
        ours = http.client.HTTPConnection(host, port)
        theirs = http.client.HTTPConnection(host, port)
        mine = _outcome(ours, lambda: _send_request(ours, method, target, body, dict(headers)))  # noqa: B023
        stdlib = _outcome(theirs, lambda: theirs.request(method, target, body=body, headers=dict(headers)))  # noqa: B023
        assert mine == stdlib, (host, port, method, target, body and len(body))


def test_a_kept_connection_sends_again_once_its_answer_was_read() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    class Replying(_Wire):
        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(answer)

    def twice(conn: http.client.HTTPConnection, send: Callable[[], object]) -> list[bytes]:
        wire = Replying()
        conn.sock = wire
        for _ in range(2):
            send()
            response = conn.getresponse()
            assert response.read() == b"ok"
            response.close()
        return wire.writes

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
        b"User-Agent: lienthong-hub/1\r\n\r\n",
        b"<x/>",
    ]
