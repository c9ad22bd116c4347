"""API keys and signing key rotation, seen from a client and from a service."""

from __future__ import annotations

import time

import jwt
import requests

from tests.e2e.conftest import Stack, create_customer


def test_an_api_key_reaches_the_service_with_its_own_scopes_until_revoked(stack: Stack) -> None:
    created = requests.post(
        f"{stack.api}/auth/api-keys",
        json={"name": "reporting", "scopes": ["customers:read"]},
        headers=stack.headers("admin"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    customer = create_customer(stack)

    read = requests.get(
        f"{stack.api}/customers/{customer['id']}",
        headers={"Authorization": f"ApiKey {key}"},
        timeout=10,
    )
    assert read.status_code == 200, read.text
    listed = requests.get(f"{stack.api}/customers", headers={"X-API-Key": key}, timeout=10)
    assert listed.status_code == 200
    write = requests.post(
        f"{stack.api}/customers",
        json={"name": "Nope", "email": "nope@example.com"},
        headers={"X-API-Key": key},
        timeout=10,
    )
    assert write.status_code == 403

    revoked = requests.delete(
        f"{stack.api}/auth/api-keys/{key_id}", headers=stack.headers("admin"), timeout=10
    )
    assert revoked.status_code == 204
    refused = requests.get(f"{stack.api}/customers", headers={"X-API-Key": key}, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def _published_kids(stack: Stack) -> set[str]:
    jwks = requests.get(f"{stack.gateway.url}/.well-known/jwks.json", timeout=10).json()
    return {key["kid"] for key in jwks["keys"]}


def test_rotating_the_signing_key_logs_nobody_out(stack_for_test) -> None:
    # The new key is published before it signs: longer than a gateway worker's key
    # cache (which may serve the old JWKS that long) plus the services' JWKS cooldown.
    stack = stack_for_test(
        {"JWT_KEY_ACTIVATION_DELAY_SECONDS": "6", "SIGNING_KEY_CACHE_SECONDS": "1"},
        only=("customer",),
    )
    old_token = stack.tokens["agent"]
    rotate = f"{stack.api}/auth/signing-keys/rotate"
    # Only admins rotate (this route is left out of the shared RBAC matrix: a rotation
    # there would change the key under every other test of the session).
    assert requests.post(rotate, timeout=10).status_code == 401
    for role in ("viewer", "agent"):
        assert requests.post(rotate, headers=stack.headers(role), timeout=10).status_code == 403
    rotated = requests.post(
        f"{stack.api}/auth/signing-keys/rotate", headers=stack.headers("admin"), timeout=10
    )
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    assert new_kid != _kid(old_token)
    # Another gateway worker may still hold the old key list for one cache period.
    expected = {new_kid, _kid(old_token)}
    deadline = time.monotonic() + 3
    published = _published_kids(stack)
    while not expected <= published and time.monotonic() < deadline:
        time.sleep(0.2)
        published = _published_kids(stack)
    assert expected <= published

    username, password = stack.users["agent"]
    deadline = time.monotonic() + 15
    new_token = stack.login(username, password)["access_token"]
    while _kid(new_token) != new_kid and time.monotonic() < deadline:
        time.sleep(0.5)
        new_token = stack.login(username, password)["access_token"]
    assert _kid(new_token) == new_kid

    for token in (old_token, new_token):
        headers = {"Authorization": f"Bearer {token}"}
        through_gateway = requests.get(f"{stack.api}/customers", headers=headers, timeout=10)
        direct = requests.get(f"{stack.customer.url}/customers", headers=headers, timeout=10)
        assert (through_gateway.status_code, direct.status_code) == (200, 200)
