"""HTTP transport: the :class:`~lienthong.delivery.transports.base.Transport` contract over sockets; one call,
classified into delivered, worth retrying later, or hopeless.

Tenacity retries inside one call only where that is always safe: a connection that was never
established carried no request, so trying again at once cannot duplicate anything. Everything else
(timeouts, 5xx) is left to the persistent schedule in the store, which survives restarts.

Timeouts are explicit, never httpx's default of 5 s: ``connect_timeout`` for the TCP (and TLS)
connection, ``timeout`` for each read, write and wait for a pooled connection, and a whole-call
deadline of ``connect_timeout + timeout`` checked while the answer is read, so a server that drips
its answer a byte at a time cannot hold a worker (and its lease) for ever. The answer is also
bounded in size, as every XML document the hub reads is.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from lienthong.delivery.transports.base import TransportRequest, TransportResponse
from lienthong.errors import TransientDeliveryError
from lienthong.xml import DEFAULT_LIMITS


class HttpTransport:
    """A pooled httpx client per adapter, with explicit timeouts and limits."""

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
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout.total_seconds(), connect=connect_timeout.total_seconds()),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            trust_env=False,  # no proxy or CA settings picked up from the environment by surprise
        )

    def _send_once(self, request: TransportRequest) -> httpx.Response:
        built = self._client.build_request(
            request.method, request.url, content=request.body, headers=dict(request.headers)
        )
        return self._client.send(built, stream=True)

    @retry(
        retry=retry_if_exception_type(httpx.ConnectError),
        stop=stop_after_attempt(2),
        wait=wait_exponential_jitter(multiplier=0.2, max=1.0, jitter=0.1),  # the second wait as before
        reraise=True,
    )
    def _send_again(self, request: TransportRequest) -> httpx.Response:
        return self._send_once(request)

    def _send(self, request: TransportRequest) -> httpx.Response:
        """Three tries in all when the connection cannot be made, backing off between them.

        The first try is a plain call: tenacity's bookkeeping (a fresh retry state per call) cost
        more CPU than the rest of a pooled request, and is only needed once a try has failed."""
        try:
            return self._send_once(request)
        except httpx.ConnectError:
            time.sleep(0.1 + random.uniform(0, 0.1))  # as the exponential backoff's first wait
            return self._send_again(request)

    def send(self, request: TransportRequest) -> TransportResponse:
        url, body = request.url, request.body
        deadline = time.monotonic() + (self.connect_timeout + self.timeout).total_seconds()
        try:
            response = self._send(request)
            try:
                content = self._read(response, url, body, deadline)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(
                f"timed out calling {url}: {type(exc).__name__}", request=body
            ) from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(
                f"cannot reach {url}: {exc or type(exc).__name__}", request=body
            ) from exc
        return TransportResponse(status=response.status_code, headers=dict(response.headers), body=content)

    def _read(self, response: httpx.Response, url: str, request: bytes, deadline: float) -> bytes:
        limit = self.max_response_bytes

        def refuse(message: str) -> TransientDeliveryError:
            return TransientDeliveryError(message, response_status=response.status_code, request=request)

        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise refuse(f"the answer from {url} is {declared} bytes, over the limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise refuse(f"the answer from {url} exceeds the limit of {limit} bytes")
            if time.monotonic() > deadline:
                raise refuse(f"timed out reading the answer from {url} (whole-call deadline)")
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._client.close()
