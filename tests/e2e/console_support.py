"""Helpers for the web console's tests: users in the hub's database, a dead letter, a signed-in client."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import select

from lienthong.console.users import ConsoleUsers, Role
from lienthong.devtools.samples import PROCEDURE_CODE, sample_dossiers
from lienthong.store import DeliveryState
from lienthong.store.schema import operator_actions

PROVINCE = "000.00.00.H49"
PASSWORDS = {
    "olga": "operator-password-1",
    "aldo": "auditor-password-1",
    "adam": "admin-password-123",
}
ROLES = {"olga": Role.OPERATOR, "aldo": Role.AUDITOR, "adam": Role.ADMIN}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_users(hub: Any) -> None:
    """The operator olga, the auditor aldo and the admin adam, in the running hub's database."""
    users = ConsoleUsers(hub.hub.store.engine)
    for name, role in ROLES.items():
        users.add(name, role, PASSWORDS[name])


def dossier_message(index: int = 0) -> dict[str, Any]:
    sample = sample_dossiers(index + 1)[index]
    return {
        "sender_message_id": f"motcua-{uuid.uuid4()}",
        "kind": "dossier",
        "sender": PROVINCE,
        "procedure_code": PROCEDURE_CODE,
        "dossier_code": sample.dossier_code,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(sample.xml).decode("ascii"),
    }


def make_dead_letter(hub: Any, land_sim: Any, index: int = 0) -> tuple[str, str]:
    """A dossier the land registry rejected once (dead at once): its message id and dossier code."""
    land_sim.faults(reject_next=1)
    message = dossier_message(index)
    accepted = hub.submit(message)
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["message_id"]
    hub.wait(message_id, ["dead"])
    return message_id, message["dossier_code"]


def delivery_state(hub: Any, message_id: str) -> DeliveryState:
    [delivery] = hub.hub.store.get_message(uuid.UUID(message_id)).deliveries
    state: DeliveryState = delivery.state
    return state


def recorded_actions(hub: Any) -> list[tuple[str, str, str, str | None]]:
    """The operator actions on the auditor's record, oldest first: (actor, role, action, target)."""
    with hub.hub.store.engine.connect() as conn:
        rows = conn.execute(select(operator_actions).order_by(operator_actions.c.id)).all()
    return [(r.actor, r.role, r.action, r.target) for r in rows]


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF token in the page"
    return found.group(1)


@contextmanager
def signed_in(base_url: str, name: str, password: str | None = None) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the console as ``name`` (cookies kept), as a browser would be."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/console/login")
        response = client.post(
            "/console/login",
            data={"csrf": csrf_of(form.text), "user": name, "password": password or PASSWORDS[name]},
        )
        assert response.status_code == 303, response.text
        yield client
