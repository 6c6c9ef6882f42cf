"""What operators did, recorded where the auditor's log will seal it.

One row in ``operator_actions`` per action (a dead delivery replayed, a message re-routed, a key
changed, anything done through the console), written in its own short transaction right when the
action is taken, so that the record does not depend on the action's own code path. The background
sealer (``lienthong.audit.seal``) turns each row into a log entry; nothing here touches the tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, insert

from lienthong.envelope import utcnow
from lienthong.store.schema import operator_actions

#: Roles an action may be recorded under: console roles, and ``cli`` for the ``hub`` command.
ROLES = frozenset({"admin", "operator", "auditor", "cli", "system"})


def record_operator_action(
    engine: Engine,
    actor: str,
    role: str,
    action: str,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Record that ``actor`` (a console user, or the OS user of a CLI run) acting as ``role`` did
    ``action`` (``replay``, ``reroute``, ``key-change``, ``login`` …) to ``target`` (a message id,
    an adapter, a user name); ``detail`` is JSON-able context (counts, filters) — never a secret.
    Returns the row's id. Committed at once, whatever the caller's own transaction does later."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(sorted(ROLES))})")
    if not actor or not action:
        raise ValueError("an operator action needs an actor and an action")
    row = {
        "at": utcnow(),
        "actor": actor[:200],
        "role": role,
        "action": action[:64],
        "target": None if target is None else str(target)[:256],
        "detail": dict(detail or {}),
    }
    with engine.begin() as conn:
        result = conn.execute(insert(operator_actions).values(row))
        key = result.inserted_primary_key
        return int(key[0]) if key is not None else 0


def cli_actor() -> str:
    """Who ran a ``hub`` command: the OS user on this host (what the CLI can know without a login)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
