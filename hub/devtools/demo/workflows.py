"""The demo's workflow sections: one table per workflow, each a small class of its own module.

A section says which adapters it needs (their simulators run on the stage, calling the hub back as the
real systems do), plays the systems that act by hand in real life (the one-stop desk), waits for the
ministries to do the rest, prints one table and says whether the workflow went through. Adding one — civil
status, criminal record, the national portal — is a module with a class like :class:`LandTaxSection`
and one line in :func:`workflow_sections`. The helpers here turn a dossier's trail (what
``GET /api/v1/dossiers/{code}`` shows) into table rows: each step, the system, its status, its time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.devtools.demo.stage import PROVINCE, DemoStage
from lienthong.devtools.samples import SampleDossier
from lienthong.errors import HubError
from lienthong.store import DeliveryState, RouteStatus, TrailEntry
from lienthong.xml import parse_xml

__all__ = [
    "WorkflowSection",
    "all_delivered",
    "root_name",
    "trail_table",
    "wait_for_trail",
    "workflow_sections",
]


class WorkflowSection(Protocol):
    """One workflow of the demo: ``run`` prints its table and says whether it went through."""

    title: str
    #: Adapters whose simulators it needs; a project without them skips the section.
    adapters: tuple[str, ...]

    def run(self, console: Console, stage: DemoStage) -> bool: ...


def workflow_sections(samples: Sequence[SampleDossier]) -> list[WorkflowSection]:
    """The demo's workflows, in order; ``samples`` are dossiers no other part of the demo sends."""
    from lienthong.devtools.demo.business import BusinessLookupSection
    from lienthong.devtools.demo.documents import DocumentAxisSection
    from lienthong.devtools.demo.justice import CivilStatusSection, CriminalRecordSection
    from lienthong.devtools.demo.landtax import LandTaxSection
    from lienthong.devtools.demo.reconcile import ReconcileSection

    return [
        LandTaxSection(list(samples)),
        CivilStatusSection(),
        CriminalRecordSection(),
        BusinessLookupSection(),
        DocumentAxisSection(),
        ReconcileSection(),
    ]


def root_name(stage: DemoStage, entry: TrailEntry) -> str:
    """The local name of the message's root element ('' when it is not XML)."""
    payload = stage.hub.store.get_message(entry.envelope.message_id).envelope.payload
    try:
        return str(parse_xml(payload).tag).rsplit("}", 1)[-1]
    except HubError:
        return ""


def all_delivered(entry: TrailEntry) -> bool:
    """A routed message all of whose deliveries are delivered."""
    return bool(entry.deliveries) and all(d.state is DeliveryState.DELIVERED for d in entry.deliveries)


def wait_for_trail(
    stage: DemoStage, code: str, done: Callable[[list[TrailEntry]], bool], timeout: float
) -> list[TrailEntry]:
    """The dossier's trail once ``done`` says it is complete, or as it stands after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        entries = stage.hub.store.dossier_trail(code)
        if done(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


@dataclass(frozen=True)
class _Row:
    step: str
    system: str
    status: str
    at: float  # seconds since the dossier's first message


def _rows(stage: DemoStage, entries: list[TrailEntry], steps: Mapping[str, str]) -> list[_Row]:
    """A message in, then each of its deliveries out, in time order; ``steps`` names root elements."""
    adapter_of = {a.agency: name for name, a in sorted(stage.hub.config.adapters.items(), reverse=True)}
    if not entries:
        return []
    start = entries[0].envelope.received_at
    rows: list[_Row] = []
    for entry in entries:
        env = entry.envelope
        name = root_name(stage, entry)
        sender = "one-stop" if env.sender == PROVINCE else adapter_of.get(env.sender, env.sender)
        unroutable = entry.route.status is RouteStatus.UNROUTABLE
        route = "[yellow]unroutable[/] (kept)" if unroutable else "routed"
        at = (env.received_at - start).total_seconds()
        rows.append(_Row(escape(steps.get(name, name)), escape(sender), route, at))
        for d in entry.deliveries:
            colour = "green" if d.state is DeliveryState.DELIVERED else "red"
            tries = "1 try" if d.attempts == 1 else f"{d.attempts} tries"
            when = d.delivered_at or d.updated_at
            step = f"  → {escape(d.operation or d.target)}"
            status = f"[{colour}]{d.state.value}[/], {tries}"
            rows.append(_Row(step, escape(d.target), status, (when - start).total_seconds()))
    rows.sort(key=lambda row: row.at)
    return rows


def trail_table(
    stage: DemoStage, title: str, trails: Mapping[str, list[TrailEntry]], steps: Mapping[str, str]
) -> Table:
    """One table for a workflow: per dossier (a row with its code), each step (``steps`` names the
    messages by root element; a delivery is '→ operation'), the system that sent or received it, its
    status, and its time since the dossier's first message."""
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("step (→ delivered to)", ratio=1, min_width=16)
    for column in ("system", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    for code, entries in trails.items():
        table.add_row(f"[bold]{escape(code)}[/]", "", "", "")
        for row in _rows(stage, entries, steps):
            table.add_row(row.step, row.system, row.status, f"+{row.at:.1f}s")
        table.add_section()
    return table
