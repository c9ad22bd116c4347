"""Signing in and out, the home page's figures, and the shell every page shares."""

from __future__ import annotations

import json
import re
import time
import uuid

import requests
from playwright.sync_api import Page, Route, expect

from tests.browser.support import allow_console_errors, page_check, screenshot, sign_in
from tests.e2e.conftest import create_customer
from tests.support.stack import Stack

SESSION_KEY = "clientele.console.session"


def _session(page: Page) -> dict[str, object]:
    stored = page.evaluate(f"() => localStorage.getItem('{SESSION_KEY}')")
    assert stored, "no session is stored"
    return dict(json.loads(stored))


def test_a_page_sends_a_visitor_without_a_session_to_sign_in_and_back(new_page, console_url, stack):
    page = new_page()
    page.goto(f"{console_url}/customers?status=active")

    page.wait_for_url(re.compile(r"/login\?next="))
    page_check(page, "login")
    username, password = stack.users["agent"]
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(lambda url: url == f"{console_url}/customers?status=active")
    expect(page.locator("#user-name")).to_have_text(username)
    expect(page.locator("#user-role")).to_have_text("agent")


def test_a_wrong_password_is_said_plainly(new_page, console_url, stack):
    page = new_page()
    allow_console_errors(page, r"status of 401 .*/api/v1/auth/token")
    page.goto(f"{console_url}/login")
    page.get_by_label("Username").fill(stack.users["admin"][0])
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_have_text("Wrong username or password")
    assert "/login" in page.url
    screenshot(page, "login-failed")


def test_home_shows_the_figures_each_linking_to_its_page(admin_page: Page, console_url, stack):
    for status in ("lead", "active", "churned"):
        create_customer(stack, name=f"Glance {status}", status=status)
    live = admin_page.locator("#card-customers [data-figure]")
    for _ in range(30):  # the analytics service counts them once their events arrive
        admin_page.goto(f"{console_url}/")
        expect(live).to_be_visible()
        if int(live.inner_text().replace(",", "")) >= 3:
            break
        time.sleep(0.5)
    cards = admin_page.locator("#cards")
    expect(cards.locator("#card-customers")).to_be_visible()
    for card, href in [
        ("#card-customers", "/customers"),
        ("#card-signups", "/analytics"),
        ("#card-churn", "/customers?status=churned"),
    ]:
        expect(cards.locator(card)).to_have_attribute("href", href)
    for status in ("lead", "active", "churned"):
        expect(cards.locator(f"#card-customers dd[data-key='{status}']")).to_have_text(
            re.compile(r"^[1-9]")
        )
    expect(admin_page.get_by_role("link", name="Admin", exact=True)).to_be_visible()
    page_check(admin_page, "home")


def test_moving_between_pages_keeps_the_user_signed_in(admin_page: Page, console_url):
    before = _session(admin_page)
    admin_page.get_by_role("link", name="Customers", exact=True).click()
    admin_page.wait_for_url(f"{console_url}/customers")
    admin_page.get_by_role("link", name="Home").click()
    admin_page.wait_for_url(f"{console_url}/")

    expect(admin_page.locator("#card-customers")).to_be_visible()
    # The access token is still good: no refresh was spent moving around.
    assert _session(admin_page)["refresh"] == before["refresh"]


def test_a_refused_access_token_is_refreshed_silently_once(admin_page: Page, console_url):
    # The home page done drawing first: a refresh of its own, cut short by leaving it after
    # the gateway had rotated the token, would leave this page a spent one (reuse: signed out).
    admin_page.wait_for_load_state("networkidle")
    before = _session(admin_page)
    # As if the access token had expired early (a signing key retired, say): the API says 401.
    admin_page.evaluate(
        """(key) => {
            const session = JSON.parse(localStorage.getItem(key));
            localStorage.setItem(key, JSON.stringify({ ...session, access: "not.a.token" }));
        }""",
        SESSION_KEY,
    )
    allow_console_errors(admin_page, r"status of 401 ")
    admin_page.goto(f"{console_url}/customers")

    expect(admin_page.locator("#customer-list table")).to_be_visible()
    expect(admin_page.locator("#user-name")).to_be_visible()
    after = _session(admin_page)
    assert after["refresh"] != before["refresh"]  # rotated: the old one is spent
    assert after["access"] != "not.a.token"


def test_signing_out_revokes_the_refresh_token(admin_page: Page, console_url, stack: Stack):
    refresh_token = _session(admin_page)["refresh"]

    admin_page.get_by_role("button", name="Sign out").click()
    admin_page.wait_for_url(re.compile(r"/login"))

    assert admin_page.evaluate(f"() => localStorage.getItem('{SESSION_KEY}')") is None
    answer = requests.post(
        f"{stack.api}/auth/refresh", json={"refresh_token": refresh_token}, timeout=10
    )
    assert answer.status_code == 401
    admin_page.goto(f"{console_url}/admin")
    admin_page.wait_for_url(re.compile(r"/login\?next=%2Fadmin"))


def test_signing_out_while_a_page_is_still_drawing_sends_nothing_without_a_token(
    admin_page: Page, console_url
):
    held: dict[str, Route] = {}
    admin_page.route("**/api/v1/analytics/summary", lambda route: held.setdefault("summary", route))
    admin_page.route("**/api/v1/auth/logout", lambda route: held.setdefault("logout", route))
    sent: list[tuple[str, bool]] = []
    admin_page.on(
        "request",
        lambda request: sent.append((request.url, "authorization" in request.headers)),
    )
    admin_page.goto(f"{console_url}/")
    _wait_for(admin_page, held, "summary")

    admin_page.get_by_role("button", name="Sign out").click()
    _wait_for(admin_page, held, "logout")  # the session is forgotten; the gateway not yet told
    held["summary"].continue_()  # the home page goes on drawing: next it would ask for NLP jobs
    admin_page.wait_for_timeout(500)
    held["logout"].continue_()
    admin_page.wait_for_url(f"{console_url}/login")

    tokenless = [
        url
        for url, authorized in sent
        if "/api/v1/" in url and "/api/v1/auth/" not in url
        if not authorized
    ]
    assert tokenless == []
    assert any("/api/v1/analytics/summary" in url for url, _ in sent)


def _wait_for(page: Page, held: dict[str, Route], name: str) -> None:
    for _ in range(200):
        if name in held:
            return
        page.wait_for_timeout(25)
    raise AssertionError(f"no {name} request was made")


def test_a_viewer_is_not_offered_what_the_role_may_not_use(viewer_page: Page):
    expect(viewer_page.locator("#user-role")).to_have_text("viewer")
    expect(viewer_page.get_by_role("link", name="Customers", exact=True)).to_be_visible()
    expect(viewer_page.get_by_role("link", name="Admin", exact=True)).to_be_hidden()
    expect(viewer_page.get_by_role("link", name="Import", exact=True)).to_be_hidden()


def test_the_account_page_says_what_the_role_allows_and_changes_the_password(
    new_page, console_url, stack: Stack
):
    username = f"console-{uuid.uuid4().hex[:8]}"
    password = f"first {uuid.uuid4().hex} password"
    created = requests.post(
        f"{stack.api}/auth/users",
        json={"username": username, "password": password, "role": "agent"},
        headers=stack.headers("admin"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    page = new_page()
    allow_console_errors(page, r"status of 422 .*/api/v1/auth/password")
    sign_in(page, console_url, username, password, next_path="/account")

    expect(page.locator("#profile-username")).to_have_text(username)
    expect(page.locator("#profile-role")).to_have_text("agent")
    expect(page.locator("#allowed")).to_contain_text("customers:write")
    page_check(page, "account")

    page.get_by_label("Current password").fill("not my password at all")
    page.get_by_label("New password", exact=True).fill(f"second {uuid.uuid4().hex} password")
    page.get_by_label("New password, again").fill(
        page.get_by_label("New password", exact=True).input_value()
    )
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current-password-error")).to_be_visible()
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")

    new_password = f"second {uuid.uuid4().hex} password"
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password, again").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-message")).to_contain_text("Password changed")
    assert stack.login(username, new_password)["access_token"]


def test_an_admin_manages_users_and_api_keys(admin_page: Page, console_url, stack: Stack):
    admin_page.get_by_role("link", name="Admin", exact=True).click()
    admin_page.wait_for_url(f"{console_url}/admin")
    username = f"console-{uuid.uuid4().hex[:8]}"

    admin_page.get_by_label("Username").fill(username)
    admin_page.get_by_label("Password").fill(f"a {uuid.uuid4().hex} password")
    admin_page.get_by_label("Role", exact=True).select_option("viewer")
    admin_page.get_by_role("button", name="Create user").click()
    row = admin_page.locator("#users tr", has_text=username)
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Disable {username}").click()
    expect(admin_page.locator("#users tr", has_text=username)).to_contain_text("disabled")

    key_name = f"key {uuid.uuid4().hex[:8]}"
    admin_page.get_by_label("Name", exact=True).fill(key_name)
    admin_page.get_by_label("customers:read").check()
    admin_page.get_by_role("button", name="Create key").click()
    shown = admin_page.locator("#new-key-value")
    expect(shown).to_have_text(re.compile(r"^clt_[0-9a-f]{12}_"))
    key = shown.inner_text()
    assert (
        requests.get(f"{stack.api}/customers", headers={"X-API-Key": key}, timeout=10).status_code
        == 200
    )
    page_check(admin_page, "admin")

    admin_page.once("dialog", lambda dialog: dialog.accept())
    admin_page.locator("#keys tr", has_text=key_name).get_by_role(
        "button", name=f"Revoke {key_name}"
    ).click()
    expect(admin_page.locator("#keys tr", has_text=key_name)).to_contain_text("revoked")
    assert (
        requests.get(f"{stack.api}/customers", headers={"X-API-Key": key}, timeout=10).status_code
        == 401
    )
