"""The edXML simulators: the national document axis (``hub simulate vpcp``, kind ``edxml-axis``) and
the province's document system (``hub simulate qlvb``, kind ``edxml-qlvb``). See docs/simulators.md.

* :mod:`.spec` — the resolved ``simulator:`` section; :mod:`.mailbox` — messages, deliveries and
  planned answers in SQLite; :mod:`.facts` — what they read of an edXML message;
* :mod:`.protocol` — sendEdoc, getReceivedEdocList, getEdoc, updateStatus; :mod:`.control` — ``/_sim/``;
* :mod:`.packages` — the status packages and documents the simulated agencies write and sign;
  :mod:`.answers` — sending them on time (into a mailbox, or to the hub's REST intake);
* :mod:`.app`, :mod:`.server` — the ASGI app and the ways to serve it.
"""

from __future__ import annotations

from lienthong.devtools.simulator.axis.app import create_edxml_app
from lienthong.devtools.simulator.axis.facts import EdocFacts, read_facts
from lienthong.devtools.simulator.axis.server import EdxmlSimulatorServer, run_edxml_simulator
from lienthong.devtools.simulator.axis.spec import EdxmlSimSpec, ScriptedAgency, edxml_simulator_spec

__all__ = [
    "EdocFacts",
    "EdxmlSimSpec",
    "EdxmlSimulatorServer",
    "ScriptedAgency",
    "create_edxml_app",
    "edxml_simulator_spec",
    "read_facts",
    "run_edxml_simulator",
]
