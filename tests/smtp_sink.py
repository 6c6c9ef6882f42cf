"""An SMTP sink on loopback (aiosmtpd): what a mail server received, byte for byte, and a switch to
make it answer with a temporary failure, as a busy server does."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse_with: str | None = None  # e.g. "451 4.3.0 try again later"
        self.refused = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse_with is not None:
                self.refused += 1
                return self.refuse_with
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 2.0.0 OK: queued"


class SmtpSink(Controller):
    """aiosmtpd's threaded controller on a socket bound to a free loopback port beforehand."""

    def __init__(self) -> None:
        self.sink = _Handler()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        super().__init__(self.sink, hostname="127.0.0.1", port=self._sock.getsockname()[1])

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.sink.lock:
            return list(self.sink.received)

    def refuse(self, reply: str | None) -> None:
        with self.sink.lock:
            self.sink.refuse_with = reply

    @property
    def refused(self) -> int:
        with self.sink.lock:
            return self.sink.refused

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert=no_assert)
        self._sock.close()


__all__ = ["Received", "SmtpSink"]
