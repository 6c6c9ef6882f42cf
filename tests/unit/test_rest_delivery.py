"""The REST/JSON plugin's delivery logic with no socket: a MemoryTransport whose handler plays the
ministry (and the portal's login), so every classification of an answer is checked as the workers see
it: what was sent (method, headers, bytes), what is kept, and whether trying again can help."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lienthong import MemoryTransport, TransportRequest, TransportResponse
from lienthong.adapter import AdapterContext, discover_plugins
from lienthong.config.models import AdapterConfig
from lienthong.delivery.rest_adapter import REST_PLUGIN, RestAdapter, RestOptions, field_value
from lienthong.envelope import MessageKind, new_envelope
from lienthong.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from lienthong.jsonxml import dumps
from lienthong.store import Claim

ENDPOINT = "http://justice.invalid/api/NhanDKHT"  # never resolved: the transport is in memory
LOGIN = "http://portal.invalid/api/login"
HUB_AGENCY = "000.00.00.H49"
PAYLOAD = (
    '{"module":"LTKS","maHoSoMCDT":"000.00.00.H49-261121-0001","data":{"hoTen":"Nguyễn Văn An"}}'.encode()
)
Handler = Callable[[TransportRequest], TransportResponse]


def answer(status: int, body: Any) -> TransportResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return TransportResponse(status, data, {"content-type": "application/json"})


def claim(payload: bytes = PAYLOAD) -> Claim:
    env = new_envelope(
        kind=MessageKind.DOSSIER,
        sender=HUB_AGENCY,
        sender_message_id="ks-0001",
        payload=b"<x/>",
        content_type="application/xml",
    )
    now = datetime.now(UTC)
    return Claim(
        delivery_id=1,
        target="justice",
        attempt=1,
        round_attempt=1,
        first_attempt_at=now,
        payload=payload,
        content_type="application/json",
        envelope=env.header(),
        worker="w-1",
        lease_until=now,
    )


def adapter(handler: Handler, **options: Any) -> tuple[RestAdapter, MemoryTransport]:
    transport = MemoryTransport(handler)
    config = AdapterConfig(name="justice", plugin="rest", agency="000.00.00.G15", endpoint=ENDPOINT)
    ctx = AdapterContext(
        config=config,
        options=RestOptions.model_validate(options),
        hub_agency=HUB_AGENCY,
        root=Path(__file__).parent,
        transport=transport,
    )
    return RestAdapter(ctx), transport


SUCCESS = {"field": "error_code", "equals": ["0", "00"]}


def test_rest_is_a_built_in_plugin() -> None:
    assert discover_plugins()["rest"] is REST_PLUGIN


def test_the_prepared_bytes_go_out_with_the_hub_headers_and_the_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUSTICE_API_KEY", "k-justice-1")
    body = {"error_code": "0", "maDinhDanhHoSo": "KS-2026-0001"}
    rest, transport = adapter(
        lambda r: answer(200, body), api_key={"env": "JUSTICE_API_KEY"}, success=SUCCESS
    )
    sent_claim = claim()

    delivered = rest.deliver(sent_claim)

    [request] = transport.requests
    assert request.method == "POST" and request.url == ENDPOINT
    assert request.body == PAYLOAD
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-API-Key"] == "k-justice-1"
    assert headers["X-Message-Id"] == str(sent_claim.envelope.message_id)
    assert headers["X-Correlation-Id"] == str(sent_claim.envelope.correlation_id)
    assert headers["X-Client"] == HUB_AGENCY
    assert "X-Causation-Id" not in headers
    assert delivered.request == PAYLOAD
    assert delivered.response == json.dumps(body).encode()
    assert delivered.response_status == 200


def test_put_static_headers_a_bearer_key_and_no_hub_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSTICE_TOKEN", "t-1")
    rest, transport = adapter(
        lambda r: answer(204, b""),
        method="PUT",
        headers={"X-Province": "H49"},
        hub_headers=False,
        api_key={"header": "Authorization", "env": "JUSTICE_TOKEN", "scheme": "Bearer"},
    )

    delivered = rest.deliver(claim())

    [request] = transport.requests
    assert request.method == "PUT"
    assert request.headers["Authorization"] == "Bearer t-1"
    assert request.headers["X-Province"] == "H49"
    assert not [h for h in request.headers if h.startswith("X-Message")]
    assert delivered.response_status == 204


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_server_trouble_is_transient(status: int) -> None:
    rest, _ = adapter(lambda r: answer(status, {"error_code": "99"}), success=SUCCESS)

    with pytest.raises(TransientDeliveryError) as caught:
        rest.deliver(claim())

    assert caught.value.response_status == status
    assert caught.value.request == PAYLOAD


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_client_error_is_a_rejection(status: int) -> None:
    rest, _ = adapter(lambda r: answer(status, {"error_code": "05", "message": "sai dữ liệu"}))

    with pytest.raises(PermanentDeliveryError) as caught:
        rest.deliver(claim())

    assert f"HTTP {status}" in caught.value.message
    assert caught.value.response is not None and b"sai" in caught.value.response


def test_a_call_without_an_answer_is_transient() -> None:
    def timeout(request: TransportRequest) -> TransportResponse:
        raise TransientDeliveryError(f"timed out calling {request.url}", request=request.body)

    rest, _ = adapter(timeout, success=SUCCESS)

    with pytest.raises(TransientDeliveryError, match="timed out"):
        rest.deliver(claim())


@pytest.mark.parametrize("code", [0, "0", "00"])
def test_success_codes_are_compared_as_text(code: object) -> None:
    rest, _ = adapter(lambda r: answer(200, {"error_code": code, "result": []}), success=SUCCESS)

    assert rest.deliver(claim()).response_status == 200


def test_another_code_in_a_2xx_answer_is_a_rejection() -> None:
    rest, _ = adapter(lambda r: answer(200, {"error_code": "05"}), success=SUCCESS)

    with pytest.raises(PermanentDeliveryError, match="error_code = '05'"):
        rest.deliver(claim())


def test_a_code_listed_as_transient_is_tried_again() -> None:
    success = {**SUCCESS, "transient": ["99"]}
    rest, _ = adapter(lambda r: answer(200, {"error_code": 99}), success=success)

    with pytest.raises(TransientDeliveryError, match="try later"):
        rest.deliver(claim())


def test_the_success_field_follows_a_path() -> None:
    success = {"field": "result.0.status", "equals": ["OK"]}
    rest, _ = adapter(lambda r: answer(200, {"result": [{"status": "OK"}]}), success=success)

    assert rest.deliver(claim()).response_status == 200


@pytest.mark.parametrize(
    "body", [b"<html>Bad gateway</html>", b"", b'{"error_code": "0", "error_code": "05"}', b'{"result": 1}']
)
def test_an_answer_that_cannot_be_read_is_transient(body: bytes) -> None:
    rest, _ = adapter(lambda r: answer(200, body), success=SUCCESS)

    with pytest.raises(TransientDeliveryError, match="unreadable answer"):
        rest.deliver(claim())


def test_without_criteria_any_2xx_is_delivered_whatever_its_body() -> None:
    rest, _ = adapter(lambda r: TransportResponse(202, b"accepted", {}))

    delivered = rest.deliver(claim())

    assert delivered.response == b"accepted"


def test_a_redirect_is_not_followed_and_tried_again() -> None:
    rest, _ = adapter(lambda r: TransportResponse(302, b"", {"location": "http://elsewhere.invalid"}))

    with pytest.raises(TransientDeliveryError, match="unexpected HTTP 302"):
        rest.deliver(claim())


def _answer_schema(tmp_path: Path) -> Path:
    schemas = tmp_path / "schemas" / "justice"
    schemas.mkdir(parents=True)
    path = schemas / "answer.schema.json"
    schema = {
        "type": "object",
        "required": ["error_code", "maDinhDanhHoSo"],
        "properties": {"maDinhDanhHoSo": {"type": "string", "pattern": "^KS-[0-9]{4}-[0-9]{4}$"}},
    }
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


def test_an_answer_is_checked_against_its_schema(tmp_path: Path) -> None:
    path = _answer_schema(tmp_path)
    good = {"error_code": "0", "maDinhDanhHoSo": "KS-2026-0001"}
    rest, _ = adapter(lambda r: answer(200, good), success=SUCCESS, answer={"schema": str(path)})
    assert rest.deliver(claim()).response == json.dumps(good).encode()

    bad = {"error_code": "0", "maDinhDanhHoSo": "12"}
    rest, _ = adapter(lambda r: answer(200, bad), success=SUCCESS, answer={"schema": str(path)})
    with pytest.raises(TransientDeliveryError, match=r"does not conform to answer\.schema\.json") as caught:
        rest.deliver(claim())
    violations = caught.value.detail["violations"]
    assert isinstance(violations, list)
    [violation] = violations
    assert violation["path"] == "/maDinhDanhHoSo"
    assert violation["rule"] == "#/properties/maDinhDanhHoSo/pattern"


def test_an_answer_schema_that_cannot_be_loaded_is_a_configuration_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.schema.json"
    broken.write_text('{"type": 12}', encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        adapter(lambda r: answer(200, {}), answer={"schema": str(broken)})

    assert [issue.key for issue in caught.value.issues] == ["options.answer.schema"]


def test_a_missing_secret_holds_deliveries_back_naming_the_variable_and_calls_nobody(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The configuration still checks (hub config check passes where the secret is not given), but no
    call goes out without it: the delivery waits, its error naming the variable."""
    monkeypatch.delenv("JUSTICE_API_KEY", raising=False)
    rest, transport = adapter(lambda r: answer(200, {}), api_key={"env": "JUSTICE_API_KEY"})

    with pytest.raises(TransientDeliveryError) as caught:
        rest.deliver(claim())

    assert "JUSTICE_API_KEY" in caught.value.message and transport.requests == []


# ---------------------------------------------------------------- a session, as the national portal has


class Portal:
    """The portal: a login that hands out numbered sessions, and a service that accepts the latest
    one (or, with ``expire``, says the first ``expire`` calls' session expired)."""

    def __init__(self, *, expire: int = 0, expired_status: int = 200, login_status: int = 200) -> None:
        self.expire = expire
        self.expired_status = expired_status
        self.login_status = login_status
        self.logins = 0
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: TransportRequest) -> TransportResponse:
        body = json.loads(request.body)
        if request.url == LOGIN:
            if self.login_status != 200:
                return answer(self.login_status, {"error_code": "-1", "message": "sai mật khẩu"})
            assert body == {"username": "hub-h49", "password": "s3cret-pw"}
            self.logins += 1
            return answer(200, {"session": f"S{self.logins}", "error_code": 0})
        self.calls.append(body)
        if len(self.calls) <= self.expire:
            return answer(self.expired_status, {"error_code": "-98", "message": "session expired"})
        if body["session"] != f"S{self.logins}":
            return answer(200, {"error_code": "-99"})
        return answer(200, {"error_code": "00", "result": "ok"})


SESSION = {
    "login_url": LOGIN,
    "username_env": "DVCQG_USERNAME",
    "password_env": "DVCQG_PASSWORD",
    "expired": {"field": "error_code", "equals": ["-98"]},
}


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVCQG_USERNAME", "hub-h49")
    monkeypatch.setenv("DVCQG_PASSWORD", "s3cret-pw")


@pytest.mark.usefixtures("credentials")
def test_the_session_goes_first_in_the_body_and_the_rest_is_byte_for_byte() -> None:
    portal = Portal()
    rest, transport = adapter(portal, session=SESSION, success=SUCCESS)

    delivered = rest.deliver(claim())

    login, call = transport.requests
    assert login.url == LOGIN and call.url == ENDPOINT
    assert call.body == b'{"session":"S1",' + PAYLOAD[1:]
    assert delivered.request == call.body
    assert b"s3cret-pw" not in call.body


@pytest.mark.usefixtures("credentials")
def test_the_session_is_kept_between_calls() -> None:
    portal = Portal()
    rest, _ = adapter(portal, session=SESSION, success=SUCCESS)

    rest.deliver(claim())
    rest.deliver(claim(b"{}"))

    assert portal.logins == 1
    assert portal.calls[1] == {"session": "S1"}


@pytest.mark.usefixtures("credentials")
def test_the_session_member_spliced_in_is_what_json_writes_for_each_session() -> None:
    """The member ``"session":"…"`` is encoded once per session (``_member_of``): each session,
    whatever JSON escapes in it, and a renewed one, is spliced in as ``dumps`` writes it."""
    rest, _ = adapter(Portal(), session=SESSION, success=SUCCESS)
    for session in ("S1", "S1", 'q"uote\\back', "phiên\u0001\n", "S1", "S2"):
        spliced = rest._with_session(PAYLOAD, session)
        assert spliced == b"{" + dumps({"session": session})[1:-1] + b"," + PAYLOAD[1:]
        assert json.loads(spliced)["session"] == session


@pytest.mark.usefixtures("credentials")
def test_a_placeholder_for_the_session_is_filled_in_place() -> None:
    portal = Portal()
    rest, transport = adapter(portal, session=SESSION, success=SUCCESS)

    rest.deliver(claim(b'{"madonvi":"000.00.00.H49","session":"","service":"DongBoHoSoMC"}'))

    assert (
        transport.requests[1].body == b'{"madonvi":"000.00.00.H49","session":"S1","service":"DongBoHoSoMC"}'
    )


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("expired_status", [200, 401])
def test_an_expired_session_is_renewed_once_and_the_call_resent(expired_status: int) -> None:
    portal = Portal(expire=1, expired_status=expired_status)
    rest, transport = adapter(portal, session=SESSION, success=SUCCESS)

    delivered = rest.deliver(claim())

    assert portal.logins == 2
    assert [c["session"] for c in portal.calls] == ["S1", "S2"]
    assert delivered.request == transport.requests[-1].body
    assert delivered.request.startswith(b'{"session":"S2",')


@pytest.mark.usefixtures("credentials")
def test_a_session_refused_again_after_a_new_login_is_transient() -> None:
    portal = Portal(expire=2)
    rest, _ = adapter(portal, session=SESSION, success=SUCCESS)

    with pytest.raises(TransientDeliveryError, match="refused again after logging in anew"):
        rest.deliver(claim())

    assert portal.logins == 2 and len(portal.calls) == 2


@pytest.mark.usefixtures("credentials")
def test_a_refused_login_is_transient_and_carries_no_credentials() -> None:
    portal = Portal(login_status=403)
    rest, _ = adapter(portal, session=SESSION, success=SUCCESS)

    with pytest.raises(TransientDeliveryError) as caught:
        rest.deliver(claim())

    error = caught.value
    assert error.message == f"login to {LOGIN} refused (HTTP 403): error_code = '-1'"
    assert error.request is None and error.response is None
    assert portal.calls == []


@pytest.mark.usefixtures("credentials")
def test_a_login_without_an_answer_keeps_the_password_out_of_the_error() -> None:
    def unreachable(request: TransportRequest) -> TransportResponse:
        raise TransientDeliveryError(f"cannot reach {request.url}", request=request.body)

    rest, _ = adapter(unreachable, session=SESSION)

    with pytest.raises(TransientDeliveryError) as caught:
        rest.deliver(claim())

    assert caught.value.request is None
    assert "s3cret-pw" not in caught.value.message


@pytest.mark.usefixtures("credentials")
def test_a_session_needs_a_json_object_body() -> None:
    rest, _ = adapter(Portal(), session=SESSION)

    with pytest.raises(PermanentDeliveryError, match="not a JSON object"):
        rest.deliver(claim(b"[1, 2]"))


def test_field_paths() -> None:
    value = {"a": {"b": [{"c": 0}, {"c": True}]}, "n": None}
    assert field_value(value, "a.b.0.c") == "0"
    assert field_value(value, "a.b.1.c") == "true"
    assert field_value(value, "a.b.2.c") is None
    assert field_value(value, "a.b") is None
    assert field_value(value, "n") is None
    assert field_value(None, "a") is None
