"""Bad requests are problems naming the field; tokens and scopes are checked from the contract."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.tokens import TestIssuer

PROBLEM_JSON = "application/problem+json"


def problem(response: TestResponse, status: int, *fields: str) -> dict[str, Any]:
    """Assert ``response`` is a problem+json with ``status`` naming ``fields``; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    named = {error["field"] for error in body.get("errors", [])}
    assert set(fields) <= named, f"expected {fields} in {named}"
    return body


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/search", {"limit": "0"}, "limit"),
        ("/search", {"limit": "101"}, "limit"),
        ("/search", {"limit": "ten"}, "limit"),
        ("/search", {"sort": "price"}, "sort"),
        ("/search", {"q": "dinner", "mode": "fuzzy"}, "mode"),
        ("/search", {"q": "dinner", "mode": ["semantic", "hybrid"]}, "mode"),
        ("/search", {"status": "gone"}, "status"),
        ("/search", {"country": "GBR"}, "country"),
        ("/search", {"created_after": "2025-01-01"}, "created_after"),
        ("/search", {"created_before": "2025-02-30T00:00:00Z"}, "created_before"),
        ("/search", {"q": "x" * 201}, "q"),
        ("/search", {"q": "nul\x00"}, "q"),
        ("/search", {"tag": ""}, "tag.0"),
        ("/search", {"tag": [f"t{n}" for n in range(21)]}, "tag"),
        ("/search", {"segment": "s", "colour": "red"}, "colour"),
        ("/search", {"cursor": "not a cursor!"}, "cursor"),
        ("/search/suggest", {}, "q"),
        ("/search/suggest", {"q": ""}, "q"),
        ("/search/suggest", {"q": "ab", "limit": "11"}, "limit"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(
    client: FlaskClient, issuer: TestIssuer, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(path, query_string=params, headers=issuer.headers("viewer"))

    problem(response, 422, field)


@pytest.mark.usefixtures("empty_index")
def test_a_cursor_that_is_not_ours_or_for_another_query_is_400(
    client: FlaskClient, issuer: TestIssuer, index_customers: Any
) -> None:
    index_customers({"name": "Page One"}, {"name": "Page Two"})
    headers = issuer.headers("viewer")
    first = client.get("/search", query_string={"q": "page", "limit": 1}, headers=headers)
    cursor = first.get_json()["next_cursor"]

    forged = client.get("/search", query_string={"q": "page", "cursor": "abc"}, headers=headers)
    other_query = client.get(
        "/search", query_string={"q": "one", "cursor": cursor}, headers=headers
    )
    other_sort = client.get(
        "/search", query_string={"q": "page", "sort": "name", "cursor": cursor}, headers=headers
    )

    for response in (forged, other_query, other_sort):
        problem(response, 400, "cursor")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/search"),
        ("GET", "/search/suggest?q=a"),
        ("POST", "/search/reindex"),
        ("GET", "/search/reindex/6d8a4f2e-2b1c-4d6e-9f0a-1b2c3d4e5f60"),
    ],
)
def test_every_operation_needs_a_token(client: FlaskClient, method: str, path: str) -> None:
    problem(client.open(path, method=method), 401)


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        ("viewer", "GET", "/search", 200),
        ("agent", "GET", "/search/suggest?q=a", 200),
        ("viewer", "POST", "/search/reindex", 403),
        ("agent", "POST", "/search/reindex", 403),
        ("agent", "GET", "/search/reindex/6d8a4f2e-2b1c-4d6e-9f0a-1b2c3d4e5f60", 403),
        ("admin", "GET", "/search/reindex/6d8a4f2e-2b1c-4d6e-9f0a-1b2c3d4e5f60", 404),
    ],
)
def test_each_operation_needs_its_scope(
    client: FlaskClient, issuer: TestIssuer, role: str, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method, headers=issuer.headers(role))

    assert response.status_code == status, response.get_data(as_text=True)


def test_a_token_without_search_scopes_is_refused(client: FlaskClient, issuer: TestIssuer) -> None:
    headers = issuer.headers("admin", scope="customers:read")

    problem(client.get("/search", headers=headers), 403)
