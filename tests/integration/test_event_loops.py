"""Which event loop serves what, on loopback: the hub's server on uvloop where it is installed
(``api.event_loop`` "auto", a dependency except on Windows) or on asyncio's when configured so; every
simulator on asyncio's, whose transports the "reset" fault cuts with an RST, even in a process whose
hub runs on uvloop (the demo, the bench and the tests run both: uvicorn picks the loop per server).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Literal

import httpx
import pytest
from land_support import SIMULATOR
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from lienthong.config.models import ApiSettings
from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.simulator import SERVER_LOOP, FaultPlan, SimulatorServer, create_simulator_app
from lienthong.devtools.simulator.server import background_simulator

uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")


async def _loop_name(request: Request) -> Response:
    loop = asyncio.get_running_loop()
    return PlainTextResponse(f"{type(loop).__module__}.{type(loop).__qualname__}")


def _which_loop(loop: Literal["auto", "uvloop", "asyncio"]) -> str:
    """The class of the loop a ``BackgroundServer`` started with ``loop`` serves requests on."""
    with BackgroundServer(Starlette(routes=[Route("/", _loop_name)]), loop=loop) as server:
        return httpx.get(server.url, timeout=10).text


@pytest.fixture
def hub_on_uvloop() -> Iterator[BackgroundServer]:
    """A server on the hub's default loop running in this process, as in the demo and the bench."""
    app = Starlette(routes=[Route("/", _loop_name)])
    with BackgroundServer(app, loop=ApiSettings().event_loop) as server:
        assert httpx.get(server.url, timeout=10).text == "uvloop.Loop"
        yield server


def test_the_hubs_server_runs_on_uvloop_by_default_and_on_asyncio_when_configured() -> None:
    assert ApiSettings().event_loop == "auto"
    assert _which_loop("auto") == "uvloop.Loop"
    assert _which_loop("uvloop") == "uvloop.Loop"
    assert _which_loop("asyncio").startswith("asyncio.")


def test_the_simulators_loop_is_asyncios() -> None:
    assert SERVER_LOOP == "asyncio"
    assert _which_loop(SERVER_LOOP).startswith("asyncio.")


def _post_is_cut(url: str) -> bool:
    """Whether a POST to ``url`` ends in a cut connection rather than an answer."""
    try:
        httpx.post(url, content=b"<x/>", headers={"Content-Type": "text/xml"}, timeout=10)
    except httpx.TransportError:
        return True
    return False


@pytest.mark.usefixtures("hub_on_uvloop")
def test_a_simulator_beside_a_hub_on_uvloop_still_cuts_the_connection() -> None:
    with SimulatorServer(SIMULATOR, FaultPlan(seed=1)) as server:
        server.faults.update({"fail_next": 1, "mode": "reset"})
        assert _post_is_cut(server.url)
        assert not _post_is_cut(server.url)  # the fault was served once; then an answer (a 415 here)


@pytest.mark.usefixtures("hub_on_uvloop")
def test_a_simulator_served_as_the_demo_and_the_bench_serve_it_cuts_the_connection() -> None:
    """httptools and ``SERVER_LOOP`` (``hub demo``, bench/e2e.py), and ``background_simulator``."""
    starts: list[Callable[[ASGIApp], BackgroundServer]] = [
        lambda app: BackgroundServer(app, loop=SERVER_LOOP),
        background_simulator,
    ]
    for start in starts:
        faults = FaultPlan(seed=1)
        with start(create_simulator_app(SIMULATOR, faults)) as server:
            faults.update({"fail_next": 1, "mode": "reset"})
            url = server.url + SIMULATOR.path
            assert _post_is_cut(url)
            assert not _post_is_cut(url)


def test_on_uvloop_the_reset_fault_could_not_cut_the_connection() -> None:
    """Why simulators keep asyncio's loop: uvloop's transports are not ``asyncio.Transport``, and the
    fault falls back to the protocol's 503."""
    faults = FaultPlan(seed=1)
    with BackgroundServer(create_simulator_app(SIMULATOR, faults), loop="uvloop") as server:
        faults.update({"fail_next": 1, "mode": "reset"})
        url = server.url + SIMULATOR.path
        response = httpx.post(url, content=b"<x/>", headers={"Content-Type": "text/xml"}, timeout=10)
        assert response.status_code == 503
