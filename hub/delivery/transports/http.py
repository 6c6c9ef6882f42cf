"""HTTP transport: the :class:`~lienthong.delivery.transports.base.Transport` contract over sockets; one call,
classified into delivered, worth retrying later, or hopeless.

Tenacity retries inside one call only where that is always safe: a connection that was never
established carried no request, so trying again at once cannot duplicate anything. Everything else
(timeouts, 5xx) is left to the persistent schedule in the store, which survives restarts.

Timeouts are explicit: ``connect_timeout`` for the TCP (and TLS) connection, ``timeout`` for each
read, write and wait for a pooled connection, and a whole-call deadline of ``connect_timeout +
timeout`` checked while the answer is read, so a server that drips its answer a byte at a time cannot
hold a worker (and its lease) for ever. The answer is also bounded in size, as every XML document the
hub reads is. TLS verifies the server against the CA bundle httpx uses (``httpx.create_ssl_context``,
certifi); nothing is taken from the environment (no proxies, no CA or certificate variables) and
redirects are not followed.

**Why the standard library's http.client, not httpx, here.** This is the one HTTP client on the
delivery hot path: every attempt to every ministry goes through :meth:`HttpTransport.send`. Measured
on loopback for a 5 KB POST and a 1.5 KB answer (thread CPU per call), httpx costs ~0.64 ms, httpcore
alone ~0.35–0.45, urllib3's connection pool ~0.30–0.45 and http.client ~0.15: most of a pooled
request's cost in the first three is their own per-request Python (request and URL models, event
machinery, header classes), not HTTP. http.client is the HTTP/1.1 implementation urllib3 itself
sends and reads through (status line, headers, chunked and length framing, ``Connection: close``);
what is written here is only what a pool adds on top — idle connections kept per host, a bound on
how many are open, a check that an idle one was not closed by the server before it is used again —
and the hub's own rules above. httpx stays everywhere else (the CLI, the tests' clients).

Two parts of http.client are replaced. It parses an answer's headers with the email package, which
cost as much as the rest of the call: :class:`_Response` splits them itself and hands any head it
does not fully recognise to http.client's own parser, so every answer is read exactly as before
(tests/unit/test_http_head.py compares the two on careless and hostile heads). And it writes a
request's head a header at a time, each checked against its patterns (``putrequest``,
``putheader``): :func:`_send_request` writes the same bytes at once when every part is plainly
legal, a body of a few kilobytes in the head's write (one system call and one segment instead of
two; a larger body in a write of its own, as http.client sends it), and leaves anything else to
``request()`` (tests/integration/test_http_transport.py compares the bytes on the wire).
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import random
import re
import select
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from typing import cast

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from lienthong.delivery.transports.base import TransportRequest, TransportResponse
from lienthong.errors import TransientDeliveryError
from lienthong.xml import DEFAULT_LIMITS

__all__ = ["USER_AGENT", "HttpTransport"]

#: How much of an answer one read asks for (at most; a read returns what has arrived).
_CHUNK = 64 * 1024

#: The standard library's bounds on an answer's head (http.client's _MAXLINE and _MAXHEADERS).
_MAX_LINE = 65536
_MAX_HEADERS = 100

#: One header line in the shape nearly every server sends, as the email package reads it: a name of
#: visible characters but ':', the value after leading blanks, one line end. Whatever else is in a
#: head (a folded line, a line without a colon or with one first, a "From " line, a character
#: ``str.splitlines`` breaks a line on) sends the whole head to the standard library's parser.
_FIELD = re.compile(r"([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n\x0b\x0c\x1c-\x1e\x85]*)\r?\n")

#: A whole head in the shape nearly every server sends, read at once from what is already buffered
#: (:func:`_buffered_head`): an HTTP/1.0 or 1.1 status line with a three-digit final status (not 1xx)
#: and a reason of visible ASCII, blanks and tabs, then only ``_FIELD`` lines, then the blank line.
#: Whatever else (another version, no reason, a 100 Continue, any line ``_FIELD`` does not take) is
#: read line by line as before.
_HEAD = re.compile(
    r"HTTP/1\.([01]) ([2-9][0-9][0-9]) ([\t\x20-\x7e]*)\r?\n"
    r"((?:[\x21-\x39\x3b-\x7e]+:[ \t]*[^\r\n\x0b\x0c\x1c-\x1e\x85]*\r?\n)*)\r?\n"
)


def _user_agent() -> str:
    try:
        return f"lienthong-hub/{metadata.version('lienthong-hub')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "lienthong-hub"


#: Who calls, on every request: a ministry's operators (and gateways that refuse anonymous clients)
#: see the hub, and its version, in their logs.
USER_AGENT = _user_agent()


class _NoAnswerError(Exception):
    """The call got no answer: nothing, or nothing usable, came back (``cannot reach``)."""


class _ConnectError(_NoAnswerError):
    """The connection (TCP, TLS) could not be made: no byte of the request left, so it may be retried."""


class _TimedOutError(Exception):
    """A timeout; ``kind`` names the phase as httpx did (ConnectTimeout, ReadTimeout…), for the log."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class _Url:
    """A request URL split once: the pool key, the request target and Basic credentials, if any."""

    scheme: str
    host: str
    port: int
    target: str
    authorization: str | None


@functools.lru_cache(maxsize=256)
def _split(url: str) -> _Url:
    """Endpoints are few and the same on every call: each is parsed once."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _NoAnswerError(f"Request URL has an unsupported protocol '{scheme}://'.")
    try:
        port = parts.port
    except ValueError as exc:
        raise _NoAnswerError(f"Invalid port in {url}") from exc
    if not parts.hostname:
        raise _NoAnswerError(f"Request URL is missing a host: {url}")
    authorization = None
    if parts.username is not None:  # user:password@host, sent as Basic credentials (as httpx does)
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if scheme == "https" else 80
    return _Url(scheme, parts.hostname, port or default, target, authorization)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection can no longer carry a request: closed by the server (readable at
    EOF) or holding bytes nobody asked for. ``poll``, not ``select``: descriptors may exceed 1024."""
    sock = conn.sock
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _head_lines(fp: io.BufferedIOBase) -> list[bytes]:
    """The lines of a head up to and including the blank line (or the end of the stream), bounded
    as http.client bounds them, with its errors."""
    lines: list[bytes] = []
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def _parse_head(lines: list[bytes]) -> tuple[list[tuple[str, str]], http.client.HTTPMessage]:
    """The header fields in order, and the same as the HTTPMessage http.client would have made.

    Every line in the common shape (``_FIELD``) is split here; a head with any other line is given
    whole to ``http.client.parse_headers``, so what a careless server sends (folded lines, a line
    without a colon that ends the head there, a stray "From " line) reads exactly as before."""
    fields: list[tuple[str, str]] = []
    for line in lines[:-1]:
        found = _FIELD.fullmatch(line.decode("iso-8859-1"))
        if found is None:
            message = http.client.parse_headers(io.BytesIO(b"".join(lines)))
            return [(name, str(value)) for name, value in message.items()], message
        fields.append((found[1], found[2]))
    message = http.client.HTTPMessage()
    for name, value in fields:
        message[name] = value  # stored as given (the compat32 policy), as the email parser stores it
    return fields, message


def _buffered_head(fp: io.BufferedIOBase) -> tuple[str, int, str, list[tuple[str, str]]] | None:
    """The status line and fields of a head that has arrived whole, in the common shape (``_HEAD``),
    taken from the stream's buffer at once; None (nothing taken) for any other head, or one that has
    not arrived whole: it is then read line by line.

    WHY: reading a head a line at a time (``readline``, a decode and a match per line, the status
    line split and checked on its own) was a third of what the transport spends on an answer. The
    head is read here with one match over one decode, and taken from the buffer with one read.
    Within ``_HEAD`` every line reads as http.client reads it: the status line splits into the
    same version, status and reason and each field is what ``_FIELD`` matches. A head longer than
    http.client's bound on one line, or of ``_MAX_HEADERS`` lines or more, is left to the line
    reader, which reads or refuses it with its own errors."""
    peek = getattr(fp, "peek", None)
    if peek is None:
        return None
    buffered: bytes = peek(_CHUNK)  # what is buffered, or one read's worth when nothing is
    found = _HEAD.match(buffered.decode("iso-8859-1"))
    if found is None:
        return None
    fields = _FIELD.findall(found[4])
    if len(fields) >= _MAX_HEADERS or found.end() > _MAX_LINE:  # (no line of it is longer)
        return None
    fp.read(found.end())  # bytes from the buffer, no read from the socket
    return f"HTTP/1.{found[1]}", int(found[2]), found[3], fields


class _Response(http.client.HTTPResponse):
    """http.client's answer, its head read without the email package.

    WHY: the standard library parses an answer's headers with ``email.parser`` (a FeedParser, a
    policy call per field, a case-insensitive scan per lookup): about a tenth of a delivery
    thread's CPU. The fields are split here (:func:`_parse_head`), and :meth:`begin` decides the
    framing from them exactly as ``HTTPResponse.begin`` does (it is that method with the head read
    differently): chunked over Content-Length, the first of repeated fields, 100 Continue skipped,
    ``Connection: close`` and HTTP/1.0 rules, no body for 1xx, 204 and 304. Reading the body is
    http.client's own."""

    #: The header fields in the order received: what ``getheaders()`` gives, without a copy.
    fields: list[tuple[str, str]]
    #: The fields by lower-case name, a repeated one's values joined by ", ": the transport's answer.
    joined: dict[str, str]
    _message: http.client.HTTPMessage | None = None
    #: The head was read at once: its HTTPMessage is made from ``fields`` only if asked for.
    _message_due = False

    def _get_message(self) -> http.client.HTTPMessage:
        """``msg`` and ``headers``: the HTTPMessage http.client would have made (None until read).

        WHY: the transport reads ``fields`` and ``joined``; nothing on a delivery's path asks for
        the message (``getheader()``, ``info()``…), whose making was a field at a time through the
        email package. Whoever asks gets the same message, made then."""
        if self._message_due:
            message = http.client.HTTPMessage()
            for name, value in self.fields:
                message[name] = value  # stored as given (the compat32 policy), as in _parse_head
            self._message, self._message_due = message, False
        return cast(http.client.HTTPMessage, self._message)

    def _set_message(self, message: http.client.HTTPMessage) -> None:
        self._message, self._message_due = message, False

    msg = headers = property(_get_message, _set_message)

    def begin(self) -> None:
        if self._message is not None or self._message_due:  # read already
            return
        buffered = _buffered_head(self.fp)
        if buffered is not None:
            version, status, reason, self.fields = buffered
        else:
            while True:
                version, status, reason = self._read_status()  # type: ignore[attr-defined]
                if status != http.client.CONTINUE:
                    break
                _head_lines(self.fp)  # a 100 Continue's own headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        if buffered is None:
            self.fields, self.msg = _parse_head(_head_lines(self.fp))
        else:
            self._message_due = True
        first: dict[str, str] = {}  # what HTTPMessage.get returns: the first of repeated fields
        joined: dict[str, str] = {}
        for name, value in self.fields:
            key = name.lower()
            if key in joined:
                joined[key] = f"{joined[key]}, {value}"
            else:
                joined[key] = first[key] = value
        self.joined = joined
        encoding = first.get("transfer-encoding")
        self.chunked = encoding is not None and encoding.lower() == "chunked"
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._closes(first)
        self.length = None
        length = first.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # nonsensical negative lengths are ignored
                    self.length = None
        head_only = getattr(self, "_method", None) == "HEAD"  # set by HTTPResponse.__init__
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 or head_only:
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # no framing: the answer ends when the server closes

    def _closes(self, first: dict[str, str]) -> bool:
        """``HTTPResponse._check_close`` on the fields read here."""
        connection = (first.get("connection") or "").lower()
        if self.version == 11:
            return "close" in connection
        if first.get("keep-alive") or "keep-alive" in connection:
            return False
        return "keep-alive" not in (first.get("proxy-connection") or "").lower()


#: What ``putrequest`` and ``putheader`` write as given, without a check that could fail: a method
#: that is a token, a target of visible ASCII, header names that are tokens, values of Latin-1 text
#: without line breaks or other control characters but tab.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"[\x21-\x7e]+")
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Every value of a request at once, joined by line feeds (:func:`_plain_values`).
_VALUES = re.compile(r"[\t\n\x20-\x7e\xa0-\xff]*")
#: Headers http.client writes itself unless given (Host, Accept-Encoding) or decides on (the length).
_OWN_HEADERS = frozenset({"host", "accept-encoding", "content-length", "transfer-encoding"})
#: http.client's connection state, kept in name-mangled attributes of HTTPConnection.
_STATE, _RESPONSE = "_HTTPConnection__state", "_HTTPConnection__response"
#: A body up to this size leaves in the head's write (a copy this small costs less than a second
#: write); a larger one in a write of its own, as http.client sends it, so it is never copied.
_ONE_WRITE = 64 * 1024


@functools.lru_cache(maxsize=256)
def _plain_name(name: str) -> bool:
    """A header name ``putheader`` writes as given: a token, and not one of http.client's own.

    Names are few and the same on every call (the adapters' and the hub's): each is checked once."""
    return _NAME.fullmatch(name) is not None and name.lower() not in _OWN_HEADERS


def _plain_values(headers: dict[str, str]) -> bool:
    """Every value is one ``putheader`` writes as given (Latin-1 text, no control character but tab).

    WHY: one match over the values joined, instead of one per value. A line feed is the one
    character both allowed in the join and refused in a value: with exactly one fewer line feeds
    than values, each is a separator, and every value matches on its own."""
    values = "\n".join(headers.values())
    return _VALUES.fullmatch(values) is not None and values.count("\n") == max(len(headers) - 1, 0)


def _send_request(
    conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None, headers: dict[str, str]
) -> None:
    """``conn.request(method, target, body=body, headers=headers)``, its head written at once.

    WHY: http.client builds a request's head line by line (``putrequest``, then ``putheader`` per
    header, each matched against its patterns and encoded on its own) and sends the head and the
    body in two writes: a tenth of a delivery call, and a second system call and TCP segment. When
    every part is one it writes as given (``_METHOD``…) and the connection is idle with no proxy
    tunnel, the same head is written here — the request line, ``Host`` (with the port unless it is
    the scheme's), ``Accept-Encoding: identity``, ``Content-Length``, then the headers in order —
    followed by a body of up to ``_ONE_WRITE`` bytes in the same write (a larger one in a second
    write, as http.client sends it: the same bytes in the same order either way), and the
    connection is left in the state ``request()`` leaves it in, so ``getresponse()`` reads the
    answer as before. Anything else (a header http.client would write itself, a value it would
    check or refuse) is ``request()``'s own, with its errors."""
    response = getattr(conn, _RESPONSE)
    if response is not None and response.isclosed():
        setattr(conn, _RESPONSE, None)
    host = conn.host
    if (
        getattr(conn, _STATE) != http.client._CS_IDLE  # type: ignore[attr-defined]
        or conn._tunnel_host  # type: ignore[attr-defined]
        or not _METHOD.fullmatch(method)
        or not _TARGET.fullmatch(target)
        or target.startswith("http")  # an absolute URL: http.client takes the Host from it
        or not _NAME.fullmatch(host)  # an ASCII name or IPv4 address: no ':' to bracket, no IDNA
        or not all(map(_plain_name, headers))
        or not _plain_values(headers)
    ):
        conn.request(method, target, body=body, headers=headers)
        return
    if conn.port != conn.default_port:
        host = f"{host}:{conn.port}"
    if body is not None:
        length = f"Content-Length: {len(body)}"
    elif method.upper() in http.client._METHODS_EXPECTING_BODY:  # type: ignore[attr-defined]
        length = "Content-Length: 0"
    else:
        length = None
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    if length is not None:
        lines.append(length)
    lines += map(": ".join, headers.items())  # f"{name}: {value}", without a Python call per header
    lines += ("", "")
    head = "\r\n".join(lines).encode("latin-1")
    conn._method = method  # type: ignore[attr-defined]  # what getresponse() hands its answer
    setattr(conn, _STATE, http.client._CS_REQ_SENT)  # type: ignore[attr-defined]
    if body and len(body) <= _ONE_WRITE:
        conn.send(head + body)
        return
    conn.send(head)
    if body:
        conn.send(body)


class _Pool:
    """Idle keep-alive connections per (scheme, host, port), and a bound on connections in use.

    A connection is taken out of the pool for one request and put back only when its answer was
    read whole and the server did not ask to close it; anything else closes it. The bound is a count
    kept under the pool's lock, which taking and giving back hold anyway: a semaphore beside it was
    two more lock round trips a call, in Python."""

    def __init__(self, max_connections: int, wait: float, connect_timeout: float) -> None:
        self._wait = wait
        self._connect_timeout = connect_timeout
        self._max = max_connections
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # a connection was given back
        self._in_use = 0  # connections taken and not given back yet
        self._waiting = 0  # threads waiting for one to be given back
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._closed = False
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import httpx  # its CA bundle and defaults, without reading SSL_CERT_* from the environment

            context = httpx.create_ssl_context(verify=True, trust_env=False)
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls

    def take(self, url: _Url) -> http.client.HTTPConnection:
        """A kept connection to ``url``'s host that is still usable, or a new one (not connected);
        waits up to ``wait`` while ``max_connections`` are in use."""
        with self._lock:
            if self._in_use >= self._max and not self._wait_for_slot():
                raise _TimedOutError("PoolTimeout")
            self._in_use += 1
            try:
                idle = self._idle.get((url.scheme, url.host, url.port))
                while idle:
                    kept = idle.pop()
                    if not _dropped(kept):
                        return kept
                    kept.close()
            except BaseException:
                self._free_slot()
                raise
        try:
            if url.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    url.host, url.port, timeout=self._connect_timeout, context=self._tls_context()
                )
            else:
                conn = http.client.HTTPConnection(url.host, url.port, timeout=self._connect_timeout)
            conn.response_class = _Response
            return conn
        except BaseException:
            with self._lock:
                self._free_slot()
            raise

    def _wait_for_slot(self) -> bool:
        """With the lock held: wait up to ``wait`` for a connection to be given back; False if none
        was by then."""
        deadline = time.monotonic() + self._wait
        self._waiting += 1
        try:
            while self._in_use >= self._max:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._freed.wait(remaining)
            return True
        finally:
            self._waiting -= 1

    def _free_slot(self) -> None:
        """With the lock held: one connection fewer in use; a thread waiting for one may go on."""
        self._in_use -= 1
        if self._waiting:
            self._freed.notify()

    def give_back(self, url: _Url, conn: http.client.HTTPConnection, *, reusable: bool) -> None:
        if reusable and conn.sock is not None:
            with self._lock:
                if not self._closed:
                    self._idle.setdefault((url.scheme, url.host, url.port), []).append(conn)
                    self._free_slot()
                    return
        try:
            conn.close()
        finally:
            with self._lock:
                self._free_slot()  # once it is closed: never more than max_connections open

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()


class HttpTransport:
    """Pooled keep-alive connections per adapter, with explicit timeouts and limits."""

    def __init__(
        self,
        *,
        timeout: timedelta,
        connect_timeout: timedelta,
        max_connections: int = 16,
        max_response_bytes: int = DEFAULT_LIMITS.max_bytes,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_response_bytes = max_response_bytes
        self._read_timeout = timeout.total_seconds()
        self._whole_call = (connect_timeout + timeout).total_seconds()
        self._pool = _Pool(max_connections, self._read_timeout, connect_timeout.total_seconds())

    def send(self, request: TransportRequest) -> TransportResponse:
        deadline = time.monotonic() + self._whole_call
        try:
            return self._send(request, deadline)
        except _TimedOutError as exc:
            raise TransientDeliveryError(
                f"timed out calling {request.url}: {exc.kind}", request=request.body
            ) from exc
        except _NoAnswerError as exc:
            raise TransientDeliveryError(f"cannot reach {request.url}: {exc}", request=request.body) from exc

    def _send(self, request: TransportRequest, deadline: float) -> TransportResponse:
        """Three tries in all when the connection cannot be made, backing off between them.

        The first try is a plain call: tenacity's bookkeeping (a fresh retry state per call) cost
        more CPU than the rest of a pooled request, and is only needed once a try has failed."""
        try:
            return self._send_once(request, deadline)
        except _ConnectError:
            time.sleep(0.1 + random.uniform(0, 0.1))  # as the exponential backoff's first wait
            return self._send_again(request, deadline)

    @retry(
        retry=retry_if_exception_type(_ConnectError),
        stop=stop_after_attempt(2),
        wait=wait_exponential_jitter(multiplier=0.2, max=1.0, jitter=0.1),  # the second wait as before
        reraise=True,
    )
    def _send_again(self, request: TransportRequest, deadline: float) -> TransportResponse:
        return self._send_once(request, deadline)

    def _send_once(self, request: TransportRequest, deadline: float) -> TransportResponse:
        url = _split(request.url)
        conn = self._pool.take(url)
        reusable = False
        try:
            if conn.sock is None:
                self._connect(conn)
            headers = dict(request.headers)
            headers.setdefault("User-Agent", USER_AGENT)
            if url.authorization is not None:
                headers.setdefault("Authorization", url.authorization)
            try:
                _send_request(conn, request.method, url.target, request.body or None, headers)
            except TimeoutError as exc:
                raise _TimedOutError("WriteTimeout") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise _NoAnswerError(str(exc) or type(exc).__name__) from exc
            try:
                response = conn.getresponse()
            except TimeoutError as exc:
                raise _TimedOutError("ReadTimeout") from exc
            except http.client.RemoteDisconnected as exc:
                raise _NoAnswerError("Server disconnected without sending a response.") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise _NoAnswerError(str(exc) or type(exc).__name__) from exc
            try:
                answer = self._read(response, request, deadline)
            finally:
                response.close()
            reusable = not response.will_close
            return answer
        finally:
            self._pool.give_back(url, conn, reusable=reusable)

    def _connect(self, conn: http.client.HTTPConnection) -> None:
        """TCP and TLS within ``connect_timeout``; then every read and write within ``timeout``."""
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise _TimedOutError("ConnectTimeout") from exc
        except OSError as exc:  # refused, unreachable, name not known, TLS verification failed
            conn.close()
            raise _ConnectError(str(exc) or type(exc).__name__) from exc
        assert conn.sock is not None
        conn.sock.settimeout(self._read_timeout)

    def _read(
        self, response: http.client.HTTPResponse, request: TransportRequest, deadline: float
    ) -> TransportResponse:
        url, limit, status = request.url, self.max_response_bytes, response.status

        def refuse(message: str) -> TransientDeliveryError:
            return TransientDeliveryError(message, response_status=status, request=request.body)

        if isinstance(response, _Response):
            headers = response.joined
        else:
            headers = {}
            for name, value in response.getheaders():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise refuse(f"the answer from {url} is {declared} bytes, over the limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = response.read1(_CHUNK)
            except TimeoutError as exc:
                raise _TimedOutError("ReadTimeout") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise _NoAnswerError(str(exc) or type(exc).__name__) from exc
            if not chunk:
                if response.length:  # read1 ends quietly where read() would raise IncompleteRead
                    raise _NoAnswerError(
                        "peer closed connection without sending complete message body "
                        f"(received {size} bytes, expected {size + response.length})"
                    )
                break
            size += len(chunk)
            if size > limit:
                raise refuse(f"the answer from {url} exceeds the limit of {limit} bytes")
            if time.monotonic() > deadline:
                raise refuse(f"timed out reading the answer from {url} (whole-call deadline)")
            chunks.append(chunk)
            if response.length == 0 or response.isclosed():  # read whole: a next read1 would only say so
                break
        return TransportResponse(status=status, headers=headers, body=b"".join(chunks))

    def close(self) -> None:
        self._pool.close()
