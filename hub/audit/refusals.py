"""Refusals at the hub's edge into the ``refusals`` table, for the auditor's log to seal.

Every refusal (REST, SOAP, limits) already writes one line on the ``lienthong.audit`` logger through
``callers.audit_refusal``, with its reason, agency, service, remote address and detail as record
attributes. A handler on that logger queues them, and the sealer's thread writes the queue in one
transaction per tick: a flood of bad requests then costs the request path an append to a list, not a
database commit each. The queue is bounded; what a flood beyond it drops is counted and logged.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar, Final

from sqlalchemy import Engine, insert

from lienthong.envelope import utcnow
from lienthong.store.schema import refusals

_LOGGER: Final = "lienthong.audit"
MAX_QUEUED: Final = 100_000

log = logging.getLogger("lienthong.auditlog")


class RefusalRecorder(logging.Handler):
    """Queues the refusals logged on ``lienthong.audit``; :meth:`flush_to_store` writes them."""

    _installed: ClassVar[dict[int, RefusalRecorder]] = {}

    def __init__(self, engine: Engine) -> None:
        super().__init__(level=logging.DEBUG)
        self.engine = engine
        self._queue: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.dropped = 0

    @classmethod
    def install(cls, engine: Engine) -> RefusalRecorder:
        """The recorder for ``engine``, attached to the refusal logger once."""
        recorder = cls._installed.get(id(engine))
        if recorder is None:
            recorder = cls(engine)
            cls._installed[id(engine)] = recorder
            logging.getLogger(_LOGGER).addHandler(recorder)
        return recorder

    def uninstall(self) -> None:
        logging.getLogger(_LOGGER).removeHandler(self)
        self._installed.pop(id(self.engine), None)

    def emit(self, record: logging.LogRecord) -> None:
        reason = getattr(record, "reason", None)
        if not isinstance(reason, str):
            return
        row = {
            "at": utcnow(),
            "reason": reason[:64],
            "agency": _text(getattr(record, "agency", None), 64),
            "service": _text(getattr(record, "service", None), 200),
            "remote": _text(getattr(record, "remote", None), 200),
            "detail": _text(getattr(record, "detail", None), 4000) or "",
            "payload_sha256": _text(getattr(record, "payload_sha256", None), 64),
        }
        with self._lock:
            if len(self._queue) >= MAX_QUEUED:
                self.dropped += 1
                return
            self._queue.append(row)

    def flush_to_store(self) -> int:
        """Write what is queued in one transaction; returns how many rows."""
        with self._lock:
            rows, self._queue = self._queue, []
            dropped, self.dropped = self.dropped, 0
        if dropped:
            log.warning("%d refusal(s) not recorded: more than %d were waiting", dropped, MAX_QUEUED)
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(refusals), rows)
        except Exception:
            with self._lock:  # kept for the next tick
                self._queue[:0] = rows
            raise
        return len(rows)


def _text(value: object, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]
