"""Every public route for every role, through the gateway (the README's RBAC table)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests

from tests.e2e.conftest import ROLES, Stack, create_customer


@dataclass(frozen=True)
class Call:
    """One route, the roles allowed on it and the status they get."""

    name: str
    allowed: frozenset[str]
    success: int
    send: Callable[[Stack, dict[str, str]], requests.Response]


def _customer_url(stack: Stack, suffix: str = "") -> str:
    return f"{stack.api}/customers/{create_customer(stack)['id']}{suffix}"


def _deleted_customer_url(stack: Stack) -> str:
    url = _customer_url(stack)
    assert requests.delete(url, headers=stack.headers("admin"), timeout=10).status_code == 204
    return url


def _patch(stack: Stack, headers: dict[str, str]) -> requests.Response:
    url = _customer_url(stack)
    etag = requests.get(url, headers=stack.headers("admin"), timeout=10).headers["ETag"]
    return requests.patch(
        url, json={"city": "Paris"}, headers={**headers, "If-Match": etag}, timeout=10
    )


def _new_user_body() -> dict[str, str]:
    return {
        "username": f"user-{uuid.uuid4().hex[:8]}",
        "password": "a-long-password-1",
        "role": "viewer",
    }


def _user_url(stack: Stack) -> str:
    response = requests.post(
        f"{stack.api}/auth/users", json=_new_user_body(), headers=stack.headers("admin"), timeout=10
    )
    assert response.status_code == 201, response.text
    return f"{stack.api}/auth/users/{response.json()['id']}"


def _api_key_url(stack: Stack) -> str:
    response = requests.post(
        f"{stack.api}/auth/api-keys",
        json={"name": "matrix", "scopes": ["customers:read"]},
        headers=stack.headers("admin"),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return f"{stack.api}/auth/api-keys/{response.json()['id']}"


READ = frozenset(ROLES)
WRITE = frozenset({"agent", "admin"})
ADMIN = frozenset({"admin"})

CALLS = [
    Call(
        "list customers",
        READ,
        200,
        lambda s, h: requests.get(f"{s.api}/customers", headers=h, timeout=10),
    ),
    Call(
        "create customer",
        WRITE,
        201,
        lambda s, h: requests.post(
            f"{s.api}/customers",
            json={"name": "Matrix", "email": f"m-{uuid.uuid4().hex[:10]}@example.com"},
            headers=h,
            timeout=10,
        ),
    ),
    Call(
        "read customer",
        READ,
        200,
        lambda s, h: requests.get(_customer_url(s), headers=h, timeout=10),
    ),
    Call("update customer", WRITE, 200, _patch),
    Call(
        "delete customer",
        ADMIN,
        204,
        lambda s, h: requests.delete(_customer_url(s), headers=h, timeout=10),
    ),
    Call(
        "restore customer",
        ADMIN,
        200,
        lambda s, h: requests.post(f"{_deleted_customer_url(s)}/restore", headers=h, timeout=10),
    ),
    Call(
        "add note",
        WRITE,
        201,
        lambda s, h: requests.post(
            _customer_url(s, "/notes"), json={"body": "hi"}, headers=h, timeout=10
        ),
    ),
    Call(
        "list notes",
        READ,
        200,
        lambda s, h: requests.get(_customer_url(s, "/notes"), headers=h, timeout=10),
    ),
    Call(
        "create user",
        ADMIN,
        201,
        lambda s, h: requests.post(
            f"{s.api}/auth/users", json=_new_user_body(), headers=h, timeout=10
        ),
    ),
    Call(
        "list users",
        ADMIN,
        200,
        lambda s, h: requests.get(f"{s.api}/auth/users", headers=h, timeout=10),
    ),
    Call(
        "update user",
        ADMIN,
        200,
        lambda s, h: requests.patch(_user_url(s), json={"role": "agent"}, headers=h, timeout=10),
    ),
    Call(
        "create api key",
        ADMIN,
        201,
        lambda s, h: requests.post(
            f"{s.api}/auth/api-keys",
            json={"name": "k", "scopes": ["customers:read"]},
            headers=h,
            timeout=10,
        ),
    ),
    Call(
        "list api keys",
        ADMIN,
        200,
        lambda s, h: requests.get(f"{s.api}/auth/api-keys", headers=h, timeout=10),
    ),
    Call(
        "revoke api key",
        ADMIN,
        204,
        lambda s, h: requests.delete(_api_key_url(s), headers=h, timeout=10),
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
def test_route_by_role(stack: Stack, call: Call, role: str) -> None:
    response = call.send(stack, stack.headers(role))
    if role in call.allowed:
        assert response.status_code == call.success, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
def test_route_without_a_token_is_401(stack: Stack, call: Call) -> None:
    response = call.send(stack, {})
    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
