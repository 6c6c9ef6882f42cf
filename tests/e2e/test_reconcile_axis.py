"""Reconciliation of the national axis (``vpcp``, issue 13): what the axis still holds for the province
that the hub never received is found (``missing-at-hub``) and healed by a receiving round; a second run
finds nothing. Over real HTTP against the axis simulator; the hub is composed but its schedule is not
started, so the axis's message waits as one would behind a receiving job that stopped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from axis_support import PROVINCE, QLVB_ADAPTER, VPCP_ADAPTER, edxml_routes
from conftest import TEST_RETRY, new_project
from edxml_world import AXIS_KEY, ENV, FINANCE, HOME
from support import agencies_signing_under_one_ca

from lienthong.compose import Hub, build_hub
from lienthong.delivery.workers import worker_identity
from lienthong.devtools.simulator.axis import EdxmlSimulatorServer, edxml_simulator_spec
from lienthong.reconcile.run import build_reconcilers
from lienthong.store import MessageFilter
from lienthong.trust.keys import create_dev_ca


@dataclass
class Axis:
    hub: Hub
    axis: EdxmlSimulatorServer


@pytest.fixture
def axis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Axis]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    ca = create_dev_ca(tmp_path / "keys", PROVINCE, {FINANCE: "Bộ Tài chính", HOME: "Bộ Nội vụ"})
    project = new_project(tmp_path / "project", adapters=(VPCP_ADAPTER, QLVB_ADAPTER), routes=edxml_routes())
    keys = [r.model_dump(mode="json", exclude_none=True) for r in ca.key_references()]
    project.update(
        "hub.yaml",
        {
            "database": {"url": f"sqlite:///{project.database}"},
            "keys": {"signing": keys},
            **agencies_signing_under_one_ca(ca.ca_certificate, FINANCE, HOME),
        },
    )
    fast = {"store": ":memory:", "delay": "100ms", "keys_dir": str(tmp_path / "keys" / "agencies")}
    project.update("adapters/vpcp.yaml", {"simulator": fast})
    with EdxmlSimulatorServer(edxml_simulator_spec(project.load(), "vpcp", environ=ENV)) as server:
        reconcile = project.read("adapters/vpcp.yaml")["reconcile"] | {"settle": "0s"}
        project.update(
            "adapters/vpcp.yaml",
            {
                "endpoint": f"{server.base_url}/axis",
                "timeout": "5s",
                "retry": TEST_RETRY,
                "reconcile": reconcile,
            },
        )
        hub = build_hub(project.load())
        try:
            yield Axis(hub, server)
        finally:
            hub.close()


def _pending(axis: Axis) -> list[dict[str, Any]]:
    found = httpx.get(f"{axis.axis.base_url}/_sim/mailbox/{PROVINCE}", params={"pending": "true"}, timeout=10)
    assert found.status_code == 200, found.text
    rows: list[dict[str, Any]] = found.json()
    return rows


def test_a_message_the_axis_holds_and_the_hub_never_received_is_received_and_a_second_run_finds_nothing(
    axis: Axis,
) -> None:
    assert AXIS_KEY  # the hub's key for the axis (VPCP_API_KEY), set by the fixture
    injected = httpx.post(
        f"{axis.axis.base_url}/_sim/inject",
        json={
            "from": FINANCE,
            "to": [PROVINCE],
            "subject": "V/v đối soát văn bản trên trục",
            "code_number": "21",
            "code_notation": "BTC-VP",
            "promulgation_date": "2026-11-28",
        },
        timeout=10,
    )
    assert injected.status_code == 201, injected.text
    [waiting] = _pending(axis)
    hub = axis.hub
    reconciler = build_reconcilers(
        hub.config, hub.store, submit=hub.intake.submit, wake=hub.workers.wake, pollers=hub.pollers.pollers,
        inbound=hub.inbound, owner=worker_identity(),
    )["vpcp"]  # fmt: skip
    since = datetime.now(UTC) - timedelta(hours=1)

    first = reconciler.run(since)
    assert first.error is None and first.held == 1
    assert [(o.finding.kind, o.finding.message_id, o.outcome) for o in first.outcomes] == [
        ("missing-at-hub", waiting["docId"], "healed")
    ]
    # Received through the hub's own receiving: a message from the ministry, confirmed on the axis.
    [message] = hub.store.list_messages(MessageFilter(sender=FINANCE))
    assert (message.envelope.sender_message_id, message.envelope.kind) == (
        f"axis:{waiting['docId']}",
        "document",
    )
    assert _pending(axis) == []

    second = reconciler.run(since)
    assert second.error is None and second.outcomes == [] and second.held == 0
