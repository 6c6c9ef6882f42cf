"""What reached a simulated ministry system, byte for byte: ASGI middleware in front of a simulator.

The simulator engine keeps ids and hashes, not bodies; tests that must assert what a ministry
received (values, exact bytes) put a :class:`Recorder` in front of it."""

from __future__ import annotations

from typing import Any


class Recorder:
    """ASGI middleware in front of the simulator: the headers and exact body of every POST it got
    (``/_sim`` control calls are not recorded)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[dict[str, str], bytes]] = []

    @property
    def state(self) -> Any:  # SimulatorServer.stats() reads app.state
        return self.app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        chunks: list[bytes] = []

        async def replay() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.requests.append((headers, b"".join(chunks)))
            return message

        await self.app(scope, replay, send)
