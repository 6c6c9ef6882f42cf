"""Stand-ins for ministry systems: generic SOAP and REST/JSON services configured by data, not code.

Ministry systems cannot be reached from development or CI, yet the hub must be tested against real
endpoints that validate what they receive, answer like the real ones, remember what they accepted,
answer later where the real ones do, and fail the way real ones fail. An adapter describes its system in
the ``simulator:`` section of its YAML (docs/simulators.md); :func:`simulator_spec` resolves it and this
package serves it:

* :mod:`.spec` — the resolved description; :mod:`.records` — the records and steps, in SQLite;
* :mod:`.soapservice`, :mod:`.restservice` — the two protocols; :mod:`.faults` — the live fault plan;
* :mod:`.callbacks` — later steps: calls to the hub's inbound endpoint, status changes;
* :mod:`.app`, :mod:`.server` — the ASGI app with its control API, and the ways to serve it.
"""

from __future__ import annotations

from lienthong.devtools.simulator.app import create_simulator_app
from lienthong.devtools.simulator.core import SERVER_LOOP
from lienthong.devtools.simulator.faults import FaultMode, FaultPlan
from lienthong.devtools.simulator.records import Record, RecordFilter, RecordStore
from lienthong.devtools.simulator.server import SimulatorServer, run_simulator
from lienthong.devtools.simulator.soapservice import SIM_NS
from lienthong.devtools.simulator.spec import ServiceSpec, SimulatorSpec, simulator_spec

__all__ = [
    "SERVER_LOOP",
    "SIM_NS",
    "FaultMode",
    "FaultPlan",
    "Record",
    "RecordFilter",
    "RecordStore",
    "ServiceSpec",
    "SimulatorServer",
    "SimulatorSpec",
    "create_simulator_app",
    "run_simulator",
    "simulator_spec",
]
