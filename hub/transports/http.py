"""HTTP transport: one POST, classified into delivered, worth retrying later, or hopeless.

Tenacity retries inside one call only where that is always safe: a connection that was never
established carried no request, so trying again at once cannot duplicate anything. Everything else
(timeouts, 5xx) is left to the persistent schedule in the store, which survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..errors import TransientDeliveryError


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpTransport:
    """A pooled httpx client per adapter, with explicit timeouts (httpx's default of 5 s is not a policy)."""

    def __init__(self, *, timeout: timedelta, connect_timeout: timedelta, max_connections: int = 16) -> None:
        total = timeout.total_seconds()
        self._client = httpx.Client(
            timeout=httpx.Timeout(total, connect=connect_timeout.total_seconds()),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            trust_env=False,
        )

    @retry(
        retry=retry_if_exception_type(httpx.ConnectError),
        stop=stop_after_attempt(3),
        wait=wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.1),
        reraise=True,
    )
    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self._client.post(url, content=body, headers=headers)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResponse:
        try:
            response = self._post(url, body, headers)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(
                f"timed out calling {url}: {type(exc).__name__}", request=body
            ) from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(
                f"cannot reach {url}: {exc or type(exc).__name__}", request=body
            ) from exc
        return HttpResponse(
            status=response.status_code, headers=dict(response.headers), body=response.content
        )

    def close(self) -> None:
        self._client.close()
