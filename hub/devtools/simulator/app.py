"""The simulator as one ASGI app: its services, its control API under ``/_sim/``, its callback task.

Control API (JSON), for tests, the demo and a developer's curl:

* ``GET /_sim/stats`` — counters since start or reset (``unique``: records held);
* ``GET /_sim/records?status=&key=&operation=&service=&since=&until=&limit=`` — what it holds, and in
  which status; ``GET /_sim/received`` is the same list in the shape older tests read;
* ``GET /_sim/steps`` — later steps, pending and done, with attempts and the last error;
* ``GET``/``PUT /_sim/faults`` — the :class:`~.faults.FaultPlan`; ``POST /_sim/reset`` — forget all;
* ``GET``/``POST /_sim/diverge`` — divergences for reconciliation: drop the next requests, lose the
  next callbacks of a step, change a status, enter a dossier twice (:mod:`.divergence`);
* ``GET /_sim/sessions`` — sessions active, logins, calls refused for their session;
  ``DELETE /_sim/sessions`` — every session expires now (a portal's session ending mid-way).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from lienthong.devtools.simulator.callbacks import CallbackRunner
from lienthong.devtools.simulator.core import TRANSPORT_KEY, Service, SimulatorCore
from lienthong.devtools.simulator.faults import FaultPlan
from lienthong.devtools.simulator.restservice import RestService, record_filter
from lienthong.devtools.simulator.soapservice import SoapService
from lienthong.devtools.simulator.spec import SimulatorSpec
from lienthong.xml import DEFAULT_LIMITS

__all__ = ["create_simulator_app"]


class _SimulatorApp(Starlette):
    """Starlette that notes the connection's transport, so the "reset" fault can cut it.

    uvicorn's request cycles (h11, httptools) own the ``send`` callable and hold ``.transport``;
    under another server the attribute is missing and "reset" degrades to a 503.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[TRANSPORT_KEY] = getattr(getattr(send, "__self__", None), "transport", None)
        await super().__call__(scope, receive, send)


def _json(read: Callable[[], object]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(read())

    return endpoint


class _Control:
    def __init__(self, core: SimulatorCore) -> None:
        self.core = core

    async def records(self, request: Request) -> Response:
        try:
            where = record_filter(dict(request.query_params))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse([r.public() for r in self.core.store.query(where)])

    def received(self) -> list[dict[str, object]]:
        """Records as the first simulator listed them (``first_at``, ``outcome``, the caller's service)."""
        return [
            r.public() | {"first_at": r.received_at, "outcome": "accepted"} for r in self.core.store.query()
        ]

    async def steps(self, request: Request) -> Response:
        return JSONResponse(
            self.core.store.steps(request.query_params.get("service"), request.query_params.get("message_id"))
        )

    async def put_faults(self, request: Request) -> Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            self.core.faults.update(changes)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.core.faults.as_dict())

    async def diverge(self, request: Request) -> Response:
        """Plan drops and lost callbacks, change a status, enter a dossier twice (.divergence)."""
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            self.core.divergences.plan(changes)
            changed: list[dict[str, object]] = []
            if (wanted := changes.get("set_status")) is not None:
                record = self.core.store.set_status(str(wanted["key"]), str(wanted["status"]))
                if record is None:
                    return JSONResponse({"error": f"no record under key {wanted['key']}"}, 404)
                changed.append(record.public())
            if (wanted := changes.get("duplicate")) is not None:
                message_id = str(wanted.get("message_id") or uuid.uuid4())
                record = self.core.store.duplicate(str(wanted["key"]), message_id)
                if record is None:
                    return JSONResponse({"error": f"no record under key {wanted['key']}"}, 404)
                changed.append(record.public())
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.core.divergences.as_dict() | {"changed": changed})

    async def delete_sessions(self, request: Request) -> Response:
        return JSONResponse({"expired": self.core.sessions.expire_all()})

    async def post_reset(self, request: Request) -> Response:
        self.core.reset()
        self.core.faults.update({"clear": True})
        return JSONResponse(self.core.stats())


def create_simulator_app(spec: SimulatorSpec, faults: FaultPlan | None = None) -> Starlette:
    """Build the ASGI app. Schemas, XSLTs and WSDL are compiled here, once, so a broken spec fails at
    startup; the records open here too (a file store keeps what an earlier run accepted). The callback
    task runs while the app's lifespan does (uvicorn with ``lifespan="on"``)."""
    core = SimulatorCore(spec, faults or FaultPlan())
    services: dict[str, Service] = {
        s.name: SoapService(s, core) if s.protocol == "soap" else RestService(s, core) for s in spec.services
    }
    runner = CallbackRunner(core, services)
    core.wake = runner.wake
    control = _Control(core)
    routes: list[BaseRoute] = [
        Route("/_sim/stats", _json(core.stats), methods=["GET"]),
        Route("/_sim/records", control.records, methods=["GET"]),
        Route("/_sim/received", _json(control.received), methods=["GET"]),
        Route("/_sim/steps", control.steps, methods=["GET"]),
        Route("/_sim/faults", _json(core.faults.as_dict), methods=["GET"]),
        Route("/_sim/faults", control.put_faults, methods=["PUT"]),
        Route("/_sim/reset", control.post_reset, methods=["POST"]),
        Route("/_sim/diverge", _json(core.divergences.as_dict), methods=["GET"]),
        Route("/_sim/diverge", control.diverge, methods=["POST"]),
        Route("/_sim/sessions", _json(core.sessions.stats), methods=["GET"]),
        Route("/_sim/sessions", control.delete_sessions, methods=["DELETE"]),
    ]
    for service in services.values():
        routes += service.routes()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(runner.run(), name=f"simulator-{spec.name}-steps")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = _SimulatorApp(routes=routes, lifespan=lifespan, max_body_size=DEFAULT_LIMITS.max_bytes + 1)
    app.state.simulator = core
    app.state.runner = runner
    return app
