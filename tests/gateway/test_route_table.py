"""The route table: paths in and out, and the scope each call needs, from the contracts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth.roles import rbac_tables_markdown
from gateway.edge.routes import MethodNotAllowedHere, Route, declared_routes, find_route
from gateway.edge.upstream import forwardable_request_headers, forwardable_response_headers
from shared.errors import NotFound
from shared.services import routed_services, service_named

CUSTOMERS = Route.of(service_named("customer"))

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
    ],
)
def test_each_call_needs_the_scope_the_service_contract_names(
    method: str, path: str, scope: str
) -> None:
    assert CUSTOMERS.operation(method, path).scope == scope


@pytest.mark.parametrize(
    ("method", "path", "problem"),
    [
        ("DELETE", "/api/v1/customers", MethodNotAllowedHere),
        ("OPTIONS", CUSTOMER, MethodNotAllowedHere),
        ("GET", f"{CUSTOMER}/secrets", NotFound),
        ("GET", "/api/v1/customers/healthz/x", NotFound),
    ],
)
def test_calls_the_contract_does_not_declare_are_never_forwarded(
    method: str, path: str, problem: type[Exception]
) -> None:
    with pytest.raises(problem):
        CUSTOMERS.operation(method, path)


def test_every_routed_service_in_the_declaration_has_a_route() -> None:
    routes = declared_routes()
    assert [route.service for route in routes] == [service.package for service in routed_services()]
    assert find_route(routes, "/api/v1/customers/x") == CUSTOMERS
    assert find_route(routes, "/api/v1/customersx") is None


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


def test_the_readme_rbac_tables_are_the_generated_ones() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    begin, end = "<!-- rbac:begin -->\n", "\n<!-- rbac:end -->"
    assert begin in readme
    assert end in readme
    documented = readme.split(begin, 1)[1].split(end, 1)[0]
    assert documented == rbac_tables_markdown(), (
        "README RBAC tables are stale: python -m gateway.auth.roles"
    )
