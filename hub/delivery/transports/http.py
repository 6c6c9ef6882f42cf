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
"""

from __future__ import annotations

import base64
import functools
import http.client
import random
import select
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from lienthong.delivery.transports.base import TransportRequest, TransportResponse
from lienthong.errors import TransientDeliveryError
from lienthong.xml import DEFAULT_LIMITS

__all__ = ["USER_AGENT", "HttpTransport"]

#: How much of an answer one read asks for (at most; a read returns what has arrived).
_CHUNK = 64 * 1024


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


class _Pool:
    """Idle keep-alive connections per (scheme, host, port), and a bound on connections in use.

    A connection is taken out of the pool for one request and put back only when its answer was
    read whole and the server did not ask to close it; anything else closes it."""

    def __init__(self, max_connections: int, wait: float, connect_timeout: float) -> None:
        self._wait = wait
        self._connect_timeout = connect_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
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
        if not self._slots.acquire(timeout=self._wait):
            raise _TimedOutError("PoolTimeout")
        try:
            key = (url.scheme, url.host, url.port)
            with self._lock:
                idle = self._idle.get(key)
                while idle:
                    conn = idle.pop()
                    if not _dropped(conn):
                        return conn
                    conn.close()
            if url.scheme == "https":
                return http.client.HTTPSConnection(
                    url.host, url.port, timeout=self._connect_timeout, context=self._tls_context()
                )
            return http.client.HTTPConnection(url.host, url.port, timeout=self._connect_timeout)
        except BaseException:
            self._slots.release()
            raise

    def give_back(self, url: _Url, conn: http.client.HTTPConnection, *, reusable: bool) -> None:
        try:
            if reusable and conn.sock is not None:
                with self._lock:
                    if not self._closed:
                        self._idle.setdefault((url.scheme, url.host, url.port), []).append(conn)
                        return
            conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes


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
        self._pool = _Pool(max_connections, self._read_timeout, connect_timeout.total_seconds())

    def send(self, request: TransportRequest) -> TransportResponse:
        url, body = request.url, request.body
        deadline = time.monotonic() + (self.connect_timeout + self.timeout).total_seconds()
        try:
            answer = self._send(request, deadline)
        except _TimedOutError as exc:
            raise TransientDeliveryError(f"timed out calling {url}: {exc.kind}", request=body) from exc
        except _NoAnswerError as exc:
            raise TransientDeliveryError(f"cannot reach {url}: {exc}", request=body) from exc
        return TransportResponse(status=answer.status, headers=answer.headers, body=answer.body)

    def _send(self, request: TransportRequest, deadline: float) -> _Answer:
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
    def _send_again(self, request: TransportRequest, deadline: float) -> _Answer:
        return self._send_once(request, deadline)

    def _send_once(self, request: TransportRequest, deadline: float) -> _Answer:
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
                conn.request(request.method, url.target, body=request.body or None, headers=headers)
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
    ) -> _Answer:
        url, limit, status = request.url, self.max_response_bytes, response.status

        def refuse(message: str) -> TransientDeliveryError:
            return TransientDeliveryError(message, response_status=status, request=request.body)

        headers: dict[str, str] = {}
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
        return _Answer(status, headers, b"".join(chunks))

    def close(self) -> None:
        self._pool.close()
