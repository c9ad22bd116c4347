"""The route table: paths in and out, and the scope each call needs."""

from __future__ import annotations

import pytest

from gateway.proxy import forwardable_request_headers, forwardable_response_headers
from gateway.routes import CUSTOMERS

CUSTOMER = "/api/v1/customers/6f1c"


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/customers", "customers:read"),
        ("HEAD", CUSTOMER, "customers:read"),
        ("GET", f"{CUSTOMER}/notes", "customers:read"),
        ("POST", "/api/v1/customers", "customers:write"),
        ("PATCH", CUSTOMER, "customers:write"),
        ("POST", f"{CUSTOMER}/notes", "customers:write"),
        ("DELETE", CUSTOMER, "customers:delete"),
        ("POST", f"{CUSTOMER}/restore", "customers:delete"),
        ("DELETE", "/api/v1/customers", None),
        ("OPTIONS", CUSTOMER, None),
    ],
)
def test_each_call_needs_its_scope(method: str, path: str, scope: str | None) -> None:
    assert CUSTOMERS.required_scope(method, path) == scope


def test_paths_map_to_the_service_and_back() -> None:
    assert CUSTOMERS.upstream_path(f"{CUSTOMER}/notes") == "/customers/6f1c/notes"
    assert CUSTOMERS.public_path("/customers/6f1c") == CUSTOMER
    assert CUSTOMERS.public_path("https://elsewhere.example/x") == "https://elsewhere.example/x"


def test_request_headers_lose_hop_by_hop_and_those_the_gateway_sets() -> None:
    kept = forwardable_request_headers(
        [
            ("Host", "gateway"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Authorization", "ApiKey clt_x"),
            ("X-API-Key", "clt_x"),
            ("If-Match", '"3"'),
            ("Idempotency-Key", "abc"),
            ("Content-Type", "application/json"),
        ]
    )
    assert kept == {"If-Match": '"3"', "Idempotency-Key": "abc", "Content-Type": "application/json"}


def test_response_headers_are_filtered_and_paths_made_public() -> None:
    kept = forwardable_response_headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", "10"),
            ("Connection", "close"),
            ("ETag", '"2"'),
            ("Location", "/customers/6f1c"),
            ("Link", '</customers?cursor=abc>; rel="next"'),
            ("Server", "gunicorn"),
        ],
        CUSTOMERS,
    )
    assert dict(kept) == {
        "Content-Type": "application/json",
        "ETag": '"2"',
        "Location": CUSTOMER,
        "Link": '</api/v1/customers?cursor=abc>; rel="next"',
    }
