"""An edXML simulator as one ASGI app: the axis protocol, the control API, the answering task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from starlette.applications import Starlette

from lienthong.devtools.simulator.app import _SimulatorApp
from lienthong.devtools.simulator.axis.answers import AnswerRunner
from lienthong.devtools.simulator.axis.control import control_routes
from lienthong.devtools.simulator.axis.core import EdxmlCore
from lienthong.devtools.simulator.axis.protocol import AxisProtocol
from lienthong.devtools.simulator.axis.spec import EdxmlSimSpec
from lienthong.devtools.simulator.faults import FaultPlan

__all__ = ["MAX_BODY", "create_edxml_app"]

#: A 50 MB document travels base64-encoded (a third more) with its header: the axis takes up to this.
MAX_BODY: Final = 96 * 1024 * 1024


def create_edxml_app(spec: EdxmlSimSpec, faults: FaultPlan | None = None) -> Starlette:
    """Build the app; the mailbox opens here (a file keeps what an earlier run held), the answering
    task runs while the app's lifespan does (uvicorn with ``lifespan="on"``)."""
    core = EdxmlCore(spec, faults or FaultPlan())
    runner = AnswerRunner(core)
    core.wake = runner.wake

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(runner.run(), name=f"simulator-{spec.name}-answers")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [*control_routes(core), *AxisProtocol(core).routes()]
    app = _SimulatorApp(routes=routes, lifespan=lifespan, max_body_size=MAX_BODY)
    app.state.simulator = core
    return app
