"""The web console in real headless Chromium (Debian's ``chromium``, driven by Playwright).

CI cannot download Playwright's own browser builds, so the tests launch the system's Chromium
(``/usr/bin/chromium``, which .ci/run installs, or ``HUB_TEST_CHROMIUM``) through ``executable_path``.
The hub runs over real HTTP on loopback with the land registry simulator; the tests check what a
person sees in the browser and what the store holds afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from console_support import PASSWORDS, add_users, delivery_state, make_dead_letter
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lienthong.store import DeliveryState

CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"Chromium is not installed at {CHROMIUM} (Debian/Ubuntu: apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":  # CI installs it: a skip would hide a gap
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def hub(hub_factory: Callable[..., Any]) -> Any:
    running = hub_factory()
    add_users(running)
    return running


@pytest.fixture
def page(browser: Browser, hub: Any) -> Iterator[Page]:
    context = browser.new_context(base_url=hub.url)
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, name: str) -> None:
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label("Tên đăng nhập").fill(name)
    page.get_by_label("Mật khẩu").fill(PASSWORDS[name])
    page.locator("form.login button[type=submit]").click()
    expect(page.locator("#whoami")).to_contain_text(name)


def test_an_operator_finds_a_dossier_reads_it_and_replays_its_dead_letter(
    page: Page, hub: Any, land_sim: Any
) -> None:
    message_id, dossier_code = make_dead_letter(hub, land_sim)
    sign_in(page, "olga")
    expect(page.locator("h1")).to_have_text("Tổng quan")
    expect(page.locator("#dead-count")).to_have_text("1")
    expect(page.locator('#adapters tr[data-adapter="land"]')).to_contain_text("closed")

    page.get_by_role("navigation").get_by_role("link", name="Thông điệp").click()
    page.get_by_label("Mã hồ sơ").fill(dossier_code)
    page.get_by_role("button", name="Tìm kiếm").click()
    row = page.locator(f'tr[data-message="{message_id}"]')
    expect(row).to_contain_text("land: dead")
    expect(page.locator("table.messages tbody tr")).to_have_count(1)

    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/console/messages/{message_id}$"))
    expect(page.locator("#dossier")).to_have_text(dossier_code)
    expect(page.locator("#route")).to_contain_text("routed")
    expect(page.locator("#route")).to_contain_text("land")
    expect(page.locator("#signature")).to_contain_text("unsigned")
    expect(page.locator("#timeline")).to_contain_text("dead")
    expect(page.locator("#trail tr.current")).to_contain_text("land: dead")
    payload = page.locator("#payload").inner_text()
    assert payload.startswith('<HoSo xmlns="urn:lienthong:province:hoso:1">'), payload[:80]
    assert f"<MaHoSo>{dossier_code}</MaHoSo>" in payload

    page.get_by_role("navigation").get_by_role("link", name="Thư chết").click()
    page.locator(f'tr[data-message="{message_id}"] button[name=replay]').click()
    expect(page.locator("#done")).to_have_text("Đã xếp hàng gửi lại: 1")
    hub.wait(message_id)
    assert delivery_state(hub, message_id) is DeliveryState.DELIVERED
    expect(page.locator(f'tr[data-message="{message_id}"]')).to_have_count(0)


def test_an_auditor_is_refused_when_trying_to_replay(page: Page, hub: Any, land_sim: Any) -> None:
    message_id, _ = make_dead_letter(hub, land_sim)
    sign_in(page, "aldo")
    page.get_by_role("navigation").get_by_role("link", name="Thư chết").click()
    with page.expect_response(re.compile(r"/console/dead-letters/replay$")) as answer:
        page.locator(f'tr[data-message="{message_id}"] button[name=replay]').click()
    assert answer.value.status == 403
    expect(page.locator("#refusal")).to_have_text("Kiểm toán viên chỉ được xem, không được thay đổi.")
    assert delivery_state(hub, message_id) is DeliveryState.DEAD


def test_the_console_speaks_english_on_request_and_signs_out(page: Page, hub: Any) -> None:
    sign_in(page, "adam")
    page.get_by_role("link", name="EN").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto("/console/dead-letters")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
