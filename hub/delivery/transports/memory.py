"""The in-process transport double: a handler function answers, no socket is opened.

Delivery logic (fault mapping, the ``requestHash`` check, retries and dead letters in the workers) is
tested with it as it runs in production, only the wire is replaced, as httpx's ``MockTransport`` does
for an httpx client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lienthong.delivery.transports.base import TransportRequest, TransportResponse

__all__ = ["Handler", "MemoryTransport"]

#: Answers one request; may raise TransientDeliveryError to play a call that got no answer.
Handler = Callable[[TransportRequest], TransportResponse]


class MemoryTransport:
    """Hands every request to ``handler`` and keeps it in :attr:`requests`, in order (thread-safe)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[TransportRequest] = []
        self.closed = False
        self._lock = threading.Lock()

    def send(self, request: TransportRequest) -> TransportResponse:
        with self._lock:
            self.requests.append(request)
        return self.handler(request)

    def close(self) -> None:
        self.closed = True
