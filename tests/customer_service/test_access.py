"""Who may do what: 401 without a valid token, 403 without the scope, per route and role."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from werkzeug.test import TestResponse

from tests.customer_service.api_client import CustomerApi, new_customer, problem
from tests.support.tokens import TestIssuer

# (method, path template, scope it needs)
ROUTES = [
    ("GET", "/customers", "read"),
    ("POST", "/customers", "write"),
    ("GET", "/customers/{id}", "read"),
    ("PATCH", "/customers/{id}", "write"),
    ("DELETE", "/customers/{id}", "delete"),
    ("POST", "/customers/{id}/restore", "delete"),
    ("GET", "/customers/{id}/notes", "read"),
    ("POST", "/customers/{id}/notes", "write"),
]
ROLE_SCOPES = {"viewer": {"read"}, "agent": {"read", "write"}, "admin": {"read", "write", "delete"}}


def call(api: CustomerApi, method: str, path: str, headers: dict[str, str]) -> TestResponse:
    """One request with a harmless body where one is expected."""
    body = {"body": "hi"} if path.endswith("notes") else new_customer()
    if method == "PATCH":
        body = {"city": "York"}
    return api.client.open(
        path,
        method=method,
        json=body if method in ("POST", "PATCH") else None,
        headers={**headers, "If-Match": "*"} if method == "PATCH" else headers,
    )


@pytest.mark.parametrize(("method", "template", "scope"), ROUTES)
@pytest.mark.parametrize("role", ["viewer", "agent", "admin"])
def test_each_route_needs_its_scope(
    api: CustomerApi, method: str, template: str, scope: str, role: str
) -> None:
    customer = api.create_ok()
    if template.endswith("restore"):
        api.delete(customer["id"])
    path = template.format(id=customer["id"])

    response = call(api, method, path, api.issuer.headers(role))

    if scope in ROLE_SCOPES[role]:
        assert response.status_code < 400, response.get_json()
    else:
        assert "customers:" + scope in problem(response, 403)["detail"]


@pytest.mark.parametrize(("method", "template", "_scope"), ROUTES)
def test_every_route_refuses_a_missing_token(
    api: CustomerApi, method: str, template: str, _scope: str
) -> None:
    response = call(api, method, template.format(id=uuid.uuid4()), {})

    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _expired(issuer: TestIssuer) -> str:
    past = int(time.time()) - 3600
    return issuer.token(iat=past, nbf=past, exp=past + 60)


@pytest.mark.parametrize(
    "authorization",
    [
        lambda issuer: "Bearer not-a-jwt",
        lambda issuer: f"Basic {issuer.token()}",
        lambda issuer: f"Bearer {TestIssuer(kid=issuer.kid).token()}",
        lambda issuer: f"Bearer {issuer.token(aud='someone-else')}",
        lambda issuer: f"Bearer {_expired(issuer)}",
    ],
    ids=["garbage", "wrong-scheme", "forged-signature", "wrong-audience", "expired"],
)
def test_invalid_tokens_are_401(
    api: CustomerApi, authorization: Callable[[TestIssuer], str]
) -> None:
    response = api.client.get("/customers", headers={"Authorization": authorization(api.issuer)})

    problem(response, 401)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_operational_endpoints_need_no_token(api: CustomerApi, path: str) -> None:
    assert api.client.get(path).status_code == 200
