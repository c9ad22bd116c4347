"""The console under hostile data and hostile links: text stays text, the CSP holds."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import Dialog, Page, expect

from gateway.console import CONSOLE_CSP, PAGES
from tests.browser.support import check_accessibility, expect_no_console_errors
from tests.e2e.conftest import create_customer
from tests.support.stack import Stack

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
HANDLER_ATTRIBUTE = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_NAME = "<script>alert(1)</script>"
IMAGE_NOTE = '<img src=x onerror="alert(2)"> and <b>bold</b>'


def _no_dialogs(page: Page) -> list[str]:
    opened: list[str] = []

    def record(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


def test_markup_in_customer_data_renders_as_text(admin_page: Page, console_url, stack: Stack):
    customer = create_customer(
        stack, name=SCRIPT_NAME, company="<i>Evil</i> & Co", tags=["<b>tag</b>"]
    )
    note = requests.post(
        f"{stack.api}/customers/{customer['id']}/notes",
        json={"body": IMAGE_NOTE},
        headers=stack.headers(),
        timeout=10,
    )
    assert note.status_code == 201, note.text
    dialogs = _no_dialogs(admin_page)

    admin_page.goto(f"{console_url}/customers?tag=<b>tag</b>")
    row = admin_page.locator("#customer-list tbody tr", has_text=customer["email"])
    expect(row.get_by_role("link", name=SCRIPT_NAME)).to_be_visible()
    expect(row).to_contain_text("<i>Evil</i> & Co")
    assert (
        admin_page.locator("#customer-list script, #customer-list i, #customer-list b").count() == 0
    )

    admin_page.goto(f"{console_url}/customers/{customer['id']}")
    expect(admin_page.locator("#customer-name")).to_have_text(SCRIPT_NAME)
    expect(admin_page.locator("#timeline")).to_contain_text(IMAGE_NOTE)
    assert admin_page.locator("main img, main script, #timeline b").count() == 0
    assert admin_page.title() == f"{SCRIPT_NAME} · Clientele"
    assert dialogs == []
    expect_no_console_errors(admin_page)
    check_accessibility(admin_page)


def test_every_page_carries_the_strict_policy(console_url):
    for rule in PAGES.values():
        path = rule.replace("<customer_id>", "00000000-0000-0000-0000-000000000000")
        answer = requests.get(f"{console_url}{path}", timeout=10)

        assert answer.status_code == 200, path
        assert answer.headers["Content-Type"].startswith("text/html")
        assert answer.headers["Content-Security-Policy"] == CONSOLE_CSP
        assert "unsafe" not in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Frame-Options"] == "DENY"
        # Every script is a file of this origin: nothing inline, no handler attribute.
        assert not INLINE_SCRIPT.search(answer.text), path
        assert not HANDLER_ATTRIBUTE.search(answer.text), path


def test_only_allow_listed_vendor_files_are_served(console_url):
    served = requests.get(f"{console_url}/console/vendor/chart.umd.js", timeout=10)
    assert served.status_code == 200
    assert "javascript" in served.headers["Content-Type"]
    for path in (
        "/console/vendor/axe.min.js",
        "/console/vendor/..%2Fpackage.json",
        "/console/vendor/chart.js%2Fpackage.json",
        "/console/static/..%2Fpages.py",
    ):
        assert requests.get(f"{console_url}{path}", timeout=10).status_code in {401, 404}, path


def test_a_sign_in_link_cannot_send_the_user_off_site(new_page, console_url, stack: Stack):
    page = new_page()
    username, password = stack.users["viewer"]
    page.goto(f"{console_url}/login?next=//example.org/phish")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{console_url}/")
    expect(page.locator("#user-name")).to_have_text(username)
