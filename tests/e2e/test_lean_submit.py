"""The raw XML submit's lean path (``lean_submit.py``) answers exactly as FastAPI's route, over real HTTP.

Each request is sent twice to one running hub: once served by the lean path, once with
``app.lean_submit = False``, so that FastAPI's route serves it. Status, headers (but ``date``) and body
must be byte for byte the same, and so must what the request leaves behind: its audit lines and the
request counters of ``/metrics``. Good requests and every kind of refusal are compared.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from conftest import HUB_ENVIRON, RunningHub
from support import MOTCUA_API_KEY
from test_raw_xml_intake import raw_headers
from test_rest_intake import PROVINCE, sample

from lienthong.errors import StoreUnavailableError

LAND_KEY = "test-land-key-not-a-secret"
LIMITS = {"max_body_size": "200KB", "max_payload_size": "100KB", "max_document_size": "1MB"}
#: What differs between two answers for reasons other than the path: the client's port in audit
#: lines (a refusal may close the connection), a 500's random reference.
_REMOTE = re.compile(r"remote=127\.0\.0\.1:\d+")
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    audit: list[str]
    counted: dict[str, float]


class Paths:
    """Sends one request through the lean path or FastAPI's route and records what it left."""

    def __init__(self, running: RunningHub, caplog: pytest.LogCaptureFixture) -> None:
        self.running = running
        self.app = cast(Any, running.server.server.config.app)
        self.caplog = caplog
        self.lean_calls = 0
        lean_app = self.app.lean_app

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            self.lean_calls += 1
            await lean_app(scope, receive, send)

        self.app.lean_app = counting

    def counters(self) -> dict[str, float]:
        text = self.running.client.get("/metrics").text
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(
                ("lienthong_http_requests_total{", "lienthong_http_request_duration_seconds_count{")
            ):
                name, value = line.rsplit(" ", 1)
                found[name] = float(value)
        return found

    def send(self, lean: bool, request: Callable[[httpx.Client], httpx.Response]) -> Answer:
        self.app.lean_submit = lean
        calls = self.lean_calls
        before = self.counters()
        self.caplog.clear()
        try:
            with httpx.Client(base_url=self.running.url, timeout=30) as client:
                response = request(client)
        finally:
            self.app.lean_submit = True
        audit = [
            _REMOTE.sub("remote=127.0.0.1:PORT", r.getMessage())
            for r in self.caplog.records
            if r.name == "lienthong.audit"
        ]
        after = self.counters()
        counted = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
        # The scrape itself is counted (as /metrics) between the two reads.
        counted = {k: v for k, v in counted.items() if 'route="/metrics"' not in k}
        assert self.lean_calls == calls + (1 if lean else 0), "the lean path did not serve the request"
        headers = [(k, v) for k, v in response.headers.multi_items() if k != "date"]
        return Answer(response.status_code, headers, response.content, audit, counted)

    def compare(self, request: Callable[[httpx.Client], httpx.Response], *, status: int) -> Answer:
        lean = self.send(True, request)
        routed = self.send(False, request)
        assert lean.status == status, lean.body
        assert lean == routed
        return lean


@pytest.fixture
def paths(hub_factory: Callable[..., RunningHub], caplog: pytest.LogCaptureFixture) -> Iterator[Paths]:
    environ = {**HUB_ENVIRON, "HUB_LAND_API_KEY": LAND_KEY}
    running = hub_factory(api=LIMITS, environ=environ)
    with caplog.at_level(logging.INFO, logger="lienthong.audit"):
        yield Paths(running, caplog)


def post(
    body: bytes, headers: dict[str, str], key: str | None = MOTCUA_API_KEY
) -> Callable[[httpx.Client], httpx.Response]:
    sent = dict(headers) | ({"X-API-Key": key} if key is not None else {})
    return lambda client: client.post("/api/v1/messages", content=body, headers=sent)


def test_a_repeat_is_answered_alike(paths: Paths) -> None:
    sender_id = f"lean-{uuid.uuid4()}"
    first = paths.send(True, post(sample().xml, raw_headers(sender_id)))
    assert first.status == 202
    answer = paths.compare(post(sample().xml, raw_headers(sender_id)), status=202)
    assert b'"duplicate":true' in answer.body
    assert ("location", re.search(rb'"status_url":"([^"]+)"', answer.body)[1].decode()) in answer.headers  # type: ignore[index]


def test_a_new_message_is_answered_alike(paths: Paths) -> None:
    lean_id, routed_id = f"lean-{uuid.uuid4()}", f"lean-{uuid.uuid4()}"
    lean = paths.send(True, post(sample().xml, raw_headers(lean_id, **{"Content-Type": "text/xml"})))
    routed = paths.send(False, post(sample().xml, raw_headers(routed_id, **{"Content-Type": "text/xml"})))
    assert lean.status == routed.status == 202
    assert b'"duplicate":false' in lean.body

    def same(answer: Answer, sender_id: str) -> tuple[Any, ...]:
        message_id = re.search(rb'"message_id":"([^"]+)"', answer.body)[1]  # type: ignore[index]
        body = answer.body.replace(message_id, b"ID").replace(sender_id.encode(), b"SENDER")
        headers = [(k, v.replace(message_id.decode(), "ID")) for k, v in answer.headers]
        audit = [a.replace(message_id.decode(), "ID").replace(sender_id, "SENDER") for a in answer.audit]
        return answer.status, headers, body, audit, answer.counted

    assert same(lean, lean_id) == same(routed, routed_id)


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("not-a-key", 401), (LAND_KEY, 403)],
    ids=["no-key", "bad-key", "no-right"],
)
def test_callers_are_refused_alike(paths: Paths, key: str | None, status: int) -> None:
    answer = paths.compare(post(sample().xml, raw_headers(f"lean-{uuid.uuid4()}"), key), status=status)
    assert len(answer.audit) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Kind": "parcel"},
        {"X-Hub-Colour": "blue"},
        {"X-Hub-Correlation-Id": "not-a-uuid"},
        {"X-Hub-Sender": "000.00.00.G13"},
        {"Content-Type": "application/vnd.land+xml; charset=utf-8"},
    ],
    ids=["kind", "unknown-header", "correlation", "other-sender", "vendor-xml"],
)
def test_bad_headers_are_refused_alike(paths: Paths, headers: dict[str, str]) -> None:
    status = 403 if "X-Hub-Sender" in headers else 422
    sender_id = f"lean-{uuid.uuid4()}"
    if "Content-Type" in headers:  # valid: a vendor XML type is XML; this dossier's repeat is a 202
        paths.send(True, post(sample().xml, raw_headers(sender_id, **headers)))
        status = 202
    answer = paths.compare(post(sample().xml, raw_headers(sender_id, **headers)), status=status)
    assert len(answer.audit) == (0 if status == 202 else 1)


def test_a_missing_id_an_empty_body_and_bad_xml_are_refused_alike(paths: Paths) -> None:
    paths.compare(post(sample().xml, raw_headers(None)), status=422)
    paths.compare(post(b"", raw_headers(f"lean-{uuid.uuid4()}")), status=422)
    paths.compare(post(b"<HoSo><unclosed></HoSo>", raw_headers(f"lean-{uuid.uuid4()}")), status=422)


def test_a_conflict_is_answered_alike(paths: Paths) -> None:
    sender_id = f"lean-{uuid.uuid4()}"
    assert paths.send(True, post(sample(0).xml, raw_headers(sender_id))).status == 202
    paths.compare(post(sample(1).xml, raw_headers(sender_id)), status=409)


def test_oversize_bodies_and_payloads_are_refused_alike(paths: Paths) -> None:
    big = sample().xml.replace(b"</HoSo>", b"<!--" + b"x" * 300_000 + b"--></HoSo>")
    medium = sample().xml.replace(b"</HoSo>", b"<!--" + b"x" * 150_000 + b"--></HoSo>")
    # Refused from Content-Length before any route (counted as unmatched), then from the payload limit.
    answer = paths.compare(post(big, raw_headers(f"lean-{uuid.uuid4()}")), status=413)
    assert any('route="unmatched"' in k for k in answer.counted)
    paths.compare(post(medium, raw_headers(f"lean-{uuid.uuid4()}")), status=413)

    # Sent chunked, without Content-Length: cut off while it is read.
    def chunked(client: httpx.Client) -> httpx.Response:
        headers = raw_headers(f"lean-{uuid.uuid4()}") | {"X-API-Key": MOTCUA_API_KEY}
        chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
        return client.post("/api/v1/messages", content=chunks, headers=headers)

    paths.compare(chunked, status=413)
    # A document may be larger than max_body_size.
    document = raw_headers(f"lean-{uuid.uuid4()}", **{"X-Hub-Kind": "document"})
    assert paths.send(True, post(big, document)).status == 202
    paths.compare(post(big, document), status=202)


def test_a_full_memory_budget_is_answered_alike(paths: Paths) -> None:
    budget = paths.app.state.memory_budget
    assert budget.take(budget.capacity)
    try:
        paths.compare(post(sample().xml, raw_headers(f"lean-{uuid.uuid4()}")), status=503)
    finally:
        budget.give_back(budget.capacity)


def test_an_unavailable_store_and_an_internal_error_are_answered_alike(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise StoreUnavailableError("accept", "the database is restarting")

    monkeypatch.setattr(paths.running.hub.intake, "submit", unavailable)
    answer = paths.compare(post(sample().xml, raw_headers(f"lean-{uuid.uuid4()}")), status=503)
    assert any(k == "retry-after" for k, _ in answer.headers)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(paths.running.hub.intake, "submit", broken)
    lean = paths.send(True, post(sample().xml, raw_headers(f"lean-{uuid.uuid4()}")))
    routed = paths.send(False, post(sample().xml, raw_headers(f"lean-{uuid.uuid4()}")))
    assert lean.status == routed.status == 500
    lean.body, routed.body = _UUID.sub(b"REF", lean.body), _UUID.sub(b"REF", routed.body)
    assert lean == routed


def test_a_json_envelope_still_takes_the_route(paths: Paths) -> None:
    calls = paths.lean_calls
    response = paths.running.submit(
        {
            "sender_message_id": f"lean-{uuid.uuid4()}",
            "kind": "dossier",
            "sender": PROVINCE,
            "payload": sample().xml.decode(),
        }
    )
    assert response.status_code == 202, response.text
    assert paths.lean_calls == calls


@pytest.mark.parametrize(
    "sender_id",
    [
        'lean "quoted" \\ back\\slash </script>',
        "lean Đất đai — 土地 😀".encode(),
        "UTF-8''lean-%C4%90%E2%80%A8%E2%80%A9-%22-%5C",
        "lean\ttab inside",
    ],
    ids=["quotes-backslash", "utf8", "rfc8187-separators", "tab"],
)
def test_hostile_sender_ids_are_answered_alike(paths: Paths, sender_id: str | bytes) -> None:
    """The 202 repeats the sender's id: written without pydantic on the lean path, the same bytes."""
    suffix = uuid.uuid4().hex
    unique = sender_id + suffix.encode() if isinstance(sender_id, bytes) else sender_id + suffix
    headers: dict[str, Any] = raw_headers(None) | {"X-Hub-Sender-Message-Id": unique}
    first = paths.send(True, post(sample().xml, headers))
    assert first.status == 202, first.body
    answer = paths.compare(post(sample().xml, headers), status=202)
    assert b'"duplicate":true' in answer.body
