"""What the parts of one edXML simulator share: its spec, mailbox, fault plan, signers and counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from lienthong.devtools.simulator.axis.facts import EdocFacts
from lienthong.devtools.simulator.axis.mailbox import Mailbox
from lienthong.devtools.simulator.axis.packages import AgencySigners
from lienthong.devtools.simulator.axis.spec import EdxmlSimSpec
from lienthong.devtools.simulator.faults import FaultPlan

__all__ = ["COUNTERS", "EdxmlCore"]

COUNTERS: Final = (
    "total",
    "sent",
    "duplicates",
    "fetched",
    "updated",
    "refused",
    "rejected",
    "faults_served",
)


class EdxmlCore:
    """The shared state of one edXML simulator. ``wake`` is set by the answering task once it runs."""

    def __init__(self, spec: EdxmlSimSpec, faults: FaultPlan, mailbox: Mailbox | None = None) -> None:
        self.spec, self.faults = spec, faults
        self.mailbox = mailbox or Mailbox(spec.store)
        self.signers = AgencySigners(spec.keys_dir)
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.wake: Callable[[], None] = lambda: None

    def count(self, key: str, by: int = 1) -> None:
        with self._lock:
            self.counts[key] += by

    def stats(self) -> dict[str, int]:
        with self._lock:
            return self.counts | {"held": self.mailbox.count()}

    def reset(self) -> None:
        self.mailbox.reset()
        with self._lock:
            self.counts = dict.fromkeys(COUNTERS, 0)

    def script(self, facts: EdocFacts | None, recipients: list[str]) -> list[tuple[str, str, float]]:
        """The status packages the simulated recipients of a message will send, ``(agency, code,
        due)``: one every ``delay`` from now, for an edoc (a status package is not answered)."""
        if facts is None or facts.message_type != "edoc":
            return []
        now, planned = time.time(), []
        for code in recipients:
            agency = self.spec.agencies.get(code)
            if agency is None:
                continue
            for step, status in enumerate(agency.script(facts.is_change), start=1):
                planned.append((code, status, now + step * agency.delay))
        return planned
