"""``GET /search``: filters, facets, sorts, pages, highlights and the ranking users notice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from search_service.events import EventIndexer
from search_service.matching import MAX_PREFIX_WORDS
from search_service.store import SearchStore
from tests.search_service.customer_events import EPOCH, CustomerHistory

Search = Callable[..., dict[str, Any]]
IndexCustomers = Callable[..., list[CustomerHistory]]


ADA, CHARLES, GRACE, ALAN, EMILIE = (
    "Ada Lovelace",
    "Charles Babbage",
    "Grace Hopper",
    "Alan Turing",
    "Émilie du Châtelet",
)


def names(page: dict[str, Any]) -> list[str]:
    return [hit["name"] for hit in page["items"]]


def facet(page: dict[str, Any], name: str) -> dict[str, int]:
    return {entry["value"]: entry["count"] for entry in page["facets"][name]}


@pytest.fixture
def crowd(index_customers: IndexCustomers) -> list[CustomerHistory]:
    """Five customers with distinct statuses, places, segments, tags and creation times."""
    return index_customers(
        {"name": ADA, "status": "active", "country": "GB", "segment": "smb",
         "tags": ["vip", "math"], "created_at": EPOCH},
        {"name": CHARLES, "status": "active", "country": "GB", "segment": "enterprise",
         "tags": ["math"], "created_at": EPOCH + timedelta(days=1)},
        {"name": GRACE, "status": "lead", "country": "US", "segment": "enterprise",
         "tags": ["vip", "navy"], "created_at": EPOCH + timedelta(days=2)},
        {"name": ALAN, "status": "churned", "country": "GB", "segment": None,
         "tags": [], "created_at": EPOCH + timedelta(days=3)},
        {"name": EMILIE, "status": "lead", "country": "FR", "segment": "smb",
         "tags": ["math"], "created_at": EPOCH + timedelta(days=4)},
    )  # fmt: skip


@pytest.mark.usefixtures("crowd")
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "active"}, {ADA, CHARLES}),
        ({"country": "gb"}, {ADA, CHARLES, ALAN}),
        ({"segment": "enterprise"}, {CHARLES, GRACE}),
        ({"tag": ["vip"]}, {ADA, GRACE}),
        ({"tag": ["vip", "math"]}, {ADA}),
        ({"created_after": "2025-01-03T00:00:00Z"}, {GRACE, ALAN, EMILIE}),
        ({"created_before": "2025-01-02T00:00:00+00:00"}, {ADA}),
        ({"status": "lead", "country": "FR"}, {EMILIE}),
        ({"country": "JP"}, set()),
    ],
)
def test_each_filter_narrows_the_listing(
    search: Search, filters: dict[str, Any], expected: set[str]
) -> None:
    page = search(**filters)

    assert set(names(page)) == expected
    assert page["total"] == len(expected)


@pytest.mark.usefixtures("crowd")
def test_facets_count_every_hit_of_the_filtered_result(search: Search) -> None:
    everyone = search()
    in_britain = search(country="GB")

    assert facet(everyone, "status") == {"active": 2, "lead": 2, "churned": 1}
    assert facet(everyone, "country") == {"GB": 3, "US": 1, "FR": 1}
    assert facet(everyone, "segment") == {"smb": 2, "enterprise": 2}
    assert facet(everyone, "tag") == {"math": 3, "vip": 2, "navy": 1}
    assert [entry["value"] for entry in everyone["facets"]["tag"]] == ["math", "vip", "navy"]
    assert facet(in_britain, "status") == {"active": 2, "churned": 1}
    assert facet(in_britain, "tag") == {"math": 2, "vip": 1}
    # Counted over the whole result, not over the page.
    assert facet(search(country="GB", limit=1), "status") == {"active": 2, "churned": 1}


@pytest.mark.usefixtures("crowd")
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", [ADA, ALAN, CHARLES, EMILIE, GRACE]),
        ("created", [ADA, CHARLES, GRACE, ALAN, EMILIE]),
        ("-created", [EMILIE, ALAN, GRACE, CHARLES, ADA]),
        (None, [EMILIE, ALAN, GRACE, CHARLES, ADA]),
    ],
)
def test_each_sort_orders_the_listing(
    search: Search, sort: str | None, expected: list[str]
) -> None:
    params = {"sort": sort} if sort else {}

    assert names(search(**params)) == expected


def test_relevance_ranks_a_name_above_a_company_above_a_note(
    search: Search, index_customers: IndexCustomers, indexer: EventIndexer
) -> None:
    in_notes, in_company, in_name = index_customers(
        {"name": "Noted Person"}, {"name": "Company Person", "company": "Lovelace Labs"}, {}
    )
    indexer.apply([in_notes.add_note("Met Lovelace fans at the conference.")])

    page = search(q="lovelace")

    assert [hit["id"] for hit in page["items"]] == [in_name.id, in_company.id, in_notes.id]
    scores = [hit["score"] for hit in page["items"]]
    assert scores == sorted(scores, reverse=True)
    assert names(search(q="lovelace", sort="name")) == [
        "Ada Lovelace",
        "Company Person",
        "Noted Person",
    ]


def test_an_exact_email_or_phone_ranks_first(
    search: Search, index_customers: IndexCustomers
) -> None:
    named_like_the_email, owner = index_customers(
        {"name": "Grace Example", "company": "Example"},
        {"name": "Quiet Owner", "email": "grace@example.com", "phone": "+44 20 7946 0958"},
    )

    by_email = search(q="Grace@Example.com")
    by_phone = search(q="+44 (20) 7946-0958")

    assert by_email["items"][0]["id"] == owner.id
    assert by_phone["items"][0]["id"] == owner.id
    assert by_phone["total"] == 1
    assert named_like_the_email.id not in [hit["id"] for hit in by_phone["items"]]


def test_an_email_or_its_start_finds_the_emails_starting_so(
    search: Search, index_customers: IndexCustomers
) -> None:
    grace, mary, _ = index_customers(
        {"name": "Grace Hopper", "email": "grace.hopper@navy.example"},
        {"name": "Mary Jane", "email": "mary_jane+crm@navy.example"},
        {"name": "Grace Kelly", "email": "gk@monaco.example"},
    )

    assert [hit["id"] for hit in search(q="grace.hopper@na")["items"]] == [grace.id]
    assert [hit["id"] for hit in search(q="MARY_JANE+crm@navy.example")["items"]] == [mary.id]
    # Without an @ the parts are words, as the email was split when it was indexed.
    assert names(search(q="grace.hop")) == ["Grace Hopper"]
    assert names(search(q="mary_jane")) == ["Mary Jane"]
    assert sorted(names(search(q="navy"))) == ["Grace Hopper", "Mary Jane"]


def test_every_word_must_match_and_words_match_as_prefixes(
    search: Search, index_customers: IndexCustomers
) -> None:
    index_customers(
        {"name": "Anna Karenina", "city": "Moscow"},
        {"name": "Ann Arbor"},
        {"name": "Joanna Moss"},
    )

    assert set(names(search(q="ann"))) == {"Anna Karenina", "Ann Arbor"}
    assert names(search(q="ann mosc")) == ["Anna Karenina"]
    # A whole-word match ranks above a prefix match.
    assert names(search(q="ann"))[0] == "Ann Arbor"


def test_a_word_starting_many_indexed_words_still_finds_them_all(
    search: Search, index_customers: IndexCustomers, search_store: SearchStore
) -> None:
    # More words than a query spells out one by one: the index matches the prefix.
    words = [f"zed{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(MAX_PREFIX_WORDS + 6)]
    index_customers(*({"name": f"Walker {word}"} for word in words))

    with search_store.transaction() as tx:
        starting = tx.prefix_words(["zed", "zedaa", "walker", "zzz"])
    assert starting == {"zed": None, "zedaa": ("zedaa",), "walker": ("walker",), "zzz": ()}
    assert search(q="zed", limit=1)["total"] == len(words)
    assert search(q="walker zed", limit=1)["total"] == len(words)
    # Its own word first, then the words one typo away (it has five letters).
    assert names(search(q="zedab"))[0] == "Walker zedab"


def test_pages_walk_every_hit_once_in_order(
    search: Search, index_customers: IndexCustomers
) -> None:
    index_customers(*({"name": f"Walker {n:02d}", "company": "Walk Inc"} for n in range(23)))
    index_customers({"name": "Walker Twin"}, {"name": "Walker Twin"})

    for sort in ("relevance", "name", "created", "-created"):
        seen: list[str] = []
        params: dict[str, Any] = {"q": "walker", "sort": sort, "limit": 4}
        while True:
            page = search(**params)
            assert page["total"] == 25
            seen += [hit["id"] for hit in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert len(seen) == len(set(seen)) == 25, sort


def test_highlights_mark_the_matching_words_as_escaped_html(
    search: Search, index_customers: IndexCustomers, indexer: EventIndexer
) -> None:
    (customer,) = index_customers({"name": "Zoë Müller & Co <GmbH>", "company": "Müller Bau"})
    indexer.apply([customer.add_note("Long call. Herr Müller wants a quote by Friday.")])

    (hit,) = search(q="muller")["items"]

    assert hit["highlights"]["name"] == "Zoë <mark>Müller</mark> &amp; Co &lt;GmbH&gt;"
    assert hit["highlights"]["company"] == "<mark>Müller</mark> Bau"
    assert "<mark>Müller</mark> wants a quote" in hit["highlights"]["notes"]
    assert search(q="bau")["items"][0]["highlights"]["name"] is None


@pytest.mark.usefixtures("crowd")
def test_a_query_without_words_is_a_listing(search: Search) -> None:
    for page in (search(q=""), search(q="   "), search(q="!?")):
        assert page["total"] == 5
        assert {hit["score"] for hit in page["items"]} == {None}


def test_deleted_customers_are_not_found(
    search: Search, index_customers: IndexCustomers, indexer: EventIndexer
) -> None:
    (gone,) = index_customers({"name": "Vanishing Act"})

    indexer.apply([gone.delete()])

    assert search(q="vanishing")["total"] == 0
    assert search()["total"] == 0
