"""The list is exact whichever way a page is found: walked in sort order or probed and sorted.

A page is found by walking an index in sort order or by collecting the matches
through the filter indexes (``customer_service.store.CustomerList``), chosen on
the planner's estimates of a database the client does not control. Whatever the
choice, every page must hold what one ``ORDER BY <sort>, id`` over the matching
customers gives, without gaps or repeats across pages; above all for filters
that match nothing or a few customers, where the two ways differ most.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
from psycopg2 import sql

from bench.seed_data import generate_customers, load_customers
from customer_service import store
from customer_service.schemas import CustomerQuery
from customer_service.service import CustomerService
from customer_service.store import CustomerList, CustomerStore, ListPlan
from shared.database import Database

UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
CUSTOMERS = 700
SORTS = ("-created_at", "created_at", "name", "-name")
#: Pages followed per walk; a walk of a filter that matches many stops there.
MAX_PAGES = 6
Filters = dict[str, Any]


@pytest.fixture(scope="module")
def listing_database(make_database: Callable[[str], str]) -> str:
    """A database of generated customers (some deleted, some sharing a sign-up time)."""
    url = make_database("customer_service")
    customers = list(generate_customers(CUSTOMERS, seed=21, until=UNTIL, deleted_share=0.05))
    for index in range(7, CUSTOMERS, 7):
        # Ties on the sort value are broken by id.
        customers[index]["created_at"] = customers[index - 1]["created_at"]
    connection = psycopg2.connect(url)
    try:
        load_customers(connection, customers, batch=200)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE customers")
    finally:
        connection.close()
    return url


@pytest.fixture(scope="module")
def service(listing_database: str) -> Iterator[CustomerService]:
    """The customer service on that database."""
    database = Database(listing_database, pool_size=2)
    yield CustomerService(CustomerStore(database), idempotency_retention_seconds=60)
    database.close()


@pytest.fixture(scope="module")
def catalogue(listing_database: str) -> dict[str, Any]:
    """Values to filter on, found in the data: common ones, rare ones, a few absent ones."""
    rows = _rows(listing_database, "SELECT * FROM customers WHERE deleted_at IS NULL")
    countries = Counter(row["country"] for row in rows if row["country"])
    tags = Counter(tag for row in rows for tag in row["tags"])
    times = sorted(row["created_at"] for row in rows)
    return {
        "common country": countries.most_common(1)[0][0],
        "rare country": min(countries, key=lambda country: (countries[country], country)),
        "rare tag": min(tags, key=lambda tag: (tags[tag], tag)),
        "recent": UNTIL - timedelta(days=45),
        "narrow": (times[len(times) // 2], times[len(times) // 2 + 4]),
    }


def combinations(values: dict[str, Any]) -> list[Filters]:
    """Filter sets that match nothing, a few customers, or (the last ones) many."""
    narrow_after, narrow_before = values["narrow"]
    return [
        {"country": "NR"},
        {"tag": ["no-such-tag"]},
        {"segment": "nonprofit", "status": "lead"},
        {"country": values["rare country"]},
        {"tag": [values["rare tag"]]},
        {"status": "churned", "country": values["rare country"], "segment": "smb"},
        {"country": "JP", "tag": [values["rare tag"]]},
        {"tag": [values["rare tag"]], "created_after": values["recent"]},
        {"status": "churned", "created_after": values["recent"]},
        {"country": "JP", "status": "lead", "segment": "smb", "tag": ["newsletter"]},
        {"segment": "public-sector"},
        {"created_after": narrow_after, "created_before": narrow_before},
        {"tag": ["newsletter", "trial"], "country": values["common country"]},
        {"tag": ["black-friday"], "created_after": values["recent"]},
        {"status": "lead", "country": values["common country"], "segment": "smb"},
        {"tag": ["newsletter"]},
    ]


FREE_PROBE = {"TABLE_PAGE_COST": 0, "TABLE_ROW_COST": 0, "BITMAP_ENTRY_COST": 0}
#: The ways a page can be found, each forced by the constants that steer the choice,
#: and the statements each must have run (at least once over all the pages).
WAYS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "as estimated": ({}, set()),
    "probe first": ({**FREE_PROBE, "OPENING_WINDOW_PER_ROW": 0}, {"probe"}),
    "walk in small windows": (
        {"TABLE_PAGE_COST": 1e12, "OPENING_WINDOW_PER_ROW": 0},
        {"bounded walk", "tag sample"},
    ),
    "tag sample before the walk": (
        {"TABLE_PAGE_COST": 1e12, "OPENING_WINDOW_PER_ROW": 0, "TAG_SAMPLE_BEFORE_WALK": 0},
        {"tag sample before a window"},
    ),
    "probe gives up, walk to the end": (
        {**FREE_PROBE, "MIN_PROBE": 0, "PROBE_SLACK": 0, "OPENING_WINDOW_PER_ROW": 0},
        {"probe", "walk to the end"},
    ),
}


@pytest.fixture(params=list(WAYS))
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Steer every page one way; afterwards, check the pages went that way."""
    settings, expected = WAYS[request.param]
    for name, value in settings.items():
        monkeypatch.setattr(store, name, value)
    if request.param == "walk in small windows":
        # One entry first, then a few more each time: every window boundary is crossed.
        monkeypatch.setattr(ListPlan, "first_window", lambda _plan: 1)
    if request.param in ("walk in small windows", "tag sample before the walk"):
        # The pages the tags' rows take are looked at whenever a tag is filtered on.
        monkeypatch.setattr(
            ListPlan,
            "could_probe_by_tag_for_less",
            lambda plan: plan.tag_spread is None and ("tag",) in plan.probe_reads,
        )
    ran: set[str] = set()
    windowed: set[int] = set()  # the requests (id of their CustomerList) that walked a window
    probe, walk, sample = CustomerList._probe, CustomerList._walk, CustomerList._tag_spread

    def probing(self: CustomerList, plan: ListPlan) -> Any:
        ran.add("probe")
        return probe(self, plan)

    def walking(self: CustomerList, partition: Any, after: Any, width: Any, wanted: int = 0) -> Any:
        ran.add("walk to the end" if width is None else "bounded walk")
        if width:
            windowed.add(id(self))
        return walk(self, partition, after, width, wanted)

    def sampling(self: CustomerList) -> float:
        ran.add("tag sample" if id(self) in windowed else "tag sample before a window")
        return sample(self)

    monkeypatch.setattr(CustomerList, "_probe", probing)
    monkeypatch.setattr(CustomerList, "_walk", walking)
    monkeypatch.setattr(CustomerList, "_tag_spread", sampling)
    yield str(request.param)
    assert expected <= ran, f"{request.param} ran {sorted(ran)}"


@pytest.mark.parametrize("sort", SORTS)
def test_every_page_is_the_slice_of_one_ordered_statement(
    service: CustomerService,
    listing_database: str,
    catalogue: dict[str, Any],
    way: str,
    sort: str,
) -> None:
    for filters in combinations(catalogue):
        expected = _expected(listing_database, filters, sort)
        for limit in (2, 50):
            pages = _walk(service, filters, sort, limit)

            found = [customer_id for page in pages for customer_id in page]
            assert found == expected[: len(found)], (way, filters, limit)
            if len(pages) < MAX_PAGES:
                assert found == expected, (way, filters, limit)
            assert all(len(page) == limit for page in pages[:-1])


def test_the_catalogue_has_filters_matching_nothing_few_and_many(
    listing_database: str, catalogue: dict[str, Any]
) -> None:
    counts = [
        len(_expected(listing_database, filters, "name")) for filters in combinations(catalogue)
    ]

    assert counts.count(0) >= 3
    assert sum(1 <= count <= 5 for count in counts) >= 3
    assert max(counts) > 50


def _walk(service: CustomerService, filters: Filters, sort: str, limit: int) -> list[list[str]]:
    """The ids of each page, following ``next_cursor`` (at most MAX_PAGES pages)."""
    pages: list[list[str]] = []
    cursor = None
    while len(pages) < MAX_PAGES:
        query = CustomerQuery.model_validate(
            {**filters, "sort": sort, "limit": limit, "cursor": cursor}
        )
        page = service.list_customers(query)
        pages.append([str(item.id) for item in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return pages


def _expected(url: str, filters: Filters, sort: str) -> list[str]:
    """The ids one plain ``ORDER BY`` over the matching live customers gives."""
    conditions = [sql.SQL("deleted_at IS NULL")]
    params: list[Any] = []
    for name in ("status", "country", "segment"):
        if name in filters:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
            params.append(filters[name])
    if "tag" in filters:
        conditions.append(sql.SQL("tags @> %s::text[]"))
        params.append(filters["tag"])
    if "created_after" in filters:
        conditions.append(sql.SQL("created_at >= %s"))
        params.append(filters["created_after"])
    if "created_before" in filters:
        conditions.append(sql.SQL("created_at < %s"))
        params.append(filters["created_before"])
    direction = sql.SQL("DESC" if sort.startswith("-") else "ASC")
    statement = sql.SQL("SELECT id FROM customers WHERE {} ORDER BY {} {}, id {}").format(
        sql.SQL(" AND ").join(conditions), sql.Identifier(sort.lstrip("-")), direction, direction
    )
    return [str(row["id"]) for row in _rows(url, statement, params)]


def _rows(url: str, statement: str | sql.Composable, params: list[Any] | None = None) -> list[Any]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(statement, params)
            return [dict(row) for row in cursor.fetchall()]
    finally:
        connection.close()
