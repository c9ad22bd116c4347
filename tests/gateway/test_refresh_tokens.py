"""Refresh tokens: rotation, reuse detection, concurrency, expiry, logout."""

from __future__ import annotations

import hashlib
import threading
import uuid

import jwt

from gateway.app import auth_components
from tests.support.clock import MovableClock


def _refresh(client, token):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def _logout(client, token):
    return client.post("/api/v1/auth/logout", json={"refresh_token": token})


def test_a_refresh_hands_out_a_new_pair_and_spends_the_old_token(client, login):
    first = login("agent")

    response = _refresh(client, first["refresh_token"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "customers:read customers:write search:read analytics:read nlp:read"
    assert _refresh(client, second["refresh_token"]).status_code == 200


def test_reusing_a_spent_token_revokes_the_whole_family(client, login):
    first = login("agent")
    second = _refresh(client, first["refresh_token"]).get_json()

    reuse = _refresh(client, first["refresh_token"])

    assert reuse.status_code == 401
    assert reuse.mimetype == "application/problem+json"
    # The legitimate holder's newer token dies with the family, and stays dead.
    assert _refresh(client, second["refresh_token"]).status_code == 401
    assert _refresh(client, second["refresh_token"]).status_code == 401


def test_a_revoked_family_leaves_the_users_other_sessions_alone(client, make_user, login):
    user = make_user("viewer")
    laptop = login(credentials=user)
    phone = login(credentials=user)
    _refresh(client, laptop["refresh_token"])

    assert _refresh(client, laptop["refresh_token"]).status_code == 401

    assert _refresh(client, phone["refresh_token"]).status_code == 200


def test_concurrent_refreshes_of_one_token_let_exactly_one_through(app, login):
    token = login("agent")["refresh_token"]
    contenders = 6
    barrier = threading.Barrier(contenders)
    statuses: list[int] = []
    lock = threading.Lock()

    def race() -> None:
        client = app.test_client()
        barrier.wait()
        status = _refresh(client, token).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=race) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200] + [401] * (contenders - 1)


def test_an_expired_refresh_token_is_refused(make_app):
    clock = MovableClock()
    app = make_app(clock=clock, refresh_token_ttl_seconds=3600)
    auth = auth_components(app)
    auth.accounts.create_user("brief", "a-long-enough-password", "viewer")
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"username": "brief", "password": "a-long-enough-password"}
    ).get_json()["refresh_token"]

    clock.advance(3600)

    response = _refresh(client, token)
    assert response.status_code == 401
    assert "expired" in response.get_json()["detail"]


def test_a_refresh_sees_a_changed_role(client, auth, make_user, login):
    user = make_user("agent")
    token = login(credentials=user)["refresh_token"]
    auth.accounts.update_user(uuid.UUID(user.id), role="viewer")

    answer = _refresh(client, token).get_json()

    assert answer["scope"] == "customers:read search:read analytics:read nlp:read"
    assert jwt.decode(answer["access_token"], options={"verify_signature": False})["role"] == (
        "viewer"
    )


def test_a_disabled_user_cannot_refresh(client, auth, make_user, login):
    user = make_user("agent")
    token = login(credentials=user)["refresh_token"]

    auth.accounts.update_user(uuid.UUID(user.id), disabled=True)

    assert _refresh(client, token).status_code == 401
    auth.accounts.update_user(uuid.UUID(user.id), disabled=False)
    assert _refresh(client, token).status_code == 401


def test_logout_ends_the_session_and_only_that_one(client, make_user, login):
    user = make_user("viewer")
    session = login(credentials=user)
    other = login(credentials=user)
    rotated = _refresh(client, session["refresh_token"]).get_json()

    response = _logout(client, rotated["refresh_token"])

    assert response.status_code == 204
    assert response.get_data() == b""
    assert _refresh(client, rotated["refresh_token"]).status_code == 401
    assert _refresh(client, other["refresh_token"]).status_code == 200


def test_logout_with_an_unknown_token_still_answers_204(client):
    assert _logout(client, "never-issued").status_code == 204


def test_refresh_tokens_are_stored_only_as_hashes(login, query):
    token = login("viewer")["refresh_token"]

    rows = query("SELECT token_hash FROM refresh_tokens")

    assert [bytes(row["token_hash"]) for row in rows] == [hashlib.sha256(token.encode()).digest()]
    dump = str(query("SELECT * FROM refresh_tokens")) + str(
        query("SELECT * FROM refresh_token_families")
    )
    assert token not in dump


def test_a_malformed_refresh_request_gets_422(client):
    response = client.post("/api/v1/auth/refresh", json={"token": "abc"})

    assert response.status_code == 422
    fields = {error["field"] for error in response.get_json()["errors"]}
    assert fields == {"refresh_token", "token"}
