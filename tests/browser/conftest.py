"""The console in a real browser against the platform the e2e tests share.

``browser`` is one headless chromium per run; each test gets its own context
(storage, tokens) and pages. ``admin_page``, ``agent_page`` and ``viewer_page``
are fresh pages already signed in through the login form as a user holding
that role (the platform's manifest has their usernames and passwords). Every
page a fixture makes is watched for console errors, uncaught exceptions and CSP
violations, and a test fails on any it did not declare expected
(``support.allow_console_errors``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser import support
from tests.support import platform
from tests.support.stack import Stack

BROWSER_TESTS = Path(__file__).resolve().parent
#: A browser test's own time limit: the first one also waits for the shared platform to start.
TIMEOUT_SECONDS = 300


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test runs against the whole platform: ``e2e``, with a longer time limit."""
    for item in items:
        if BROWSER_TESTS in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(TIMEOUT_SECONDS))


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The platform every end-to-end test shares (``tests.support.platform``)."""
    return platform.shared_stack()


@pytest.fixture(scope="session")
def console_url(stack: Stack) -> str:
    """Where the console is served: the gateway's root."""
    return stack.gateway.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, for the whole run."""
    with sync_playwright() as playwright:
        browser = support.launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Factory: a fresh browser context (own storage: own sign-in), closed after the test.

    Options are Playwright's ``new_context`` ones (``viewport=support.PHONE``...).
    """
    contexts: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        options.setdefault("viewport", support.DESKTOP)
        context = browser.new_context(**options)  # type: ignore[arg-type]
        context.set_default_timeout(support.WAIT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def new_page(new_context: Callable[..., BrowserContext]) -> Iterator[Callable[..., Page]]:
    """Factory: a watched page in a fresh context (or in ``context`` when given: a second tab).

    After the test, each page must have logged no error it did not declare expected.
    """
    pages: list[Page] = []

    def make(context: BrowserContext | None = None, **options: object) -> Page:
        page = (context or new_context(**options)).new_page()
        support.watch_console(page)
        pages.append(page)
        return page

    yield make
    problems = {page.url: support.console_problems(page) for page in pages}
    for page in pages:
        support.forget_page(page)
    failing = {url: found for url, found in problems.items() if found}
    assert not failing, f"pages logged errors: {failing}"


@pytest.fixture
def signed_in_page(
    new_page: Callable[..., Page], console_url: str, stack: Stack
) -> Callable[..., Page]:
    """Factory: a fresh page signed in as a user holding ``role`` (new context unless given)."""

    def make(role: str, context: BrowserContext | None = None, **options: object) -> Page:
        page = new_page(context, **options)
        username, password = stack.users[role]
        support.sign_in(page, console_url, username, password)
        return page

    return make


@pytest.fixture
def admin_page(signed_in_page: Callable[..., Page]) -> Page:
    """A fresh page signed in as an admin."""
    return signed_in_page("admin")


@pytest.fixture
def agent_page(signed_in_page: Callable[..., Page]) -> Page:
    """A fresh page signed in as an agent."""
    return signed_in_page("agent")


@pytest.fixture
def viewer_page(signed_in_page: Callable[..., Page]) -> Page:
    """A fresh page signed in as a viewer."""
    return signed_in_page("viewer")
