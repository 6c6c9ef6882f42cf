"""The transport contract: one request out, one response back, as bytes, headers and a URL.

A delivery plugin (SOAP today, REST/JSON next) writes the request and reads the response; how the
bytes travel is the transport's business, as in httpx, where a client is written against
``BaseTransport`` and a test swaps in ``MockTransport``. The hub's transports are
:class:`~lienthong.delivery.transports.http.HttpTransport` (sockets) and
:class:`~lienthong.delivery.transports.memory.MemoryTransport` (a handler function, for tests without
sockets).

A transport says nothing about what an answer means: any HTTP status comes back as a
:class:`TransportResponse`, and only a call that produced no answer at all (connection refused,
timeout, an answer over the size limit) raises ``TransientDeliveryError``; a request that can never
be sent raises ``PermanentDeliveryError``. Classifying faults and statuses is the plugin's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Transport", "TransportRequest", "TransportResponse"]


@dataclass(frozen=True)
class TransportRequest:
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True)
class TransportResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Carries one request and brings back its answer, whatever its status."""

    def send(self, request: TransportRequest) -> TransportResponse:
        """Raises TransientDeliveryError when no answer came back, PermanentDeliveryError when none
        ever can."""
        ...

    def close(self) -> None: ...
