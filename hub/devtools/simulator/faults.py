"""How a simulated system misbehaves right now: a :class:`FaultPlan`, changed live through ``/_sim/faults``.

Transport faults (outage, ``fail_next``, ``error_rate``) strike before a request is read; rejections are
the system's business answer to a valid new message. The same plan serves SOAP and REST services: each
renders a fault in its own protocol (:mod:`.transport` cuts or stalls the connection for both).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Final, Literal, cast, get_args

__all__ = ["FaultMode", "FaultPlan"]

FaultMode = Literal["503", "fault", "timeout", "reset"]
_MODES: Final = get_args(FaultMode)
_INT_SETTINGS: Final = frozenset({"fail_next", "reject_next", "seed"})
_NUMBER_SETTINGS: Final = _INT_SETTINGS | {
    "latency",
    "reject_rate",
    "error_rate",
    "hang_seconds",
    "outage_seconds",
}


@dataclass
class FaultPlan:
    """How the simulated system misbehaves right now: changed live, read on every call, thread-safe.

    Transport faults (outage, ``fail_next``, ``error_rate``) strike before the request is read and are
    served in ``mode``. Rejections (``reject_next``, ``reject_rate``) are the system's business answer
    to a valid new message: a permanent Client fault (SOAP) or a 422 (REST), never recorded, so the same
    message id sent again once the cause is fixed is processed afresh.
    """

    latency: float = 0.0
    mode: FaultMode = "503"
    outage_until: float | None = None  # time.monotonic() deadline
    fail_next: int = 0
    reject_next: int = 0
    reject_rate: float = 0.0
    error_rate: float = 0.0
    hang_seconds: float = 30.0  # "timeout" mode: longer than any sane caller waits
    seed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply a control request such as ``{"outage_seconds": 8, "mode": "503"}``: all of it or nothing."""
        if unknown := sorted(set(changes) - _NUMBER_SETTINGS - {"mode", "clear"}):
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        numbers: dict[str, float] = {}
        for key in _NUMBER_SETTINGS & set(changes):
            value = changes[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
            if key in _INT_SETTINGS and not isinstance(value, int):
                raise ValueError(f"{key} must be a whole number")
            numbers[key] = value
        if (mode := changes.get("mode", self.mode)) not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}")
        with self._lock:
            if changes.get("clear"):
                for f in fields(self):
                    if f.init and f.name not in ("seed", "_lock"):
                        setattr(self, f.name, f.default)
            self.mode = cast(FaultMode, mode)
            for key, value in numbers.items():
                if key == "outage_seconds":
                    self.outage_until = time.monotonic() + value
                else:
                    setattr(self, key, int(value) if key in _INT_SETTINGS else value)
            if "seed" in numbers:
                self._rng.seed(self.seed)

    def next_transport_fault(self) -> FaultMode | None:
        """Decide, and consume, whether this call fails before it is even read."""
        with self._lock:
            if self.outage_until is not None and time.monotonic() < self.outage_until:
                return self.mode
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.mode
            return self.mode if self.error_rate and self._rng.random() < self.error_rate else None

    def next_rejection(self) -> bool:
        with self._lock:
            if self.reject_next > 0:
                self.reject_next -= 1
                return True
            return bool(self.reject_rate) and self._rng.random() < self.reject_rate

    def outage_remaining(self) -> float:
        with self._lock:
            return max(0.0, (self.outage_until or 0.0) - time.monotonic())

    def as_dict(self) -> dict[str, object]:
        plan: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        del plan["_lock"], plan["outage_until"]
        return plan | {"outage_remaining": self.outage_remaining()}
