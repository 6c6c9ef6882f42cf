"""The audit log's state for the console: its latest signed tree head, and whether it verifies.

Read from audit-core's log (``lienthong.audit``) when this installation has it; until then the page
says the log is not available rather than inventing a status.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine


@dataclass(frozen=True)
class AuditStatus:
    available: bool
    size: int = 0
    root: str | None = None
    at: datetime | None = None
    #: True: verified intact, False: altered (``detail`` names the first problem), None: not checked.
    verdict: bool | None = None
    detail: str | None = None


def audit_status(engine: Engine) -> AuditStatus:
    try:
        log_module = importlib.import_module("lienthong.audit.log")
    except ModuleNotFoundError:
        return AuditStatus(available=False)
    head = log_module.AuditLog(engine).latest_head()
    if head is None:
        return AuditStatus(available=True)
    root = head.root.hex() if isinstance(head.root, bytes) else str(head.root)
    return AuditStatus(available=True, size=int(head.size), root=root, at=head.at)
