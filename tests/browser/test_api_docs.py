"""The public API's contract and Swagger UI through the real gateway, in a real browser.

Chromium (Debian's, never downloaded) loads ``/docs`` under the page's own
Content-Security-Policy: Swagger UI must render every service's operations
from ``/api/v1/openapi.json`` without one policy violation or console error,
and "Authorize" with a bearer token must make "Try it out" work.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from gateway.apidocs.contract import public_api_document
from tests.browser import support
from tests.e2e.conftest import Stack


def test_the_public_contract_is_served_with_an_etag(stack: Stack) -> None:
    url = f"{stack.api}/openapi.json"
    first = requests.get(url, timeout=10)

    again = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=10)

    assert first.status_code == 200
    assert first.json() == public_api_document()
    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]


def test_the_docs_page_carries_its_own_policy(stack: Stack) -> None:
    page = requests.get(f"{stack.gateway.url}/docs", timeout=10)
    api = requests.get(f"{stack.api}/customers", headers=stack.headers("viewer"), timeout=10)

    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # Every other answer keeps the API's own, stricter policy.
    assert api.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
def docs_page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """``/docs`` in a fresh context, watched for console errors and CSP violations."""
    context = browser.new_context(viewport=support.DESKTOP)
    context.set_default_timeout(support.WAIT_MS)
    page = context.new_page()
    support.watch_console(page)
    page.goto(f"{stack.gateway.url}/docs")
    yield page
    support.forget_page(page)
    context.close()


def test_swagger_ui_renders_every_service_under_a_strict_policy(docs_page: Page) -> None:
    page = docs_page

    expect(page.locator(".information-container .title")).to_contain_text("Clientele public API")
    for path in ("/api/v1/customers", "/api/v1/search", "/api/v1/analytics/summary"):
        expect(page.locator(f'.opblock-summary-path[data-path="{path}"]').first).to_be_visible()
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/nlp/sentiment"]')).to_be_visible()
    expect(page.locator(".opblock-summary-path[data-path='/healthz']")).to_have_count(0)
    support.expect_no_console_errors(page)


def test_authorize_with_a_bearer_token_makes_try_it_out_work(docs_page: Page, stack: Stack) -> None:
    page = docs_page
    username = stack.users["viewer"][0]

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux")
    bearer = dialog.locator(".auth-container").filter(has=page.locator("#auth-bearer-value"))
    bearer.locator("#auth-bearer-value").fill(stack.tokens["viewer"])
    bearer.get_by_role("button", name="Apply credentials").click()
    # Applied: the field gives way to the scheme's "Remove authorization".
    expect(dialog.get_by_role("button", name="Remove authorization")).to_have_count(1)
    dialog.locator(".close-modal").click()
    operation = page.locator("#operations-account-getMe")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()

    response = operation.locator(".live-responses-table .response").first
    expect(response.locator(".response-col_status")).to_contain_text("200")
    expect(response.locator(".response-col_description")).to_contain_text(username)
    support.expect_no_console_errors(page)
