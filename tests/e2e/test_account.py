"""A user's own account through the real gateway: who am I, and changing one's password."""

from __future__ import annotations

import uuid

import requests

from gateway.auth.roles import ROLE_SCOPES
from tests.e2e.conftest import Stack

NEW_PASSWORD = "copper-meadow-silently-41-kites"


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _new_agent(stack: Stack) -> tuple[str, str]:
    username, password = f"account-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    created = requests.post(
        f"{stack.api}/auth/users",
        json={"username": username, "password": password, "role": "agent"},
        headers=stack.headers("admin"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return username, password


def test_me_says_who_the_caller_is_and_what_it_may_do(stack: Stack) -> None:
    username, password = _new_agent(stack)
    tokens = stack.login(username, password)

    me = requests.get(f"{stack.api}/auth/me", headers=_bearer(tokens), timeout=10)

    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["username"], body["role"], body["kind"]) == (username, "agent", "user")
    assert body["scopes"] == sorted(ROLE_SCOPES["agent"])
    assert {entry["scope"] for entry in body["allowed"]} == set(body["scopes"])
    assert me.headers["Cache-Control"] == "no-store"


def test_changing_one_s_password_ends_the_other_sessions_only(stack: Stack) -> None:
    username, password = _new_agent(stack)
    here = stack.login(username, password)
    elsewhere = stack.login(username, password)

    changed = requests.post(
        f"{stack.api}/auth/password",
        json={"current_password": password, "new_password": NEW_PASSWORD},
        headers=_bearer(here),
        timeout=10,
    )

    assert changed.status_code == 204, changed.text
    refresh = f"{stack.api}/auth/refresh"
    ended = requests.post(refresh, json={"refresh_token": elsewhere["refresh_token"]}, timeout=10)
    assert ended.status_code == 401
    kept = requests.post(refresh, json={"refresh_token": here["refresh_token"]}, timeout=10)
    assert kept.status_code == 200
    # The kept session's new token, carrying its session id, is a token every service takes.
    customers = requests.get(f"{stack.api}/customers", headers=_bearer(kept.json()), timeout=10)
    assert customers.status_code == 200
    old = requests.post(
        f"{stack.api}/auth/token", json={"username": username, "password": password}, timeout=10
    )
    assert old.status_code == 401
    assert stack.login(username, NEW_PASSWORD)["access_token"]


def test_a_wrong_current_password_is_a_problem_naming_it(stack: Stack) -> None:
    username, password = _new_agent(stack)
    tokens = stack.login(username, password)

    refused = requests.post(
        f"{stack.api}/auth/password",
        json={"current_password": "not-" + password, "new_password": NEW_PASSWORD},
        headers=_bearer(tokens),
        timeout=10,
    )

    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in refused.json()["errors"]] == ["current_password"]
    assert stack.login(username, password)["access_token"]
