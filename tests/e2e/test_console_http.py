"""The web console over real HTTP (uvicorn on loopback): sign-in, cookies, CSRF, roles, the record.

What a browser cannot show well is checked here, request by request: a wrong password, a POST without
its anti-forgery token, a session after logout or past its expiry, an auditor refused on every change
(through the console and through the REST API), and the cookies' flags. The browser tests
(test_console_browser.py) drive the same pages in Chromium.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_log_support import as_attacker
from console_support import (
    PASSWORDS,
    PROVINCE,
    add_users,
    csrf_of,
    delivery_state,
    dossier_message,
    make_dead_letter,
    recorded_actions,
    signed_in,
)
from sqlalchemy import select, update

from lienthong.audit.log import AuditLog
from lienthong.store import DeliveryState
from lienthong.store.schema import console_sessions, console_users

AUDITOR_KEY = "test-key-console-auditor"


@pytest.fixture
def hub(hub_factory: Callable[..., Any]) -> Any:
    """A hub whose callers are the one-stop system and an auditor with ``rest:read-all`` only."""
    callers = [
        {
            "agency": PROVINCE,
            "name": "motcua",
            "api_key_env": "HUB_MOTCUA_API_KEY",
            "services": ["rest:submit", "rest:read"],
        },
        {
            "agency": PROVINCE,
            "name": "auditor",
            "api_key_sha256": [hashlib.sha256(AUDITOR_KEY.encode()).hexdigest()],
            "services": ["rest:read-all"],
        },
    ]
    running = hub_factory(callers=callers)
    add_users(running)
    return running


def test_a_page_without_a_session_sends_the_browser_to_sign_in(hub: Any) -> None:
    with httpx.Client(base_url=hub.url) as client:
        response = client.get("/console/messages?dossier_code=X")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/login?next=/console/messages%3Fdossier_code%3DX"
        form = client.get(response.headers["location"])
    assert form.status_code == 200
    assert "Đăng nhập" in form.text
    assert 'value="/console/messages?dossier_code=X"' in form.text


def test_a_wrong_password_is_refused_and_opens_no_session(hub: Any) -> None:
    with httpx.Client(base_url=hub.url) as client:
        token = csrf_of(client.get("/console/login").text)
        response = client.post(
            "/console/login", data={"csrf": token, "user": "olga", "password": "wrong-password"}
        )
        assert response.status_code == 401
        assert "Sai tên đăng nhập hoặc mật khẩu." in response.text
        assert "lt_console_session" not in response.headers.get("set-cookie", "")
        unknown = client.post("/console/login", data={"csrf": token, "user": "nobody", "password": "x" * 12})
        assert unknown.status_code == 401
        assert client.get("/console/").status_code == 303
    with hub.hub.store.engine.connect() as conn:
        assert conn.execute(select(console_sessions)).all() == []
    assert recorded_actions(hub) == [
        ("anonymous", "system", "login-refused", "olga"),
        ("anonymous", "system", "login-refused", "nobody"),
    ]


def test_sign_in_without_the_forms_token_is_refused(hub: Any) -> None:
    with httpx.Client(base_url=hub.url) as client:
        client.get("/console/login")
        response = client.post("/console/login", data={"user": "olga", "password": PASSWORDS["olga"]})
    assert response.status_code == 403
    assert "Yêu cầu không hợp lệ (thiếu mã chống giả mạo)" in response.text


def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_console(hub: Any) -> None:
    with httpx.Client(base_url=hub.url) as client:
        token = csrf_of(client.get("/console/login").text)
        response = client.post(
            "/console/login", data={"csrf": token, "user": "olga", "password": PASSWORDS["olga"]}
        )
    assert response.status_code == 303
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("lt_console_session=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # plain HTTP on loopback; over TLS the cookie is Secure
    value = cookie.split(";")[0].split("=", 1)[1]
    with hub.hub.store.engine.connect() as conn:
        [stored] = conn.execute(select(console_sessions.c.token_sha256)).scalars().all()
    assert stored == hashlib.sha256(value.encode()).hexdigest(), "only the token's digest is stored"


def test_behind_a_tls_proxy_the_cookies_are_secure(hub: Any) -> None:
    """uvicorn trusts X-Forwarded-Proto from loopback (a proxy on the same machine ending TLS)."""
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=hub.url, headers=https) as client:
        form = client.get("/console/login")
        token = csrf_of(form.text)
        # The client keeps a Secure cookie for https only: send it as the browser behind the proxy would.
        response = client.post(
            "/console/login",
            data={"csrf": token, "user": "olga", "password": PASSWORDS["olga"]},
            headers={"Cookie": f"lt_console_login={token}"},
        )
    for answer, name in ((form, "lt_console_login="), (response, "lt_console_session=")):
        [cookie] = [c for c in answer.headers.get_list("set-cookie") if c.startswith(name)]
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_pages_forbid_scripts_and_framing(hub: Any) -> None:
    with signed_in(hub.url, "olga") as client:
        response = client.get("/console/")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # no script at all
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(hub: Any, land_sim: Any) -> None:
    message_id, _ = make_dead_letter(hub, land_sim)
    with signed_in(hub.url, "olga") as client:
        missing = client.post("/console/dead-letters/replay", data={"message_id": message_id})
        wrong = client.post("/console/dead-letters/replay", data={"message_id": message_id, "csrf": "forged"})
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert "Yêu cầu không hợp lệ (thiếu mã chống giả mạo)" in missing.text
    assert delivery_state(hub, message_id) is DeliveryState.DEAD


def test_an_auditor_is_refused_every_change_in_the_console(hub: Any, land_sim: Any) -> None:
    message_id, _ = make_dead_letter(hub, land_sim)
    with signed_in(hub.url, "aldo") as client:
        token = csrf_of(client.get("/console/dead-letters").text)
        replay = client.post("/console/dead-letters/replay", data={"csrf": token, "message_id": message_id})
        reroute = client.post("/console/unroutable/reroute", data={"csrf": token, "message_id": message_id})
    for response in (replay, reroute):
        assert response.status_code == 403
        assert "Kiểm toán viên chỉ được xem, không được thay đổi." in response.text
    assert delivery_state(hub, message_id) is DeliveryState.DEAD
    assert recorded_actions(hub) == [
        ("aldo", "auditor", "login", "aldo"),
        ("aldo", "auditor", "replay-refused", message_id),
        ("aldo", "auditor", "reroute-refused", message_id),
    ]


def test_an_auditor_is_refused_every_change_through_the_rest_api(hub: Any) -> None:
    before = hub.count_messages()
    with httpx.Client(base_url=hub.url, headers={"X-API-Key": AUDITOR_KEY}) as auditor:
        assert auditor.get("/api/v1/messages").status_code == 200  # reads everything
        submit = auditor.post("/api/v1/messages", json=dossier_message())
    assert submit.status_code == 403
    assert submit.headers["content-type"] == "application/problem+json"
    assert hub.count_messages() == before


def test_an_operator_replays_a_dead_letter(hub: Any, land_sim: Any) -> None:
    message_id, _ = make_dead_letter(hub, land_sim)
    with signed_in(hub.url, "olga") as client:
        token = csrf_of(client.get("/console/dead-letters").text)
        response = client.post("/console/dead-letters/replay", data={"csrf": token, "message_id": message_id})
        assert response.status_code == 303
        assert response.headers["location"] == "/console/dead-letters?replayed=1"
    hub.wait(message_id)
    assert delivery_state(hub, message_id) is DeliveryState.DELIVERED
    with signed_in(hub.url, "olga") as client:
        board = client.get("/console/").text
    for tile, shown in (("received-hour", 1), ("delivered-hour", 1), ("failed-hour", 1), ("dead-count", 0)):
        assert f'<dd id="{tile}">{shown}</dd>' in board, tile
    assert recorded_actions(hub)[:2] == [
        ("olga", "operator", "login", "olga"),
        ("olga", "operator", "replay", message_id),
    ]


def test_logout_ends_the_session_even_for_a_kept_cookie(hub: Any) -> None:
    with signed_in(hub.url, "olga") as client:
        page = client.get("/console/")
        assert page.status_code == 200
        cookie = client.cookies["lt_console_session"]
        response = client.post("/console/logout", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303
        assert response.headers["location"] == "/console/login"
    with httpx.Client(base_url=hub.url, cookies={"lt_console_session": cookie}) as replayed:
        assert replayed.get("/console/").status_code == 303


def test_an_expired_session_is_refused(hub: Any) -> None:
    with signed_in(hub.url, "olga") as client:
        assert client.get("/console/").status_code == 200
        with hub.hub.store.engine.begin() as conn:
            conn.execute(update(console_sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert client.get("/console/").status_code == 303


def test_a_message_page_shows_the_payload_escaped(hub: Any) -> None:
    accepted = hub.submit(dossier_message()).json()
    message_id = accepted["message_id"]
    with signed_in(hub.url, "aldo") as client:
        page = client.get(f"/console/messages/{message_id}")
        unknown = client.get(f"/console/messages/{uuid.uuid4()}")
    assert page.status_code == 200
    assert "&lt;" in page.text.split('<pre id="payload">', 1)[1]
    assert "<HoSo" not in page.text
    assert unknown.status_code == 404


def test_hub_users_add_stores_an_argon2_hash_and_never_reads_a_password_from_arguments(
    hub: Any, hub_cli: Callable[..., Any], tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("a-long-enough-password\n", encoding="utf-8")
    config = hub.project.config_dir
    added = hub_cli("users", "add", "nga", "--role", "operator", "--password-file", secret, "-c", config)
    assert added.returncode == 0, added.stderr
    assert "added nga (operator)" in added.stdout
    again = hub_cli("users", "add", "nga", "--role", "auditor", "--password-file", secret, "-c", config)
    assert again.returncode == 1
    assert "user nga exists already" in again.stderr
    secret.write_text("short\n", encoding="utf-8")
    short = hub_cli("users", "add", "minh", "--role", "auditor", "--password-file", secret, "-c", config)
    assert short.returncode == 1
    assert "password too short" in short.stderr
    with hub.hub.store.engine.connect() as conn:
        row = conn.execute(select(console_users).where(console_users.c.name == "nga")).one()
    assert row.role == "operator"
    assert row.password_hash.startswith("$argon2id$")
    assert "a-long-enough-password" not in row.password_hash
    with signed_in(hub.url, "nga", "a-long-enough-password") as client:
        assert client.get("/console/").status_code == 200
    listed = hub_cli("users", "list", "-c", config)
    assert "nga" in listed.stdout and "olga" in listed.stdout
    disabled = hub_cli("users", "disable", "nga", "-c", config)
    assert disabled.returncode == 0, disabled.stderr
    with httpx.Client(base_url=hub.url) as client:
        token = csrf_of(client.get("/console/login").text)
        refused = client.post(
            "/console/login", data={"csrf": token, "user": "nga", "password": "a-long-enough-password"}
        )
    assert refused.status_code == 401


def test_anyone_signed_in_may_verify_the_audit_log_and_sees_the_first_altered_entry(hub: Any) -> None:
    accepted = hub.submit(dossier_message())
    assert accepted.status_code == 202
    log = AuditLog(hub.hub.store.engine)
    log.seal()
    assert log.size() > 0
    with signed_in(hub.url, "aldo") as client:
        # The background sealer may seal the login's own entry while the page is made: the size
        # shown is the log's at some moment of the request.
        before = log.size()
        page = client.get("/console/audit")
        shown = range(before, log.size() + 1)
        assert any(f'<dd id="audit-size">{size}</dd>' in page.text for size in shown)
        verified = client.post("/console/audit/verify", data={"csrf": csrf_of(page.text)})
        assert verified.status_code == 303
        intact = client.get("/console/audit")
        assert "Nhật ký toàn vẹn" in intact.text
        as_attacker(  # one byte of the first entry altered
            hub.hub.store.engine,
            "UPDATE audit_entries SET entry = "
            "CAST(replace(CAST(entry AS TEXT), '\"kind\"', '\"kinD\"') AS BLOB) WHERE leaf_index = 0",
        )
        client.post("/console/audit/verify", data={"csrf": csrf_of(intact.text)})
        broken = client.get("/console/audit")
    verdict = broken.text.split('id="audit-verdict"', 1)[1].split("</dd>", 1)[0]
    assert "Nhật ký đã bị thay đổi" in verdict
    assert "entry 0" in verdict
    assert [a[2] for a in recorded_actions(hub)] == ["login", "audit-verify", "audit-verify"]


def test_an_operator_reroutes_an_unroutable_message_once_the_routes_are_fixed(
    hub: Any, hub_factory: Callable[..., Any], land_sim: Any
) -> None:
    message = dossier_message() | {"procedure_code": "2.000488"}  # no rule takes this procedure
    accepted = hub.submit(message).json()
    assert accepted["route"]["status"] == "unroutable"
    message_id = accepted["message_id"]
    routes = hub.project.read("routes.yaml")["routes"]
    rule = {"name": "land-2.000488", "match": {"kind": "dossier", "procedure_code": "2.000488"}}
    hub.project.set_routes([*routes, rule | {"targets": ["land"]}])
    fixed = hub_factory(hub.project)  # the hub restarted with the new routes.yaml, same database
    with signed_in(fixed.url, "olga") as client:
        page = client.get("/console/unroutable")
        assert f'data-message="{message_id}"' in page.text
        response = client.post(
            "/console/unroutable/reroute", data={"csrf": csrf_of(page.text), "message_id": message_id}
        )
        assert response.status_code == 303
        assert client.get(response.headers["location"]).text.count("Đã định tuyến lại: 1") == 1
    fixed.wait(message_id)
    assert message_id in {r["message_id"] for r in land_sim.received()}
    assert recorded_actions(hub)[-1] == ("olga", "operator", "reroute", message_id)
