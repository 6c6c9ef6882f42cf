"""No request can exhaust memory: bodies are read only for known callers, and only as many at once as
the memory budget allows (docs/api.md, "Limits"). Over real HTTP on loopback, with raw sockets where
a test must hold a request half-sent."""

from __future__ import annotations

import base64
import json
import logging
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from land_support import LAND_NS
from soap_support import (
    HUB_ENVIRON,
    VERSIONS,
    Version,
    envelope,
    fault,
    fault_detail,
    result,
    row_counts,
    soap_headers,
    status_update,
)
from soap_support import post as soap_post
from support import MOTCUA_API_KEY, wait_until
from test_rest_intake import PROBLEM_JSON, assert_problem, dossier

HubFactory = Callable[..., Any]

#: Small limits, so that "over the budget" needs no large bodies: one 300 KB request fits, two do not.
LIMITS = {"max_body_size": "400KB", "memory_budget": "500KB"}
HELD = 300_000


def padded(message: Mapping[str, Any], size: int) -> bytes:
    """A valid submission of exactly ``size`` bytes: JSON allows any amount of trailing whitespace."""
    data = json.dumps(message).encode()
    assert len(data) < size
    return data + b" " * (size - len(data))


@contextmanager
def half_sent(url: str, path: str, headers: Mapping[str, str], first: bytes) -> Iterator[socket.socket]:
    """A request whose head and ``first`` bytes of body are sent; the rest is up to the caller."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port), timeout=20)
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    try:
        sock.sendall(head.encode("latin-1") + first)
        yield sock
    finally:
        sock.close()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 answer with a Content-Length (as the hub sends them).
    A socket timeout here means the hub did not answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(rest) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the answer"
        rest += chunk
    return int(status_line.split()[1]), headers, rest


def budget_of(running: Any) -> Any:
    return running.server.server.config.app.state.memory_budget


# ---------------------------------------------------------------- authentication before the body


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_anonymous_body_is_answered_401_before_it_is_sent(hub_factory: HubFactory, framing: str) -> None:
    """The hub answers after the first 64 KB of a 19 MB body: it did not wait to read, let alone parse, it."""
    hub = hub_factory()
    declared = 19_000_000
    first = b'{"sender_message_id": "' + b"x" * 65_000
    if framing == "chunked":
        headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        first = f"{len(first):x}\r\n".encode() + first + b"\r\n"
    else:
        headers = {"Content-Type": "application/json", "Content-Length": str(declared)}
    with half_sent(hub.url, "/api/v1/messages", headers, first) as sock:
        status, answer_headers, content = read_response(sock)
    assert status == 401
    assert answer_headers["content-type"] == PROBLEM_JSON
    assert answer_headers["www-authenticate"].startswith("ApiKey")
    assert json.loads(content)["type"] == "urn:lienthong:problem:unauthenticated"
    assert row_counts(hub.project.database)["messages"] == 0
    # The same hub still serves a known caller on a new connection.
    assert hub.submit(dossier()).status_code == 202


def test_an_anonymous_body_never_reaches_the_parser(hub_factory: HubFactory) -> None:
    """Without a key, a body that is not even JSON is 401, not 400: it was never parsed."""
    hub = hub_factory()
    response = httpx.post(
        f"{hub.url}/api/v1/messages", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 401, "unauthenticated", "Not authenticated")
    # With the key, the same body is read and refused for what it is.
    response = hub.client.post(
        "/api/v1/messages", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "malformed-request", "Malformed request")


# ---------------------------------------------------------------- the memory budget


def test_requests_beyond_the_memory_budget_are_503_and_nothing_accepted_is_lost(
    hub_factory: HubFactory,
) -> None:
    hub = hub_factory(environ=HUB_ENVIRON, api=LIMITS)
    budget = budget_of(hub)
    held = padded(dossier(0), HELD)
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(held)),
        "X-API-Key": MOTCUA_API_KEY,
    }
    with half_sent(hub.url, "/api/v1/messages", headers, held[:1000]) as sock:
        wait_until(lambda: budget.in_use >= HELD, timeout=10, what="the first request to take its share")

        # REST: a second body that does not fit beside the first is refused unread, with a retry time.
        second = padded(dossier(1), 250_000)
        refused = hub.client.post(
            "/api/v1/messages", content=second, headers={"Content-Type": "application/json"}
        )
        problem = assert_problem(refused, 503, "over-budget", "Hub busy")
        assert refused.headers["retry-after"].isdigit()
        assert "send the request again" in problem["detail"]

        # SOAP: the same refusal as a Receiver fault (SOAP 1.1: Server), HTTP 503.
        for version in VERSIONS:
            data = envelope(version, status_update()) + b" " * 250_000
            answer = soap_post(hub.client, version, data)
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"].isdigit()
            assert fault(answer).code == ("Server" if version == "soap11" else "Receiver")
            assert fault_detail(answer).findtext("{urn:lienthong:hub:1}code") == "over-budget"

        # A small request still fits, and the first one, finished now, is accepted whole.
        assert hub.submit(dossier(2)).status_code == 202
        sock.sendall(held[1000:])
        status, _, content = read_response(sock)
    assert status == 202, content
    first_id = json.loads(content)["message_id"]
    wait_until(lambda: budget.in_use == 0, timeout=10, what="every share to be given back")

    # Refused means "send it again": the retry is accepted, and everything accepted is there.
    retried = hub.client.post(
        "/api/v1/messages", content=second, headers={"Content-Type": "application/json"}
    )
    assert retried.status_code == 202, retried.text
    assert hub.status(first_id)["payload_size"] == len(dossier_payload(0))
    assert row_counts(hub.project.database)["messages"] == 3


def dossier_payload(index: int) -> bytes:
    return base64.b64decode(dossier(index)["payload_base64"])


@pytest.mark.parametrize("version", VERSIONS)
def test_an_anonymous_soap_body_takes_no_share_of_the_budget(
    hub_factory: HubFactory, version: Version, caplog: pytest.LogCaptureFixture
) -> None:
    """A SOAP caller without a key is answered 401 (its body hashed for requestHash, never held):
    while its large body trickles in, the whole budget stays with the agencies that may use it."""
    hub = hub_factory(environ=HUB_ENVIRON, api=LIMITS)
    headers = {k: v for k, v in soap_headers(version).items() if k != "X-API-Key"}
    headers["Content-Length"] = str(HELD)
    with (
        caplog.at_level(logging.INFO, logger="lienthong.audit"),
        half_sent(hub.url, "/soap/land", headers, b"<" + b" " * 999) as sock,
    ):
        # The refusal is logged just before the hub starts reading (and hashing) the body; the event
        # loop handles the next request only after that read has begun.
        wait_until(
            lambda: any("reason=unauthenticated" in r.getMessage() for r in caplog.records),
            timeout=10,
            what="the anonymous request's audit line",
        )
        data = envelope(version, status_update()) + b" " * 250_000
        assert soap_post(hub.client, version, data).status_code == 200
        sock.sendall(b" " * (HELD - 1000))
        status, _, _ = read_response(sock)
    assert status == 401


# ---------------------------------------------------------------- copies


def test_a_soap_request_under_the_payload_limit_is_not_refused_for_its_vietnamese_text(
    hub_factory: HubFactory,
) -> None:
    """The body element is checked for a signature as a document of its own. That copy used to be
    written in ASCII with character references (ạ as &#7841;), 2–3 times longer than the UTF-8
    received, so a 6 MB request, well under the 10 MiB payload limit, was refused as too large."""
    hub = hub_factory(environ=HUB_ENVIRON)
    name = "Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở " * 8
    paper = f"<dd:GiayTo><dd:TenGiayTo>{name.strip()}</dd:TenGiayTo></dd:GiayTo>"
    papers = f"<dd:DanhSachGiayToKetQua>{paper * 11_000}</dd:DanhSachGiayToKetQua>"
    data = envelope("soap11", result().replace("</dd:GiayChungNhan>", "</dd:GiayChungNhan>" + papers))
    assert 5_000_000 < len(data) < 10 * 2**20 < len(data.decode().encode("ascii", "xmlcharrefreplace"))
    response = soap_post(hub.client, "soap11", data, action=f"{LAND_NS}/TraKetQuaHoSo")
    assert response.status_code == 200, response.text[:1000]
    assert row_counts(hub.project.database)["messages"] == 1
