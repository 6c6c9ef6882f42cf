"""The HTTP transport reads an answer's head without the email package (``_Response``); every head a
careless or hostile server may send must read exactly as ``http.client.HTTPResponse`` reads it:
same status, same fields in the same order, same framing (chunked, length, close), same error, and
the stream left at the same byte. Both read the same bytes here, from memory."""

from __future__ import annotations

import http.client
import io
from typing import TypeVar

import pytest

from lienthong.delivery.transports.http import _buffered_head, _Response

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
    "a head longer than a buffer": OK
    + b"".join(b"X%d: %s\r\n" % (i, b"y" * 500) for i in range(40))
    + b"\r\n",
    "99 fields": OK + b"".join(b"X%d: y\r\n" % i for i in range(98)) + b"Content-Length: 5\r\n\r\n",
    "two blanks before the reason": b"HTTP/1.1 200  OK\r\nContent-Length: 5\r\n\r\n",
    "two blanks before the status": b"HTTP/1.1  200 OK\r\nContent-Length: 5\r\n\r\n",
    "a tab before the reason": b"HTTP/1.1 200\tOK\r\nContent-Length: 5\r\n\r\n",
    "a tab in the reason": b"HTTP/1.1 200 \tAll\tfine \r\nContent-Length: 5\r\n\r\n",
    "a blank reason": b"HTTP/1.1 200 \r\nContent-Length: 5\r\n\r\n",
    "Latin-1 in the reason": b"HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 5\r\n\r\n",
    "a form feed in the reason": b"HTTP/1.1 200 O\x0cK\r\nContent-Length: 5\r\n\r\n",
    "a status with a leading zero": b"HTTP/1.1 0200 OK\r\nContent-Length: 5\r\n\r\n",
    "a two-digit status": b"HTTP/1.1 20 OK\r\nContent-Length: 5\r\n\r\n",
    "a signed status": b"HTTP/1.1 +20 OK\r\nContent-Length: 5\r\n\r\n",
    "a status with an underscore": b"HTTP/1.1 2_0 OK\r\nContent-Length: 5\r\n\r\n",
    "a status of 099": b"HTTP/1.1 099 Low\r\nContent-Length: 5\r\n\r\n",
    "a status of 999": b"HTTP/1.1 999 High\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.2": b"HTTP/1.2 200 OK\r\nContent-Length: 5\r\n\r\n",
    "http/1.1 in lower case": b"http/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    "a blank before the version": b" HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    "a status line ending in CR CR LF": b"HTTP/1.1 200 OK\r\r\nContent-Length: 5\r\n\r\n",
    "a head ending in CR CR LF": OK + b"Content-Length: 5\r\n\r\r\n",
    "a head ending in a blank line of spaces": OK + b"Content-Length: 5\r\n \r\n\r\n",
    "a 500 with Connection: close": b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n",
    "chunked, then a length": OK + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    "Set-Cookie twice": OK + b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\n",
}


class _Drip(io.RawIOBase):
    """A socket's stream that hands over at most ``size`` bytes a read, as a slow server's arrive."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = io.BytesIO(data), size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        piece = self.data.read(min(self.size, len(buffer)))
        buffer[: len(piece)] = piece
        return len(piece)


class _Socket:
    """What HTTPResponse asks of its socket: a binary file over the answer's bytes, buffered as a
    socket's file is (``drip``: arriving that many bytes at a time; ``buffer``: its buffer's size)."""

    def __init__(self, data: bytes, drip: int | None = None, buffer: int = io.DEFAULT_BUFFER_SIZE) -> None:
        self.data, self.drip, self.buffer = data, drip, buffer

    def makefile(self, mode: str) -> io.BufferedReader:
        assert mode == "rb"
        raw = io.BytesIO(self.data) if self.drip is None else _Drip(self.data, self.drip)
        return io.BufferedReader(raw, self.buffer)


R = TypeVar("R", bound=http.client.HTTPResponse)


def _response(
    cls: type[R],
    raw: bytes,
    method: str = "POST",
    *,
    drip: int | None = None,
    buffer: int = io.DEFAULT_BUFFER_SIZE,
) -> R:
    return cls(_Socket(raw, drip, buffer), method=method)  # type: ignore[arg-type]


def _read(
    cls: type[http.client.HTTPResponse], raw: bytes, *, drip: int | None = None, buffer: int = 8192
) -> object:
    response = _response(cls, raw + BODY, drip=drip, buffer=buffer)
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


@pytest.mark.parametrize(("drip", "buffer"), [(1, 8192), (40, 8192), (None, 64), (None, 1 << 17)])
@pytest.mark.parametrize("raw", HEADS.values(), ids=HEADS.keys())
def test_a_head_arriving_in_pieces_reads_as_the_standard_library_reads_it(
    raw: bytes, drip: int | None, buffer: int
) -> None:
    """A head only partly buffered is read line by line; one buffered whole, at once."""
    ours = _read(_Response, raw, drip=drip, buffer=buffer)
    assert ours == _read(http.client.HTTPResponse, raw, drip=drip, buffer=buffer)


@pytest.mark.parametrize(
    ("name", "at_once"),
    [
        ("plain", True),
        ("LF line ends", True),
        ("Content-Length twice", True),
        ("a tab in the reason", True),
        ("99 fields", True),
        ("a head longer than a buffer", False),
        ("100 headers", False),
        ("a folded field", False),
        ("100 Continue first", False),
        ("no reason", False),
        ("HTTP/1.2", False),
        ("a head cut short", False),
    ],
)
def test_only_a_head_in_the_common_shape_is_read_at_once(name: str, at_once: bool) -> None:
    """The comparisons above test both readers: these heads take the one expected."""
    fp = io.BufferedReader(io.BytesIO(HEADS[name] + BODY))
    assert (_buffered_head(fp) is not None) == at_once
    if not at_once:
        assert fp.tell() == 0  # nothing taken: the line reader starts at the status line


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
