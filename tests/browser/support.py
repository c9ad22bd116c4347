"""Helpers for the console's browser tests: axe, screenshots, console errors, signing in.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright for Python;
no browser is ever downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright, expect

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "gateway" / "console" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "console"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: axe impact levels that fail a page.
FAILING_IMPACTS = ("serious", "critical")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: How long a page may take to show what a test waits for (events travel through the broker).
WAIT_MS = 20_000

#: page -> what went wrong in it (console errors, uncaught exceptions, CSP violations).
_problems: dict[int, list[str]] = {}
#: page -> patterns of console errors the test expects (a 403 it provoked, say).
_allowed: dict[int, list[re.Pattern[str]]] = {}


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless, with nothing reaching out to the network."""
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed (make setup-dev installs it with apt)"
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def watch_console(page: Page) -> None:
    """Collect the page's console errors, uncaught exceptions and CSP violations from now on."""
    problems = _problems.setdefault(id(page), [])

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "")
            problems.append(f"console error: {message.text} ({location})")

    def on_page_error(error: Error) -> None:
        problems.append(f"uncaught: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    # Chromium logs a CSP violation as a console error too; the event says which directive.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (event) =>"
        " console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`));"
    )


def allow_console_errors(page: Page, *patterns: str) -> None:
    """Console errors matching one of ``patterns`` (regular expressions) are expected here."""
    _allowed.setdefault(id(page), []).extend(re.compile(pattern) for pattern in patterns)


def console_problems(page: Page) -> list[str]:
    """What went wrong in ``page`` so far, less what the test said it expects."""
    allowed = _allowed.get(id(page), [])
    return [
        problem
        for problem in _problems.get(id(page), [])
        if not any(pattern.search(problem) for pattern in allowed)
    ]


def expect_no_console_errors(page: Page) -> None:
    """Fail listing every console error, uncaught exception or CSP violation seen in ``page``."""
    problems = console_problems(page)
    assert not problems, "the page logged errors:\n" + "\n".join(problems)


def forget_page(page: Page) -> None:
    """Drop what was collected for ``page`` (it is closed)."""
    _problems.pop(id(page), None)
    _allowed.pop(id(page), None)


def check_accessibility(page: Page, *, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is; fail on any serious or critical violation.

    axe is evaluated through the DevTools protocol, which the page's CSP does
    not govern: no script tag is added and the page's own policy stays whole.
    Returns the minor and moderate violations (for a test that wants them).
    """
    session = page.context.new_cdp_session(page)
    try:
        loaded = session.send(
            "Runtime.evaluate",
            {"expression": AXE.read_text() + "\n;typeof axe", "returnByValue": True},
        )
        assert loaded["result"].get("value") == "object", loaded
        options = {"resultTypes": ["violations"]}
        context = (
            json.dumps({"include": [["html"]], "exclude": [[selector] for selector in exclude]})
            if exclude
            else "document"
        )
        answer = session.send(
            "Runtime.evaluate",
            {
                "expression": (
                    f"axe.run({context}, {json.dumps(options)})"
                    ".then(r => JSON.stringify(r.violations))"
                ),
                "awaitPromise": True,
                "returnByValue": True,
            },
        )
    finally:
        session.detach()
    assert "exceptionDetails" not in answer, (
        f"axe failed on {page.url}: {answer['exceptionDetails']}"
    )
    violations: list[dict[str, Any]] = json.loads(answer["result"]["value"])
    failing = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
    assert not failing, f"accessibility violations on {page.url}:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} -> "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in v["nodes"][:5])
        for v in failing
    )
    return [v for v in violations if v.get("impact") not in FAILING_IMPACTS]


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``var/screenshots/<name>.png`` (and ``docs/console/<name>.png`` with REFRESH_DOCS=1).

    The whole page, or only what the viewport shows with ``full_page=False``.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    if os.environ.get("REFRESH_DOCS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / f"{name}.png")
    return path


def sign_in(
    page: Page, console_url: str, username: str, password: str, *, next_path: str = "/"
) -> None:
    """Sign in through the login form and wait for the page it leads to."""
    page.goto(f"{console_url}/login?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(console_url + next_path) + r"(\?.*)?$"), timeout=WAIT_MS)
    expect(page.locator("#user-name")).to_have_text(username, timeout=WAIT_MS)


def page_check(page: Page, name: str, *, full_page: bool = True) -> None:
    """The checks every page gets: axe, no console error, a screenshot."""
    check_accessibility(page)
    expect_no_console_errors(page)
    screenshot(page, name, full_page=full_page)
