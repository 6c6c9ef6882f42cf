"""``hub demo``: the hub and every simulated ministry on one machine, over real sockets, in a minute.

* :mod:`.stage` — the hub and the simulators, configured for the run (keys, endpoints, timings);
* :mod:`.outage` — dossiers in bulk through a land registry outage; duplicates, invalid and unroutable
  messages; signatures checked;
* :mod:`.workflows` — one table per workflow (:mod:`.landtax`, :mod:`.business`, …): adding one is a
  module and a line in :func:`~.workflows.workflow_sections`;
* :mod:`.run` — the order, and the verdict.
"""

from __future__ import annotations

from lienthong.devtools.demo.outage import signature_check
from lienthong.devtools.demo.run import run_demo
from lienthong.devtools.demo.stage import PROVINCE, DemoStage, demo_callers, demo_configuration, dossier_body
from lienthong.devtools.demo.workflows import WorkflowSection, workflow_sections

__all__ = [
    "PROVINCE",
    "DemoStage",
    "WorkflowSection",
    "demo_callers",
    "demo_configuration",
    "dossier_body",
    "run_demo",
    "signature_check",
    "workflow_sections",
]
