"""Divergences on demand: what reconciliation must find (docs/reconciliation.md).

Faults (:mod:`.faults`) make a system fail where the hub sees it; these make the system and the hub
disagree without anyone noticing at the time, as happens with real systems:

* ``drop_next`` — the next N new requests are answered as usual and then forgotten (a lost message);
* ``lose_calls`` — the next N callbacks of a step (by the inbound operation it calls) are marked done,
  the record takes their status, and nothing reaches the hub (a lost callback, a result never pushed);
* ``set_status`` — a record's status changed on the system's side, with no callback;
* ``duplicate`` — the dossier entered a second time there, under a message id of the system's own.

``POST /_sim/diverge`` with any of these keys; ``GET /_sim/diverge`` shows what is still planned.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["Divergences"]


class Divergences:
    """The planned drops and lost callbacks of one simulator (thread-safe counters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.drop_next = 0
        self.lose_calls: dict[str, int] = {}

    def plan(self, changes: Mapping[str, Any]) -> None:
        """Add to the plan: ``drop_next`` (int), ``lose_calls`` ({operation: count})."""
        with self._lock:
            if "drop_next" in changes:
                self.drop_next = int(changes["drop_next"])
            for call, times in dict(changes.get("lose_calls") or {}).items():
                self.lose_calls[str(call)] = int(times)

    def take_drop(self) -> bool:
        with self._lock:
            if self.drop_next <= 0:
                return False
            self.drop_next -= 1
            return True

    def take_lost(self, call: str | None) -> bool:
        with self._lock:
            if call is None or self.lose_calls.get(call, 0) <= 0:
                return False
            self.lose_calls[call] -= 1
            return True

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "drop_next": self.drop_next,
                "lose_calls": {k: v for k, v in self.lose_calls.items() if v},
            }

    def reset(self) -> None:
        with self._lock:
            self.drop_next, self.lose_calls = 0, {}
