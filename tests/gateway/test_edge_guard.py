"""Secure and limited by default: every endpoint the gateway serves needs a principal and
counts against a limit, unless its contract entry declares it public."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import Flask

from gateway.apidocs import with_api_docs_pages
from gateway.app import CONTRACT_PATH
from gateway.console import with_console_pages
from shared.contract import Contract

#: What the guard checks: the API's contract and the pages declared public beside it.
GATEWAY_CONTRACT = with_api_docs_pages(with_console_pages(Contract.load(CONTRACT_PATH)))
_CONVERTER = re.compile(r"<(?:(?P<kind>[a-z]+):)?(?P<name>[a-z_]+)>")
CHECKED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _concrete(rule: str) -> str:
    """A path the rule matches: uuids for uuid converters, a plain word for the rest."""

    def fill(match: re.Match[str]) -> str:
        return str(uuid.uuid4()) if match["kind"] == "uuid" else "sample"

    return _CONVERTER.sub(fill, rule)


def _served(app: Flask) -> list[tuple[str, str]]:
    """Every (method, concrete path) the app's URL map serves."""
    return sorted(
        (method, _concrete(rule.rule))
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set())
        if method in CHECKED_METHODS
    )


def test_the_url_map_is_walked_whole(app):
    served = _served(app)
    # Each own operation of the contract and each forwarded prefix is in the walk.
    assert len(served) >= len([op for op in GATEWAY_CONTRACT.operations if op.method != "HEAD"])
    assert ("GET", "/api/v1/customers") in served


def test_every_endpoint_needs_credentials_unless_its_contract_says_public(app):
    client = app.test_client()
    for method, path in _served(app):
        operation = GATEWAY_CONTRACT.match(method, path)
        response = client.open(path, method=method, json={} if method != "GET" else None)
        if operation is not None and operation.public:
            assert response.status_code != 401, (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.mimetype == "application/problem+json"


def test_every_endpoint_counts_against_a_limit(app, auth_headers):
    client = app.test_client()
    admin = auth_headers("admin")
    for method, path in _served(app):
        operation = GATEWAY_CONTRACT.match(method, path)
        headers = {} if operation is not None and operation.public else admin
        response = client.open(
            path, method=method, headers=headers, json={} if method != "GET" else None
        )
        assert "RateLimit-Limit" in response.headers, (method, path, response.status_code)


def test_public_endpoints_are_limited_per_client_address(make_app):
    app = make_app(rate_limit_public="3/minute")
    client = app.test_client()
    answers = [client.get("/healthz", environ_base={"REMOTE_ADDR": "10.0.0.1"}) for _ in range(4)]
    other = client.get("/healthz", environ_base={"REMOTE_ADDR": "10.0.0.2"})

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert "Retry-After" in answers[-1].headers
    assert other.status_code == 200


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_a_view_added_without_a_contract_entry_is_closed(app, auth_headers, role):
    # What a contributor adding an endpoint and forgetting its contract entry gets.
    app.add_url_rule("/api/v1/auth/forgotten", "forgotten", lambda: {"secret": True})
    client = app.test_client()

    anonymous = client.get("/api/v1/auth/forgotten")
    signed_in = client.get("/api/v1/auth/forgotten", headers=auth_headers(role))

    assert anonymous.status_code == 401
    assert signed_in.status_code == 403
    assert "RateLimit-Limit" in signed_in.headers
    assert "not in the gateway's contract" in signed_in.get_json()["detail"]


def test_an_own_endpoint_needs_the_scope_its_contract_names(client, auth_headers):
    operation = GATEWAY_CONTRACT.match("GET", "/api/v1/auth/users")
    assert operation is not None
    assert operation.scope == "users:manage"

    assert client.get("/api/v1/auth/users", headers=auth_headers("agent")).status_code == 403
    assert client.get("/api/v1/auth/users", headers=auth_headers("admin")).status_code == 200


def test_unknown_paths_are_not_revealed_before_authentication(client, auth_headers):
    assert client.get("/api/v1/nothing-here").status_code == 401
    assert client.get("/api/v1/nothing-here", headers=auth_headers("admin")).status_code == 404


@pytest.mark.parametrize("path", ["//api/v1/customers", "/api/v1//auth/users", "//healthz"])
def test_doubled_slashes_are_not_redirected_to_the_host_the_client_names(client, path):
    response = client.get(path, headers={"Host": "evil.example"})

    assert response.status_code in (401, 404)
    assert "Location" not in response.headers
    assert response.mimetype == "application/problem+json"
