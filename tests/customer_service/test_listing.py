"""Listing customers: keyset pages in every sort, filters, links and bad queries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg2
import pytest
from flask import Flask

from tests.customer_service.api_client import CustomerApi, customer_fields, problem
from tests.support.tokens import TestIssuer

BASE_TIME = datetime(2021, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
NAMES = ["delta", "alpha", "beta", "alpha", "gamma", "beta", "alpha"]
STATUSES = ["lead", "active", "churned"]
COUNTRIES = ["GB", "US", "DE", None]
SIZE = 23


def _created_at(index: int) -> datetime:
    # Three customers share each timestamp, so ties must be broken by id.
    return BASE_TIME + timedelta(seconds=index // 3)


@pytest.fixture(scope="module")
def catalogue(
    app: Flask, issuer: TestIssuer, customer_database: str
) -> tuple[str, list[dict[str, Any]]]:
    """A unique tag and the live customers carrying it (plus one deleted, unlisted)."""
    tag = f"list-{uuid.uuid4().hex[:10]}"
    client, headers = app.test_client(), issuer.headers()
    customers = []
    for index in range(SIZE):
        extra_tags = ["even"] if index % 2 == 0 else []
        if index % 3 == 0:
            extra_tags.append("third")
        body = customer_fields(
            name=NAMES[index % len(NAMES)],
            status=STATUSES[index % 3],
            country=COUNTRIES[index % 4],
            segment="smb" if index % 2 else "enterprise",
            tags=[tag, *extra_tags],
        )
        customers.append(client.post("/customers", json=body, headers=headers).get_json())
    deleted = client.post("/customers", json=customer_fields(tags=[tag]), headers=headers)
    client.delete(f"/customers/{deleted.get_json()['id']}", headers=headers)
    with psycopg2.connect(customer_database) as connection, connection.cursor() as cursor:
        for index, customer in enumerate(customers):
            cursor.execute(
                "UPDATE customers SET created_at = %s WHERE id = %s",
                (_created_at(index), customer["id"]),
            )
            customer["created_at"] = _created_at(index)
    connection.close()
    return tag, customers


def walk(api: CustomerApi, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of every page, following ``next_cursor``; checks the Link header too."""
    items: list[dict[str, Any]] = []
    params = dict(query)
    for _ in range(100):
        response = api.list_customers(urlencode(params, doseq=True))
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert len(page["items"]) <= int(params.get("limit", 50))
        items.extend(page["items"])
        if page["next_cursor"] is None:
            assert "Link" not in response.headers
            return items
        link = response.headers["Link"]
        assert (
            link
            == f'<?{urlencode({**params, "cursor": page["next_cursor"]}, doseq=True)}>; rel="next"'
        )
        params["cursor"] = page["next_cursor"]
    raise AssertionError("pagination did not end")


def sort_key(sort: str) -> Callable[[dict[str, Any]], tuple[Any, str]]:
    """How the API should order customers for ``sort`` (before reversing for '-')."""
    field = sort.lstrip("-")
    return lambda customer: (customer[field], customer["id"])


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "name", "-name"])
@pytest.mark.parametrize("limit", [1, 4, 23, 200])
def test_walking_every_page_sees_each_customer_once_in_order(
    api: CustomerApi, catalogue: tuple[str, list[dict[str, Any]]], sort: str, limit: int
) -> None:
    tag, customers = catalogue

    items = walk(api, {"tag": tag, "sort": sort, "limit": limit})

    expected = sorted(customers, key=sort_key(sort), reverse=sort.startswith("-"))
    assert [item["id"] for item in items] == [customer["id"] for customer in expected]


def test_the_default_order_is_newest_first(
    api: CustomerApi, catalogue: tuple[str, list[dict[str, Any]]]
) -> None:
    tag, _ = catalogue

    default = walk(api, {"tag": tag, "limit": 5})

    assert default == walk(api, {"tag": tag, "limit": 5, "sort": "-created_at"})


@pytest.mark.parametrize(
    ("filters", "matches"),
    [
        ({"status": "active"}, lambda c: c["status"] == "active"),
        ({"country": "gb"}, lambda c: c["country"] == "GB"),
        (
            {"segment": "smb", "status": "lead"},
            lambda c: c["segment"] == "smb" and c["status"] == "lead",
        ),
        ({"tag": ["even", "third"]}, lambda c: {"even", "third"} <= set(c["tags"])),
        (
            {
                "created_after": "2021-03-04T05:06:09.890123Z",
                "created_before": "2021-03-04T06:06:12.890123+01:00",
            },
            lambda c: (
                BASE_TIME + timedelta(seconds=2)
                <= c["created_at"]
                < BASE_TIME + timedelta(seconds=5)
            ),
        ),
    ],
    ids=["status", "country", "segment-and-status", "all-tags", "created-range"],
)
def test_filters_hold_on_every_page(
    api: CustomerApi,
    catalogue: tuple[str, list[dict[str, Any]]],
    filters: dict[str, Any],
    matches: Callable[[dict[str, Any]], bool],
) -> None:
    tag, customers = catalogue
    extra_tags = filters.pop("tag", [])
    query = {**filters, "tag": [tag, *extra_tags], "limit": 2, "sort": "name"}

    items = walk(api, query)

    expected = sorted(filter(matches, customers), key=sort_key("name"))
    assert expected, "the filter should match some customers"
    assert [item["id"] for item in items] == [customer["id"] for customer in expected]


def test_a_filter_matching_nothing_is_an_empty_page(
    api: CustomerApi, catalogue: tuple[str, list[dict[str, Any]]]
) -> None:
    tag, _ = catalogue

    response = api.list_customers(f"tag={tag}&tag=no-such-tag")

    assert response.get_json() == {"items": [], "next_cursor": None}


def test_a_cursor_for_another_sort_is_400(
    api: CustomerApi, catalogue: tuple[str, list[dict[str, Any]]]
) -> None:
    tag, _ = catalogue
    cursor = api.list_customers(f"tag={tag}&limit=2&sort=name").get_json()["next_cursor"]

    response = api.list_customers(f"tag={tag}&limit=2&sort=-name&cursor={cursor}")

    problem(response, 400, "cursor")


@pytest.mark.parametrize("cursor", ["garbage", "eyJzb3J0IjoibmFtZSJ9", "a" * 3000])
def test_a_cursor_we_did_not_make_is_refused(api: CustomerApi, cursor: str) -> None:
    response = api.list_customers(f"cursor={cursor}")

    assert response.status_code in (400, 422)
    problem(response, response.status_code, "cursor")


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("colour=blue&page=2", ["colour", "page"]),
        ("limit=0", ["limit"]),
        ("limit=201", ["limit"]),
        ("limit=99999999999999999999999999", ["limit"]),
        ("sort=email", ["sort"]),
        ("status=prospect", ["status"]),
        ("country=XX", ["country"]),
        ("created_after=2024-05-01T12:00:00", ["created_after"]),
        ("created_before=2024-05-01", ["created_before"]),
        ("segment=%00", ["segment"]),
        ("tag=", ["tag.0"]),
    ],
)
def test_bad_query_parameters_are_422_naming_each(
    api: CustomerApi, query: str, fields: list[str]
) -> None:
    problem(api.list_customers(query), 422, *fields)
