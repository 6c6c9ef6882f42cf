"""Receiving from the national axis (docs/edxml.md, "The national axis") without sockets: the shipped
vpcp and qlvb adapters and edXML routes, a fake axis behind a MemoryTransport, a MemoryStore.

What a round does is checked where a user sees it: the messages intake holds (sender, sender message
id, kind, route), the hub's own status 01 on its way back to the axis, what the axis was told
(updateStatus done | fail), the ERROR line naming a refused docId, and the lease that keeps two
processes from fetching at once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from axis_support import (
    AXIS_KEY,
    MINISTRY,
    PROVINCE,
    QLVB_ADAPTER,
    VPCP_ADAPTER,
    FakeAxis,
    edxml_routes,
    ministry_document,
    ministry_status,
)
from project_support import adapter_configuration
from pydantic import ValidationError

from lienthong.compose import Hub, build_hub
from lienthong.config.models import AdapterConfig
from lienthong.delivery.axis_facts import axis_facts
from lienthong.delivery.axis_receive import AxisReceiver, ReceiveOutcome
from lienthong.delivery.transports.memory import MemoryTransport
from lienthong.envelope import MessageKind
from lienthong.store import MessageFilter, MessageRecord
from lienthong.store.memory import MemoryStore
from lienthong.xml import parse_xml


@pytest.fixture
def axis() -> FakeAxis:
    return FakeAxis()


@pytest.fixture
def make_hub(axis: FakeAxis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Hub]]:
    monkeypatch.setenv("VPCP_API_KEY", AXIS_KEY)
    hubs: list[Hub] = []

    def make(store: MemoryStore | None = None) -> Hub:
        vpcp = adapter_configuration(VPCP_ADAPTER, routes=edxml_routes())
        qlvb = adapter_configuration(QLVB_ADAPTER)
        config = vpcp.model_copy(update={"adapters": {**vpcp.adapters, **qlvb.adapters}})
        qlvb_sim = FakeAxis(key="")
        hub = build_hub(
            config,
            store=store or MemoryStore(),
            transports={"vpcp": MemoryTransport(axis), "qlvb": MemoryTransport(qlvb_sim)},
        )
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def receiver(hub: Hub) -> AxisReceiver:
    [only] = [job for job in hub.pollers.pollers if isinstance(job, AxisReceiver)]
    return only


def messages(hub: Hub, **filters: object) -> list[MessageRecord]:
    return hub.store.list_messages(MessageFilter(**filters))  # type: ignore[arg-type]


def only_outcome(outcomes: list[ReceiveOutcome]) -> ReceiveOutcome:
    [outcome] = outcomes
    return outcome


def test_a_ministry_document_is_taken_answered_01_and_confirmed(
    make_hub: Callable[..., Hub], axis: FakeAxis
) -> None:
    hub = make_hub()
    body = ministry_document()
    doc_id = axis.put(body, sender=MINISTRY, to=(PROVINCE,))

    outcome = only_outcome(receiver(hub).run())

    assert (outcome.listed, outcome.new, outcome.refused) == (1, 1, 0)
    [document] = messages(hub, sender=MINISTRY)
    env = document.envelope
    assert env.kind is MessageKind.DOCUMENT
    assert env.sender_message_id == f"axis:{doc_id}" and env.payload == body
    assert env.headers["axis.doc_id"] == doc_id
    assert document.route.targets == ("qlvb",)
    # The hub's own 01 (arrived), from the province, about that document, on its way to the axis.
    [arrived] = messages(hub, sender=PROVINCE, kind=MessageKind.STATUS)
    assert arrived.envelope.sender_message_id == f"axis-status01:{doc_id}"
    assert arrived.route.targets == ("vpcp",)
    assert arrived.envelope.causation_id == env.message_id
    assert arrived.envelope.correlation_id == env.correlation_id
    facts = axis_facts(arrived.envelope.payload)
    assert facts.message_type == "status" and facts.sender == PROVINCE
    assert facts.axis_recipients == (MINISTRY,)
    assert facts.document_id == axis_facts(body).document_id
    status_code = parse_xml(arrived.envelope.payload).findtext(".//{*}StatusCode")
    assert status_code == "01"
    assert axis.updates == [(doc_id, PROVINCE, "done")]
    # QLVB is sent the document byte for byte as the axis gave it (as_received), the 01 goes to the axis.
    claims = {c.target: c for c in hub.store.claim_due("test", 10, timedelta(seconds=30))}
    assert claims["qlvb"].payload == body
    assert claims["vpcp"].envelope.message_id == arrived.envelope.message_id
    # What the axis was asked, and how: the province's mailbox, with the key.
    operations = [op for op, _ in axis.calls]
    assert operations == ["getReceivedEdocList", "getReceivedEdocList", "getEdoc", "updateStatus"]
    assert all(h["from"] == PROVINCE and h["x-api-key"] == AXIS_KEY for _, h in axis.calls)


def test_a_document_fetched_twice_is_one_message_and_one_01(
    make_hub: Callable[..., Hub], axis: FakeAxis
) -> None:
    hub = make_hub()
    doc_id = axis.put(ministry_document(), sender=MINISTRY, to=(PROVINCE,))
    axis.lose_updates = True  # the axis forgets the first updateStatus: the document is listed again

    first = only_outcome(receiver(hub).run())
    hub.store.end_poll(receiver(hub).name, "someone")  # nothing: the lease was given back already
    second = receiver(hub).receive()

    assert (first.new, first.repeats) == (1, 0)
    assert (second.new, second.repeats) == (0, 1)
    assert len(messages(hub, sender=MINISTRY)) == 1
    assert len(messages(hub, sender=PROVINCE, kind=MessageKind.STATUS)) == 1
    assert axis.updates == [(doc_id, PROVINCE, "done"), (doc_id, PROVINCE, "done")]


def test_a_status_package_is_taken_with_no_01(make_hub: Callable[..., Hub], axis: FakeAxis) -> None:
    hub = make_hub()
    doc_id = axis.put(ministry_status("05"), sender=MINISTRY, to=(PROVINCE,), message_type="status")

    outcome = only_outcome(receiver(hub).run())

    assert outcome.new == 1
    [status] = messages(hub, sender=MINISTRY)
    assert status.envelope.kind is MessageKind.STATUS
    assert status.route.targets == ("qlvb",)
    assert messages(hub, sender=PROVINCE) == []
    assert axis.updates == [(doc_id, PROVINCE, "done")]


def test_a_document_whose_from_is_not_the_axis_sender_is_failed_and_logged(
    make_hub: Callable[..., Hub], axis: FakeAxis, caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub()
    doc_id = axis.put(ministry_document(sender="000.00.00.G01"), sender=MINISTRY, to=(PROVINCE,))

    with caplog.at_level(logging.ERROR, logger="lienthong.axis"):
        outcome = only_outcome(receiver(hub).run())

    assert (outcome.new, outcome.refused) == (0, 1)
    assert messages(hub) == []
    assert axis.updates == [(doc_id, PROVINCE, "fail")]
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert doc_id in line and "edxml-sender-mismatch" in line and MINISTRY in line


def test_a_malformed_document_is_failed_with_its_line(
    make_hub: Callable[..., Hub], axis: FakeAxis, caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub()
    broken = ministry_document().replace(b"</edXML:Subject>", b"</edXML:Subjec>")
    doc_id = axis.put(broken, sender=MINISTRY, to=(PROVINCE,))

    with caplog.at_level(logging.ERROR, logger="lienthong.axis"):
        outcome = only_outcome(receiver(hub).run())

    assert outcome.refused == 1 and messages(hub) == []
    assert axis.updates == [(doc_id, PROVINCE, "fail")]
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert doc_id in line and "not well-formed" in line


def test_one_process_at_a_time_and_once_per_interval(make_hub: Callable[..., Hub], axis: FakeAxis) -> None:
    store = MemoryStore()
    first, second = make_hub(store), make_hub(store)
    axis.put(ministry_document(), sender=MINISTRY, to=(PROVINCE,))
    # Another process holds the lease: this one does not call the axis at all.
    assert store.start_poll(receiver(first).name, "other-process", timedelta(minutes=5), timedelta(0))
    assert receiver(first).run() == []
    assert axis.calls == []
    store.end_poll(receiver(first).name, "other-process")

    assert only_outcome(receiver(first).run()).new == 1
    # Due again only an interval later, whichever process asks.
    assert receiver(second).run() == []
    assert len(messages(first, sender=MINISTRY)) == 1


def test_an_axis_that_is_down_leaves_everything_pending(make_hub: Callable[..., Hub], axis: FakeAxis) -> None:
    hub = make_hub()
    axis.put(ministry_document(), sender=MINISTRY, to=(PROVINCE,))
    axis.down = True

    outcome = only_outcome(receiver(hub).run())

    assert outcome.new == 0 and outcome.errors and "SYSTEM_ERROR" in outcome.errors[0]
    assert messages(hub) == [] and axis.updates == []


def test_without_the_key_nothing_is_fetched(
    make_hub: Callable[..., Hub],
    axis: FakeAxis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("VPCP_API_KEY")
    hub = make_hub()
    axis.put(ministry_document(), sender=MINISTRY, to=(PROVINCE,))

    with caplog.at_level(logging.WARNING, logger="lienthong.axis"):
        assert receiver(hub).run() == []
        assert receiver(hub).run() == []

    assert axis.calls == []
    assert len([r for r in caplog.records if "VPCP_API_KEY is not set" in r.getMessage()]) == 1


def test_as_received_takes_no_change_of_the_payload() -> None:
    with pytest.raises(ValidationError, match="as_received sends what was received: remove mapping, signing"):
        AdapterConfig.model_validate(
            {
                "name": "qlvb",
                "plugin": "edxml-axis",
                "agency": PROVINCE,
                "endpoint": "http://qlvb.invalid/qlvb",
                "as_received": True,
                "mapping": "x.xsl",
                "signing": {"policy": "edxml"},
            }
        )
