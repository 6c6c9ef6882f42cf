"""Every console action goes on the auditor's record through audit-core's ``record_operator_action``.

A sign-in, a sign-out, a replay, a re-route, a verification of the log, and a refused attempt at any
of them: each is one row in ``operator_actions``, which the sealer turns into an entry of the
tamper-evident log like every other (docs/audit.md). A failed sign-in has no user yet: it is
recorded as ``anonymous`` (role ``system``) with the name that was typed as its target.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine

from lienthong.audit.actions import record_operator_action
from lienthong.console.users import ConsoleUser


def record_action(
    engine: Engine, user: ConsoleUser | None, action: str, target: str, detail: Mapping[str, object]
) -> None:
    """Record ``action`` on ``target`` by ``user`` (None: someone not signed in, e.g. a failed sign-in)."""
    actor = user.name if user is not None else "anonymous"
    role = user.role.value if user is not None else "system"
    record_operator_action(engine, actor, role, action, target, {"via": "console", **detail})
