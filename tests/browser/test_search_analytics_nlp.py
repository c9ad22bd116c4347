"""The console's search, analytics and NLP pages in a real browser, on the shared platform.

Customers are created through the API (as any client would) and found on the
search page once their events have reached the index; the analytics charts are
drawn from the live rollups; the NLP playground and batch jobs run on the
platform's model and worker. Each page also passes axe, logs no error and no
CSP violation, and is screenshotted.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, Response, expect

from tests.browser.support import PHONE, page_check, screenshot
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

#: How long a change may take to travel outbox -> relay -> broker -> consumer -> index.
PROPAGATION_SECONDS = 15.0
#: A batch job's rows are scored by the NLP worker: a small file takes seconds.
JOB_MS = 90_000


def unique_word(prefix: str) -> str:
    """A word no other test uses, of letters only (a word with digits gets no typo)."""
    return prefix + uuid.uuid4().hex[:6].translate(str.maketrans("0123456789", "ghijklmnop"))


def create_customer(stack: Stack, **fields: Any) -> dict[str, Any]:
    """Create a customer through the gateway, as any client of the API does."""
    body = {"email": f"{uuid.uuid4().hex[:12]}@example.com", **fields}
    response = requests.post(
        f"{stack.api}/customers", json=body, headers=stack.headers("agent"), timeout=10
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def indexed(stack: Stack, q: str, count: int) -> bool:
    """Whether a search for ``q`` finds ``count`` customers yet (polled with a deadline)."""
    deadline = time.monotonic() + PROPAGATION_SECONDS
    while time.monotonic() < deadline:
        response = requests.get(
            f"{stack.api}/search", params={"q": q}, headers=stack.headers("viewer"), timeout=10
        )
        assert response.status_code == 200, response.text
        if response.json()["total"] == count:
            return True
        time.sleep(0.2)
    return False


def phone_screenshot(page: Page, name: str) -> None:
    """The page as it is, at a phone's width."""
    page.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
    screenshot(page, name)


def timeseries_answer(interval: str) -> Callable[[Response], bool]:
    """Whether a response is the time series of ``interval``."""
    return lambda response: (
        "/api/v1/analytics/timeseries" in response.url and f"interval={interval}" in response.url
    )


def test_search_finds_a_misspelt_customer_suggests_and_filters_by_facet(
    agent_page: Page, stack: Stack, console_url: str
) -> None:
    word = unique_word("Quillfeather")
    alpha = create_customer(stack, name=f"Zoë {word}", company="Bäckerei Schön", status="active")
    beta = create_customer(stack, name=f"{word} Beta", status="lead", country="NZ")
    # A name that is markup stays text, in the hit and in its highlight.
    gamma = create_customer(stack, name=f"<b>{word}</b> Gamma", status="active")
    assert indexed(stack, word, 3)
    page = agent_page
    page.goto(f"{console_url}/search")
    box = page.get_by_role("combobox", name="Search customers")

    # Suggestions while typing, picked with the keyboard.
    box.press_sequentially(f"zoe {word[:8].lower()}", delay=40)
    listbox = page.get_by_role("listbox", name="Suggestions")
    # Each keystroke asks the API (debounced); under a loaded machine the answer may take a while.
    expect(listbox.get_by_role("option", name=re.compile(re.escape(f"Zoë {word}")))).to_be_visible(
        timeout=PROPAGATION_SECONDS * 1000
    )
    expect(box).to_have_attribute("aria-expanded", "true")
    box.press("ArrowDown")
    expect(listbox.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", re.compile(r"search-suggestion-0"))
    box.press("Escape")
    expect(listbox).to_be_hidden()
    box.press("ArrowDown")  # opens the list again
    expect(box).to_have_attribute("aria-expanded", "true")
    box.press("ArrowDown")
    box.press("Enter")
    expect(box).to_have_value(f"Zoë {word}")
    expect(listbox).to_be_hidden()
    expect(page.locator("#search-results .hit")).to_have_count(1)

    # A misspelt word (one letter missing) finds all three, says which spelling it used.
    misspelt = word.lower().replace("quill", "quil", 1)
    box.fill(misspelt)
    results = page.locator("#search-results")
    expect(results.locator(".hit")).to_have_count(3)
    expect(page.locator("#search-typos")).to_contain_text(f"No exact match for “{misspelt}”")
    expect(page.locator("#search-typos mark").first).to_have_text(re.compile(word))
    link = results.get_by_role("link", name=f"Zoë {word}")
    expect(link).to_have_attribute("href", f"/customers/{alpha['id']}")
    expect(link.locator("mark")).to_have_text(word)
    markup = results.get_by_role("link", name=f"<b>{word}</b> Gamma")
    expect(markup).to_have_attribute("href", f"/customers/{gamma['id']}")
    expect(results.locator("b")).to_have_count(0)
    expect(page.locator("#search-summary")).to_have_text(f"3 customers found for “{misspelt}”.")

    # A facet is a filter: its count, then a click keeps only its hits.
    lead = page.locator("button.facet[data-facet=status][data-value=lead]")
    expect(lead).to_contain_text("(1)")
    expect(lead).to_have_attribute("aria-pressed", "false")
    lead.click()
    expect(results.locator(".hit")).to_have_count(1)
    expect(results.get_by_role("link", name=f"{word} Beta")).to_have_attribute(
        "href", f"/customers/{beta['id']}"
    )
    expect(lead).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Remove filter Status: lead")).to_be_visible()
    assert "status=lead" in page.url

    # The NLP service is up on this platform: search by words and meaning at once.
    with page.expect_response(lambda response: "mode=hybrid" in response.url) as answer:
        page.get_by_role("radio", name="Both").check()
    assert answer.value.status == 200
    expect(results.get_by_role("link", name=f"{word} Beta")).to_have_attribute(
        "href", f"/customers/{beta['id']}"
    )
    assert "mode=hybrid" in page.url
    page_check(page, "search")
    phone_screenshot(page, "search-phone")


def test_analytics_draws_every_chart_and_refetches_per_interval(
    viewer_page: Page, stack: Stack, console_url: str
) -> None:
    create_customer(stack, name=f"{unique_word('Chartist')} Signup", status="active", country="FR")
    page = viewer_page
    page.goto(f"{console_url}/analytics")

    charts = page.locator("figure.chart")
    expect(charts).to_have_count(6)
    expect(page.locator("figure.chart[data-state=ready]")).to_have_count(6)
    expect(page.locator("figure.chart canvas")).to_have_count(6)
    expect(page.locator(".alert-error")).to_have_count(0)
    drawn = "[...document.querySelectorAll('figure.chart canvas')].filter(window.Chart.getChart)"
    assert page.evaluate(f"{drawn}.length") == 6
    expect(page.locator("#analytics-summary dt").first).to_have_text("Live customers")
    trend = page.locator("figure.chart").first
    expect(trend.locator("canvas")).to_have_attribute(
        "aria-label", re.compile(r"signups? and \d+ churns? per day")
    )

    # Each interval asks the API again, for that interval.
    for interval, label, buckets in (
        ("week", "Week", 12),
        ("month", "Month", 12),
        ("day", "Day", 30),
    ):
        with page.expect_response(timeseries_answer(interval)) as answer:
            page.get_by_role("radio", name=re.compile(f"^{label}")).check()
        assert answer.value.status == 200
        expect(trend).to_have_attribute("data-interval", interval)
        expect(trend).to_have_attribute("data-state", "ready")
        expect(trend.locator("table tbody tr")).to_have_count(buckets)
    expect(trend.locator("canvas")).to_have_attribute("aria-label", re.compile("per day"))

    # Every chart's figures are also a table, behind a toggle.
    toggle = trend.get_by_role("button", name="Figures as a table")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(trend.locator("table")).to_be_visible()
    page_check(page, "analytics")
    phone_screenshot(page, "analytics-phone")


def test_the_nlp_playground_scores_classifies_and_compares(
    viewer_page: Page, console_url: str
) -> None:
    page = viewer_page
    page.goto(f"{console_url}/nlp")

    sentiment = page.locator("#nlp-sentiment-form")
    sentiment.get_by_label("Texts, one per line").fill(
        "Wonderful support, thank you so much!\n\n"
        "Awful. The invoice is wrong again and nobody answers."
    )
    sentiment.get_by_role("button", name="Score sentiment").click()
    rows = sentiment.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("positive")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("negative")

    classify = page.locator("#nlp-classify-form")
    classify.get_by_label("Texts, one per line").fill("The invoice was charged twice.")
    classify.get_by_label("Labels, separated by commas").fill("billing, shipping")
    classify.get_by_role("button", name="Classify").click()
    expect(classify.locator("tbody tr td").nth(1)).to_have_text("billing")

    # One label is not a classification: said next to the field, nothing sent.
    classify.get_by_label("Labels, separated by commas").fill("billing")
    classify.get_by_role("button", name="Classify").click()
    expect(classify.locator(".field-error")).to_have_text(re.compile("2 to 20 labels"))

    similarity = page.locator("#nlp-similarity-form")
    similarity.get_by_role("button", name="Compare").click()
    expect(similarity.locator(".similarity-score")).to_have_text(re.compile(r"^-?[01]\.\d\d$"))
    page_check(page, "nlp")
    phone_screenshot(page, "nlp-phone")


def _reviews(rows: int, *, padding: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "comment"])
    for number in range(rows):
        comment = (
            "Wonderful support, thank you so much!"
            if number % 2
            else "Awful. The invoice is wrong again and nobody answers."
        )
        # Distinct texts: the NLP service caches a text's answer, a cancel needs work left.
        writer.writerow([number, f"{comment} (ticket {number})" if padding else comment])
    return buffer.getvalue().encode()


def test_a_small_batch_job_reaches_100_percent_and_shows_its_statistics(
    agent_page: Page, console_url: str
) -> None:
    page = agent_page
    page.goto(f"{console_url}/nlp")
    form = page.locator("#nlp-job-form")
    form.get_by_label("CSV or JSON file").set_input_files(
        {"name": "reviews.csv", "mimeType": "text/csv", "buffer": _reviews(25)}
    )
    form.get_by_label("Text column").fill("comment")
    form.get_by_role("button", name="Start the job").click()

    job = page.locator("#nlp-job")
    expect(job.locator("#nlp-job-progress-text")).to_have_text(
        "25 of 25 rows · 100 %", timeout=JOB_MS
    )
    expect(job).to_have_attribute("data-status", "ready")
    statistics = job.locator("#nlp-job-statistics tbody tr")
    expect(statistics).to_have_count(2)
    expect(statistics.nth(0)).to_have_text(re.compile(r"negative\s*13\s*52 %"))
    expect(statistics.nth(1)).to_have_text(re.compile(r"positive\s*12\s*48 %"))
    # The rows, 20 a page (CSV lines 2 to 26: the header is line 1).
    rows = job.locator("#nlp-job-results tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first.locator("td").first).to_have_text("2")
    job.get_by_role("button", name="Next page").click()
    expect(rows).to_have_count(5)
    expect(rows.first.locator("td").first).to_have_text("22")
    expect(job.get_by_role("button", name="Next page")).to_be_disabled()
    job.get_by_role("button", name="Previous page").click()
    expect(rows).to_have_count(20)
    expect(rows.first.locator("td").first).to_have_text("2")
    expect(job.get_by_role("button", name="Cancel the job")).to_be_hidden()

    with page.expect_download() as download:
        job.get_by_role("button", name="Download the results (CSV)").click()
    lines = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [line["line"] for line in lines] == [str(number) for number in range(2, 27)]
    assert {line["label"] for line in lines} == {"positive", "negative"}
    expect(page.locator("#nlp-jobs tbody tr").first).to_contain_text("Done")
    page_check(page, "nlp-job")


def test_cancelling_a_big_batch_job_stops_it(
    agent_page: Page, stack: Stack, console_url: str
) -> None:
    page = agent_page
    page.goto(f"{console_url}/nlp")
    form = page.locator("#nlp-job-form")
    form.get_by_label("CSV or JSON file").set_input_files(
        {"name": "many.csv", "mimeType": "text/csv", "buffer": _reviews(20_000, padding=True)}
    )
    form.get_by_label("Text column").fill("comment")
    form.get_by_role("button", name="Start the job").click()

    job = page.locator("#nlp-job")
    cancel = job.get_by_role("button", name="Cancel the job")
    expect(cancel).to_be_visible()
    job_page = page.url
    # While it runs, the home page counts it among the user's open jobs.
    page.goto(f"{console_url}/")
    open_jobs = page.locator("#card-nlp-jobs")
    expect(open_jobs).to_have_attribute("href", "/nlp")
    expect(open_jobs.locator("[data-figure]")).to_have_text(re.compile(r"^[1-9]"))
    page.goto(job_page)
    cancel.click()
    expect(job).to_have_attribute("data-status", "cancelled")
    expect(job.locator("#nlp-job-status")).to_contain_text("Cancelled")
    expect(cancel).to_be_hidden()
    expect(job.get_by_role("status").filter(has_text="cancelled")).to_be_visible()
    job_id = page.url.split("job=")[1]
    answer = requests.get(
        f"{stack.api}/nlp/jobs/{job_id}", headers=stack.headers("agent"), timeout=10
    )
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["progress"]["done"] < 20_000
