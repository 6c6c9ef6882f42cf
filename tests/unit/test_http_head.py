"""The HTTP transport reads an answer's head without the email package (``_Response``); every head a
careless or hostile server may send must read exactly as ``http.client.HTTPResponse`` reads it:
same status, same fields in the same order, same framing (chunked, length, close), same error, and
the stream left at the same byte. Both read the same bytes here, from memory."""

from __future__ import annotations

import http.client
import io
from typing import TypeVar

import pytest

from lienthong.delivery.transports.http import _Response

OK = b"HTTP/1.1 200 OK\r\n"
BODY = b"<ok/>"

HEADS: dict[str, bytes] = {
    "plain": OK + b"Content-Type: text/xml\r\nContent-Length: 5\r\n\r\n",
    "a line without a colon ends the head": OK + b"Content-Length: 5\r\nBogus line\r\nX: y\r\n\r\n",
    "a line without a colon first": OK + b"Bogus line\r\nContent-Length: 5\r\n\r\n",
    "a folded field": OK + b"X-A: a\r\n  b\r\n\tc\r\nContent-Length: 5\r\n\r\n",
    "a folded first line": OK + b" X-A: a\r\nContent-Length: 5\r\n\r\n",
    "Content-Length twice": OK + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n",
    "Content-Length twice, the other way": OK + b"Content-Length: 7\r\ncontent-length: 5\r\n\r\n",
    "Content-Length and chunked": OK + b"Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n",
    "chunked in capitals": OK + b"Transfer-Encoding: CHUNKED\r\n\r\n",
    "gzip then chunked": OK + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
    "100 Continue first": b"HTTP/1.1 100 Continue\r\nX: y\r\n\r\n" + OK + b"Content-Length: 5\r\n\r\n",
    "103 Early Hints": b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK + b"Content-Length: 5\r\n\r\n",
    "HTTP/1.0 without a length": b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n",
    "HTTP/1.0 keep-alive": b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.0 Keep-Alive field": b"HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.0 proxy keep-alive": (
        b"HTTP/1.0 200 OK\r\nProxy-Connection: keep-alive\r\nContent-Length: 5\r\n\r\n"
    ),
    "HTTP/0.9": b"HTTP/0.9 200 OK\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.1 without a length": OK + b"Content-Type: text/xml\r\n\r\n",
    "Connection: close among others": OK + b"Connection: Keep-Alive, Close\r\nContent-Length: 5\r\n\r\n",
    "a 'From ' line": OK + b"From nobody\r\nContent-Length: 5\r\n\r\n",
    "a 'From ' line first and last": OK + b"From a\r\nX: y\r\nFrom b\r\n\r\n",
    "a colon first": OK + b": x\r\nContent-Length: 5\r\n\r\n",
    "a blank before the colon": OK + b"Content-Length : 5\r\n\r\n",
    "Latin-1 in a value": OK + b"X-Name: caf\xe9\r\nContent-Length: 5\r\n\r\n",
    "NEL in a value": OK + b"X-Name: a\x85b\r\nContent-Length: 5\r\n\r\n",
    "a vertical tab in a value": OK + b"X-Name: a\x0bContent-Length: 9\r\nContent-Length: 5\r\n\r\n",
    "a form feed in a value": OK + b"X-Name: a\x0cb\r\nContent-Length: 5\r\n\r\n",
    "a file separator in a value": OK + b"X-Name: a\x1cb\x1dc\x1ed\r\nContent-Length: 5\r\n\r\n",
    "a bare CR in a value": OK + b"X-Name: a\rContent-Length: 9\r\nContent-Length: 5\r\n\r\n",
    "a NUL in a value": OK + b"X: a\x00b\r\nContent-Length: 5\r\n\r\n",
    "LF line ends": b"HTTP/1.1 200 OK\nContent-Length: 5\nX: y \n\n",
    "blanks around a value": OK + b"X: \t y  \t\r\nContent-Length:5\r\n\r\n",
    "an empty value": OK + b"X:\r\nY: \r\nContent-Length: 5\r\n\r\n",
    "a negative length": OK + b"Content-Length: -5\r\n\r\n",
    "a signed length": OK + b"Content-Length: +5\r\n\r\n",
    "a length with an underscore": OK + b"Content-Length: 1_0\r\n\r\n",
    "a length that is no number": OK + b"Content-Length: five\r\n\r\n",
    "an empty length": OK + b"Content-Length:\r\n\r\n",
    "204 with a length": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    "304": b"HTTP/1.1 304 Not Modified\r\n\r\n",
    "a head cut short": OK + b"Content-Length: 5\r\nX: y",
    "nothing after the status line": OK,
    "nothing at all": b"",
    "no HTTP version": b"HTTX/1.1 200 OK\r\n\r\n",
    "HTTP/2.0": b"HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\n",
    "a status out of range": b"HTTP/1.1 1000 Big\r\n\r\n",
    "no reason": b"HTTP/1.1 200\r\nContent-Length: 5\r\n\r\n",
    "100 headers": OK + b"".join(b"X%d: y\r\n" % i for i in range(99)) + b"Content-Length: 5\r\n\r\n",
    "101 headers": OK + b"".join(b"X%d: y\r\n" % i for i in range(100)) + b"Content-Length: 5\r\n\r\n",
    "a line too long": OK + b"X: " + b"y" * 70_000 + b"\r\nContent-Length: 5\r\n\r\n",
    "a status line too long": b"HTTP/1.1 200 " + b"y" * 70_000 + b"\r\n\r\n",
}


class _Socket:
    """What HTTPResponse asks of its socket: a binary file over the answer's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        assert mode == "rb"
        return io.BufferedReader(io.BytesIO(self.data))


R = TypeVar("R", bound=http.client.HTTPResponse)


def _response(cls: type[R], raw: bytes, method: str = "POST") -> R:
    return cls(_Socket(raw), method=method)  # type: ignore[arg-type]


def _read(cls: type[http.client.HTTPResponse], raw: bytes) -> object:
    response = _response(cls, raw + BODY)
    try:
        response.begin()
    except Exception as exc:  # the error itself is what is compared
        return (type(exc), str(exc))
    rest = response.fp.read()
    framing = (response.chunked, response.length, response.will_close)
    head = (response.status, response.reason, response.version)
    return head, response.getheaders(), sorted(response.headers.keys()), framing, rest


@pytest.mark.parametrize("raw", HEADS.values(), ids=HEADS.keys())
def test_a_head_reads_as_the_standard_library_reads_it(raw: bytes) -> None:
    assert _read(_Response, raw) == _read(http.client.HTTPResponse, raw)


@pytest.mark.parametrize("raw", HEADS.values(), ids=HEADS.keys())
def test_the_fields_the_transport_reads_are_those_getheaders_gives(raw: bytes) -> None:
    response = _response(_Response, raw + BODY)
    try:
        response.begin()
    except http.client.HTTPException:
        return
    assert response.fields == response.getheaders()


def test_a_head_request_has_no_body_as_in_the_standard_library() -> None:
    raw = OK + b"Content-Length: 5\r\n\r\n"
    ours, theirs = _response(_Response, raw, "HEAD"), _response(http.client.HTTPResponse, raw, "HEAD")
    ours.begin()
    theirs.begin()
    assert ours.length == theirs.length == 0
