"""Polling (docs/polling.md) without sockets: the shipped justice adapter's LayKetQua poll over a
MemoryTransport and a MemoryStore whose clock the test moves.

Which dossiers are asked about (delivered through NhanDKHT, no answer from justice yet), how they are
grouped (one call per procedure code, the module from it; ``batch`` codes per call), what a ready
result becomes (a message from justice through intake, a repeat when polled again), and the lease
that keeps a group from being polled again before its interval."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from justice_support import BIRTH, DEATH, JUSTICE, JUSTICE_ADAPTER, LLTP, PROVINCE, SAMPLE_PDF
from project_support import adapter_configuration
from ruamel.yaml import YAML

from lienthong.compose import Hub, build_hub
from lienthong.config.models import Configuration
from lienthong.delivery.polling import Poller, poll_document
from lienthong.delivery.transports.base import TransportRequest, TransportResponse
from lienthong.delivery.transports.memory import MemoryTransport
from lienthong.envelope import Envelope, MessageKind, new_envelope
from lienthong.store import (
    AwaitingDossier,
    Delivered,
    MessageFilter,
    PreparedDelivery,
    RouteDecision,
    RouteStatus,
)
from lienthong.store.memory import MemoryStore
from lienthong.xml import HUB_NS

START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Justice:
    """The civil status service as a handler: NhanDKHT taken in; LayKetQua answers each code asked
    about with trangThai 10 when it is in ``ready``, 4 otherwise."""

    def __init__(self) -> None:
        self.ready: set[str] = set()
        self.asked: list[dict[str, object]] = []

    def __call__(self, request: TransportRequest) -> TransportResponse:
        assert request.headers.get("X-API-Key") == "test-civil-status-key-not-a-secret"
        if request.url.endswith("/LayKetQua"):
            body = json.loads(request.body)
            self.asked.append(body)
            value = [
                {
                    "maHoSoMCDT": code,
                    "module": body["module"],
                    "maHoSoLT": f"HT-{code[-4:]}",
                    "trangThai": "10" if code in self.ready else "4",
                }
                for code in body["maDinhDanhHoSo"]
            ]
            answer = {"status": 1, "statusDescription": "Thành công", "value": value}
            return TransportResponse(200, json.dumps(answer, ensure_ascii=False).encode())
        return TransportResponse(200, b'{"status": "1"}')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def justice() -> Justice:
    return Justice()


def justice_config(**polling: object) -> Configuration:
    config = adapter_configuration(JUSTICE_ADAPTER)
    adapter = config.adapters["justice"]
    poll = adapter.polling["LayKetQua"]
    changed = (
        poll.model_copy(update={"request": poll.request.model_copy(update=polling)}) if polling else poll
    )
    adapter = adapter.model_copy(update={"polling": {"LayKetQua": changed}})
    return config.model_copy(update={"adapters": {"justice": adapter}})


@pytest.fixture
def make_hub(clock: Clock, justice: Justice, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Hub]]:
    monkeypatch.setenv("JUSTICE_API_KEY", "test-civil-status-key-not-a-secret")
    hubs: list[Hub] = []

    def make(**polling: object) -> Hub:
        store = MemoryStore(clock=clock)
        hub = build_hub(
            justice_config(**polling), store=store, transports={"justice": MemoryTransport(justice)}
        )
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def delivered(hub: Hub, code: str, procedure: str, operation: str = "NhanDKHT") -> Envelope:
    """A dossier the store holds as delivered to justice through ``operation``."""
    envelope = new_envelope(
        kind=MessageKind.DOSSIER,
        sender=PROVINCE,
        sender_message_id=f"motcua-{code}",
        payload=b"<HoSo/>",
        content_type="application/xml",
        procedure_code=procedure,
        dossier_code=code,
    )
    route = RouteDecision(RouteStatus.ROUTED, "civil-status", ("justice",), "test")
    hub.store.accept(envelope, route, [PreparedDelivery("justice", b"{}", "application/json", operation)])
    [claim] = hub.store.claim_due("w", 1, timedelta(seconds=30))
    hub.store.record_outcome(claim, Delivered(response=b'{"status":"1"}', response_status=200))
    return envelope


def answers(hub: Hub) -> list[Envelope]:
    found = hub.store.list_messages(MessageFilter(kind=MessageKind.ANSWER, sender=JUSTICE))
    return sorted((r.envelope for r in found), key=lambda e: e.dossier_code or "")


def poller(hub: Hub) -> Poller:
    [only] = hub.pollers.pollers
    assert isinstance(only, Poller)
    return only


def test_only_awaiting_dossiers_are_asked_about_one_call_per_procedure_code(
    make_hub: Callable[..., Hub], justice: Justice
) -> None:
    hub = make_hub()
    births = [delivered(hub, f"000.00.00.H49-261121-000{i}", BIRTH) for i in (1, 2)]
    death = delivered(hub, "000.00.00.H49-261121-0003", DEATH)
    delivered(hub, "000.00.00.H49-261121-0004", LLTP, operation="YeuCauLLTP")  # not awaited by this poll
    answered = delivered(hub, "000.00.00.H49-261121-0005", BIRTH)
    result = new_envelope(
        kind=MessageKind.ANSWER,
        sender=JUSTICE,
        sender_message_id="earlier",
        payload=b"{}",
        content_type="application/json",
        dossier_code=answered.dossier_code,
    )
    hub.store.accept(result, RouteDecision(RouteStatus.UNROUTABLE, None, (), "test"), [])

    outcomes = poller(hub).run()

    assert sorted(justice.asked, key=lambda b: str(b["module"])) == [
        {"maDinhDanhHoSo": [b.dossier_code for b in births], "maTinh": "22", "module": "LTKS"},
        {"maDinhDanhHoSo": [death.dossier_code], "maTinh": "22", "module": "LTKT"},
    ]
    assert sorted(o.key for o in outcomes) == ["justice/LayKetQua/1.000656", "justice/LayKetQua/1.001193"]
    assert all(o.ready == 0 and o.new == 0 and o.error is None for o in outcomes)
    assert [e.sender_message_id for e in answers(hub)] == ["earlier"]


def test_a_ready_result_becomes_one_message_from_justice_and_a_repeat_when_polled_again(
    make_hub: Callable[..., Hub], justice: Justice, clock: Clock
) -> None:
    hub = make_hub()
    birth = delivered(hub, "000.00.00.H49-261121-0001", BIRTH)
    other = delivered(hub, "000.00.00.H49-261121-0002", BIRTH)
    justice.ready.add(str(birth.dossier_code))

    [outcome] = poller(hub).run()

    assert (outcome.results, outcome.ready, outcome.new, outcome.repeats) == (2, 1, 1, 0)
    [message] = answers(hub)
    assert (message.kind, message.sender, message.recipient) == (MessageKind.ANSWER, JUSTICE, PROVINCE)
    assert (message.dossier_code, message.procedure_code) == (birth.dossier_code, BIRTH)
    assert message.causation_id == birth.message_id
    assert message.sender_message_id == f"poll:justice/LayKetQua:{birth.dossier_code}:HT-0001"
    assert json.loads(message.payload) == {
        "maHoSoMCDT": birth.dossier_code,
        "module": "LTKS",
        "maHoSoLT": "HT-0001",
        "trangThai": "10",
    }
    # The answered dossier is no longer awaited: the next round asks about the other one only.
    clock.advance(30)
    poller(hub).run()
    assert justice.asked[-1]["maDinhDanhHoSo"] == [other.dossier_code]
    # The same result polled again (another process, a crash before the lease was handed back).
    again = poller(hub).poll_group("justice/LayKetQua/again", BIRTH, [_awaiting(hub, birth)])
    assert (again.ready, again.new, again.repeats) == (1, 0, 1)
    assert len(answers(hub)) == 1


def _awaiting(hub: Hub, envelope: Envelope) -> AwaitingDossier:
    record = hub.store.get_message(envelope.message_id)
    delivered_at = record.deliveries[0].delivered_at
    assert delivered_at is not None and envelope.dossier_code is not None
    return AwaitingDossier(envelope.dossier_code, envelope.procedure_code, envelope.message_id, delivered_at)


def test_a_group_is_not_polled_again_before_its_interval(
    make_hub: Callable[..., Hub], justice: Justice, clock: Clock
) -> None:
    hub = make_hub()
    delivered(hub, "000.00.00.H49-261121-0001", BIRTH)
    poller(hub).run()
    clock.advance(10)  # interval 30s
    assert poller(hub).run() == []
    assert len(justice.asked) == 1
    clock.advance(20)
    assert len(poller(hub).run()) == 1
    assert len(justice.asked) == 2


def test_a_large_group_is_asked_about_batch_codes_at_a_time(
    make_hub: Callable[..., Hub], justice: Justice
) -> None:
    hub = make_hub(batch=2)
    codes = [delivered(hub, f"000.00.00.H49-261121-000{i}", BIRTH).dossier_code for i in range(1, 6)]
    [outcome] = poller(hub).run()
    assert [body["maDinhDanhHoSo"] for body in justice.asked] == [codes[0:2], codes[2:4], codes[4:5]]
    assert outcome.results == 5


def test_a_system_that_does_not_answer_leaves_the_dossiers_awaiting(
    make_hub: Callable[..., Hub], justice: Justice, clock: Clock
) -> None:
    hub = make_hub()
    delivered(hub, "000.00.00.H49-261121-0001", BIRTH)
    down = MemoryTransport(lambda _request: TransportResponse(503, b"busy"))
    hub.pollers.pollers[0].poll.plugin.transport = down  # type: ignore[attr-defined]
    [outcome] = poller(hub).run()
    assert outcome.error is not None and "503" in outcome.error
    assert answers(hub) == []
    assert poller(hub).breaker.view().consecutive_failures == 1
    clock.advance(30)
    hub.pollers.pollers[0].poll.plugin.transport = MemoryTransport(justice)  # type: ignore[attr-defined]
    justice.ready.add("000.00.00.H49-261121-0001")
    [outcome] = poller(hub).run()
    assert outcome.new == 1


def test_the_poll_document_names_the_group_and_each_dossier() -> None:
    dossier = AwaitingDossier(
        "000.00.00.H49-261121-0001",
        BIRTH,
        new_envelope(
            kind=MessageKind.DOSSIER, sender=PROVINCE, sender_message_id="x", payload=b"", content_type="x"
        ).message_id,
        START,
    )
    root = poll_document("justice", "LayKetQua", BIRTH, [dossier])
    ns = f"{{{HUB_NS}}}"
    assert [root.findtext(f"{ns}{n}") for n in ("adapter", "poll", "group")] == [
        "justice",
        "LayKetQua",
        BIRTH,
    ]
    assert root.findtext(f"{ns}dossier/{ns}code") == dossier.dossier_code
    assert root.findtext(f"{ns}dossier/{ns}deliveredAt") == "2026-11-21T02:00:00+00:00"


# ---------------------------------------------------------------- configuration, at file:line


def _edit(config_dir: Path, change: Callable[[dict[str, object]], None]) -> None:
    yaml = YAML()
    path = config_dir / "adapters" / "justice.yaml"
    data = yaml.load(path)
    change(data)
    yaml.dump(data, path)


def _line(config_dir: Path, text: str) -> int:
    lines = (config_dir / "adapters" / "justice.yaml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_poll_mistakes_are_reported_at_their_lines(tmp_path: Path) -> None:
    from project_support import assemble_project

    from lienthong.adapter import discover_plugins
    from lienthong.compose import check_configuration
    from lienthong.config.files import load_configuration
    from lienthong.errors import ConfigError

    config_dir = assemble_project(tmp_path, adapters=(JUSTICE_ADAPTER,), routes=[])

    def break_it(data: dict[str, object]) -> None:
        poll = data["polling"]["LayKetQua"]  # type: ignore[index]
        poll["awaiting"]["operation"] = "NhanDKHX"
        poll["results"]["each"] = "fn:array[@key='value'"
        poll["request"]["mapping"] = "mappings/justice/missing.yaml"

    _edit(config_dir, break_it)
    with pytest.raises(ConfigError) as info:
        check_configuration(load_configuration(config_dir, environ={}), discover_plugins())
    text = "\n".join(str(issue) for issue in info.value.issues)
    assert f"justice.yaml:{_line(config_dir, 'operation: NhanDKHX')}" in text
    assert "'NhanDKHX' is not an operation of this adapter (NhanDKHT, YeuCauLLTP)" in text
    assert f"justice.yaml:{_line(config_dir, 'each: ')}" in text and "invalid XPath" in text
    assert f"justice.yaml:{_line(config_dir, 'missing.yaml')}" in text and "file not found" in text


def test_an_interval_that_is_no_duration_is_refused_at_its_line(tmp_path: Path) -> None:
    from project_support import assemble_project

    from lienthong.config.files import load_configuration
    from lienthong.errors import ConfigError

    config_dir = assemble_project(tmp_path, adapters=(JUSTICE_ADAPTER,), routes=[])
    _edit(config_dir, lambda data: data["polling"]["LayKetQua"].update(interval="often"))  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        load_configuration(config_dir, environ={})
    [issue] = info.value.issues
    assert (issue.line, issue.key) == (_line(config_dir, "interval: often"), "polling.LayKetQua.interval")


def test_the_simulators_pdf_is_the_sample_file() -> None:
    """The callback XSLT carries the sample PDF as a constant; it must be the file shipped beside it."""
    import base64
    import re

    xslt = (SAMPLE_PDF.parent / "traketqualltp-callback.xsl").read_text(encoding="utf-8")
    match = re.search(r"<lltp:NoiDung>([A-Za-z0-9+/=]+)</lltp:NoiDung>", xslt)
    assert match is not None
    assert base64.b64decode(match.group(1)) == SAMPLE_PDF.read_bytes()
    assert SAMPLE_PDF.read_bytes().startswith(b"%PDF-1.4") and b"%%EOF" in SAMPLE_PDF.read_bytes()[-8:]
