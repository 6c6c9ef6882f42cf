"""Every console action goes on the auditor's record through audit-core's ``record_operator_action``.

A sign-in, a sign-out, a replay, a re-route, and a refused attempt at any of them: each is one row in
``operator_actions``, sealed into the tamper-evident log like every other entry (docs/audit.md).
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping

from sqlalchemy import Engine

from lienthong.console.users import ConsoleUser

log = logging.getLogger("lienthong.audit")


def record_action(
    engine: Engine, user: ConsoleUser | None, action: str, target: str, detail: Mapping[str, object]
) -> None:
    """Record ``action`` on ``target`` by ``user`` (None: someone not signed in, e.g. a failed sign-in)."""
    actor = user.name if user is not None else str(detail.get("user", "-"))
    role = user.role.value if user is not None else "-"
    try:
        module = importlib.import_module("lienthong.audit.actions")
    except ModuleNotFoundError:  # before audit-core's log exists: the audit logger still has it
        log.info(
            "operator-action actor=%s role=%s action=%s target=%s detail=%s",
            actor,
            role,
            action,
            target,
            json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, default=str),
        )
        return
    module.record_operator_action(engine, actor, role, action, target, dict(detail))
