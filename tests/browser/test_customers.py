"""Customers in the console: the list, creating, search, notes, conflicts, import and export."""

from __future__ import annotations

import csv
import io
import random
import re
import string
import time
import uuid
from typing import Any

import requests
from playwright.sync_api import FilePayload, Page, expect

from tests.browser.support import (
    PHONE,
    WAIT_MS,
    allow_console_errors,
    check_accessibility,
    page_check,
    sign_in,
)
from tests.e2e.conftest import create_customer
from tests.support.stack import Stack


def _word(length: int = 7) -> str:
    """A made-up word, so that a fuzzy search finds this test's customer and no other."""
    return "".join(random.choices(string.ascii_lowercase, k=length)).capitalize()


def _status_count(page: Page, console_url: str, status: str) -> int:
    page.goto(f"{console_url}/")
    cell = page.locator(f"#card-customers dd[data-key='{status}']")
    expect(cell).to_be_visible()
    return int(cell.inner_text().replace(",", "").replace("\u202f", ""))


def test_a_new_customer_is_listed_found_despite_a_typo_noted_and_counted(
    admin_page: Page, console_url
):
    churned_before = _status_count(admin_page, console_url, "churned")
    first, last = f"Ottoline{_word(3).lower()}", f"Brackenbury{_word(4).lower()}"
    name = f"{first} {last}"
    email = f"{first.lower()}-{uuid.uuid4().hex[:8]}@example.com"

    admin_page.get_by_role("link", name="Customers", exact=True).click()
    admin_page.get_by_role("button", name="New customer").click()
    form = admin_page.locator("#create-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Email").fill(email)
    form.get_by_label("Country").fill("fr")
    form.get_by_label("Status").select_option("churned")
    form.get_by_label("Tags").fill("console, vip")
    form.get_by_role("button", name="Create customer").click()

    expect(admin_page.locator("#create-message")).to_contain_text(f"Created {name}")
    row = admin_page.locator("#customer-list tbody tr", has_text=email)
    expect(row).to_contain_text(name)
    expect(row).to_contain_text("FR")
    page_check(admin_page, "customers")

    # A typo in each word: the search page still finds the customer (search follows events).
    misspelled = f"{first[:-1]} {last[:3]}{last[4:]}"
    link = admin_page.locator("#search-results a", has_text=name)

    def found() -> bool:
        admin_page.goto(f"{console_url}/search?q={misspelled}")
        try:
            expect(link.first).to_be_visible(timeout=2_000)
        except AssertionError:
            return False
        return True

    assert _eventually(found), f"search for {misspelled!r} never showed {name!r}"

    link.first.click()
    admin_page.wait_for_url(re.compile(r"/customers/[0-9a-f-]{36}$"))
    expect(admin_page.locator("#customer-name")).to_have_text(name)
    admin_page.get_by_label("New note").fill(
        "Wonderful call: they love the product and are very happy with us."
    )
    admin_page.get_by_role("button", name="Add note").click()
    note = admin_page.locator("#timeline li").first
    expect(note).to_contain_text("Wonderful call")
    expect(note.locator("[data-sentiment]")).not_to_have_attribute(
        "data-sentiment", "pending", timeout=60_000
    )
    expect(note.locator("[data-sentiment]")).to_contain_text(
        re.compile(r"(positive|negative|neutral) \(\d+ %\)")
    )
    page_check(admin_page, "customer")

    assert _eventually(lambda: _status_count(admin_page, console_url, "churned") > churned_before)


def _eventually(check: Any, attempts: int = 15) -> bool:
    """``check()`` until it is true, at most ``attempts`` times (each waits on the page)."""
    for _ in range(attempts):
        if check():
            return True
        time.sleep(1)
    return False


def test_the_list_filters_sorts_and_pages_with_next_and_previous(
    admin_page: Page, console_url, stack: Stack
):
    tag = f"page-{uuid.uuid4().hex[:8]}"
    names = [f"Pager {index:02d} {_word()}" for index in range(27)]
    for name in names:
        create_customer(stack, name=name, tags=[tag], segment="smb")
    admin_page.goto(f"{console_url}/customers")
    filters = admin_page.locator("#filters")
    filters.get_by_label("Tags").fill(tag)
    filters.get_by_label("Segment").fill("smb")
    filters.get_by_label("Sort by").select_option("name")
    admin_page.get_by_role("button", name="Apply filters").click()

    rows = admin_page.locator("#customer-list tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text(names[0])
    assert f"tag={tag}" in admin_page.url
    admin_page.get_by_role("button", name="Next").click()
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text(names[-1])
    expect(admin_page.get_by_role("button", name="Next")).to_be_disabled()
    admin_page.get_by_role("button", name="Previous").click()
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text(names[0])


def test_a_create_form_shows_each_error_next_to_its_field(agent_page: Page, console_url):
    allow_console_errors(agent_page, r"status of 422 .*/api/v1/customers")
    agent_page.goto(f"{console_url}/customers")
    agent_page.get_by_role("button", name="New customer").click()
    form = agent_page.locator("#create-form")
    form.get_by_label("Name").fill("Someone")
    form.get_by_label("Email").fill("not an email")
    form.get_by_label("Country").fill("zz")
    form.get_by_role("button", name="Create customer").click()

    expect(agent_page.locator("#create-email-error")).to_be_visible()
    expect(form.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(agent_page.locator("#create-country-error")).to_be_visible()
    expect(form.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")
    check_accessibility(agent_page)


def test_a_viewer_is_offered_no_change_and_the_api_refuses_one_readably(
    viewer_page: Page, console_url, stack
):
    customer = create_customer(stack, name=f"Viewed {_word()}")
    allow_console_errors(viewer_page, r"status of 403 .*/api/v1/customers")
    viewer_page.goto(f"{console_url}/customers")
    expect(viewer_page.locator("#customer-list tbody tr").first).to_be_visible()
    expect(viewer_page.get_by_role("button", name="New customer")).to_be_hidden()
    viewer_page.goto(f"{console_url}/customers/{customer['id']}")
    expect(viewer_page.locator("#customer-name")).to_have_text(customer["name"])
    expect(viewer_page.get_by_role("button", name="Edit")).to_be_hidden()
    expect(viewer_page.get_by_role("button", name="Delete")).to_be_hidden()
    expect(viewer_page.get_by_label("New note")).to_be_hidden()

    # The same calls made anyway, with the viewer's token, from the page itself.
    answers = viewer_page.evaluate(
        """async (id) => {
            const { api } = await import("/console/static/api.js");
            const { showError } = await import("/console/static/ui.js");
            const outcomes = [];
            for (const call of [
                () => api.send("POST", "/customers", { name: "Nope", email: "nope@example.com" }),
                () => api.send("DELETE", `/customers/${id}`),
            ]) {
                try { await call(); outcomes.push("done"); }
                catch (error) {
                    outcomes.push(error.status);
                    showError(document.getElementById("page-message"), error);
                }
            }
            return outcomes;
        }""",
        customer["id"],
    )

    assert answers == [403, 403]
    expect(viewer_page.locator("#page-message")).to_contain_text("Not allowed")
    assert requests.get(
        f"{stack.api}/customers/{customer['id']}", headers=stack.headers(), timeout=10
    ).ok


def test_a_stale_edit_is_explained_and_reloading_resolves_it(
    new_context, new_page, console_url, stack
):
    customer = create_customer(stack, name=f"Conflicted {_word()}", city="Lyon")
    context = new_context()
    first = new_page(context)
    username, password = stack.users["agent"]
    sign_in(first, console_url, username, password)
    second = new_page(context)  # a second tab, sharing the sign-in
    allow_console_errors(second, r"status of 412 ")
    for tab in (first, second):
        tab.goto(f"{console_url}/customers/{customer['id']}")
        tab.get_by_role("button", name="Edit").click()

    first.locator("#edit-form").get_by_label("City").fill("Marseille")
    first.get_by_role("button", name="Save changes").click()
    expect(first.locator("#customer-message")).to_have_text("Saved.")

    second.locator("#edit-form").get_by_label("Segment").fill("enterprise")
    second.get_by_role("button", name="Save changes").click()
    conflict = second.locator("#edit-message")
    expect(conflict).to_contain_text("This customer was changed after you opened the form")
    page_check(second, "customer-conflict")
    second.get_by_role("button", name="Reload the latest version").click()
    expect(second.locator("#edit-form").get_by_label("City")).to_have_value("Marseille")
    second.locator("#edit-form").get_by_label("Segment").fill("enterprise")
    second.get_by_role("button", name="Save changes").click()
    expect(second.locator("#customer-message")).to_have_text("Saved.")

    current = requests.get(
        f"{stack.api}/customers/{customer['id']}", headers=stack.headers(), timeout=10
    ).json()
    assert (current["city"], current["segment"]) == ("Marseille", "enterprise")


def test_an_admin_deletes_and_restores_a_customer(admin_page: Page, console_url, stack):
    customer = create_customer(stack, name=f"Restored {_word()}")
    admin_page.goto(f"{console_url}/customers/{customer['id']}")
    admin_page.once("dialog", lambda dialog: dialog.accept())
    admin_page.get_by_role("button", name="Delete").click()
    expect(admin_page.locator("#customer-message")).to_contain_text("Deleted")
    gone = requests.get(
        f"{stack.api}/customers/{customer['id']}", headers=stack.headers(), timeout=10
    )
    assert gone.status_code == 404

    admin_page.get_by_role("button", name="Restore").click()
    expect(admin_page.get_by_role("button", name="Delete")).to_be_visible()
    expect(admin_page.locator("#customer-name")).to_have_text(customer["name"])
    back = requests.get(
        f"{stack.api}/customers/{customer['id']}", headers=stack.headers(), timeout=10
    )
    assert back.status_code == 200


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def test_an_import_is_mapped_before_sending_followed_to_the_end_and_idempotent(
    admin_page: Page, console_url
):
    batch = uuid.uuid4().hex[:8]
    content = _csv(
        [
            ["Full Name", "E-mail", "Country", "Plan"],
            [f"Imported One {batch}", f"one-{batch}@example.com", "FR", "pro"],
            [f"Imported Two {batch}", f"two-{batch}@example.com", "DE", "free"],
            [f"Imported Bad {batch}", "this is not an email", "ES", "free"],
            [f"Imported Four {batch}", f"four-{batch}@example.com", "IT", "pro"],
        ]
    )
    admin_page.goto(f"{console_url}/import")

    def run_import() -> None:
        upload: FilePayload = {
            "name": f"batch-{batch}.csv",
            "mimeType": "text/csv",
            "buffer": content,
        }
        admin_page.locator("#csv-file").set_input_files(files=[upload])
        expect(admin_page.locator("#preview tbody tr")).to_have_count(4)
        expect(admin_page.locator("#preview")).to_contain_text("this is not an email")
        expect(admin_page.get_by_label('Column "Full Name"')).to_have_value("name")
        admin_page.get_by_label('Column "E-mail"').select_option("email")
        admin_page.get_by_label('Column "Plan"').select_option("attribute")
        admin_page.get_by_role("button", name="Start import").click()
        expect(admin_page.locator("#progress-text")).to_have_attribute(
            "data-percent", "100", timeout=WAIT_MS * 3
        )
        expect(admin_page.locator("#import-summary")).to_contain_text("Import finished")

    run_import()
    counts = admin_page.locator("#import-counts")
    expect(counts.locator("[data-count='created']")).to_have_text("3")
    expect(counts.locator("[data-count='failed']")).to_have_text("1")
    failed = admin_page.locator("#failed-rows tbody tr")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("4")
    expect(failed).to_contain_text("E-mail")
    page_check(admin_page, "import")

    run_import()
    expect(counts.locator("[data-count='created']")).to_have_text("0")
    expect(counts.locator("[data-count='existing']")).to_have_text("3")
    expect(counts.locator("[data-count='failed']")).to_have_text("1")


def test_the_export_downloads_the_filtered_list(admin_page: Page, console_url, stack):
    tag = f"export-{uuid.uuid4().hex[:8]}"
    kept = [
        create_customer(stack, name=f"Exported {_word()}", tags=[tag], status="active")
        for _ in range(2)
    ]
    left_out = [
        create_customer(stack, name=f"Exported {_word()}", tags=[tag], status="lead"),
        create_customer(stack, name=f"Exported {_word()}", status="active"),
    ]
    admin_page.goto(f"{console_url}/customers?status=active&tag={tag}")
    expect(admin_page.locator("#customer-list tbody tr")).to_have_count(2)

    with admin_page.expect_download() as download_info:
        admin_page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    text = download.path().read_text(encoding="utf-8-sig")

    assert re.fullmatch(r"customers-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    emails = {row["email"] for row in csv.DictReader(io.StringIO(text))}
    assert emails == {customer["email"] for customer in kept}
    assert not emails & {customer["email"] for customer in left_out}


def test_the_customers_page_at_phone_width(signed_in_page, console_url, stack):
    create_customer(stack, name=f"Phone {_word()}")
    page = signed_in_page("agent", viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{console_url}/customers")
    expect(page.locator("#customer-list tbody tr").first).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px wide"
    page_check(page, "customers-phone", full_page=False)
