"""Logging in with a username and password."""

from __future__ import annotations

import time

import jwt
import pytest

from gateway.app import auth_components
from gateway.auth.signing import JWT_TYPE


def _login(client, username, password):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_login_answers_an_access_and_a_refresh_token(client, make_user):
    user = make_user("agent")

    response = _login(client, user.username, user.password)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "customers:read customers:write search:read analytics:read nlp:read"
    assert len(body["refresh_token"]) >= 43
    assert response.headers["Cache-Control"] == "no-store"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["typ"] == JWT_TYPE


def test_usernames_match_whatever_their_case(client, make_user):
    user = make_user("viewer", username="Grace.Hopper")

    assert _login(client, "grace.hopper", user.password).status_code == 200
    assert _login(client, "GRACE.HOPPER", user.password).status_code == 200


def test_wrong_password_unknown_user_and_disabled_user_look_the_same(client, make_user, auth):
    user = make_user("agent")
    disabled = make_user("agent")
    auth.accounts.update_user(__import__("uuid").UUID(disabled.id), disabled=True)

    answers = [
        _login(client, user.username, "not-the-password"),
        _login(client, "nobody-by-that-name", "whatever-password"),
        _login(client, disabled.username, disabled.password),
    ]

    assert [answer.status_code for answer in answers] == [401, 401, 401]
    bodies = [answer.get_json() for answer in answers]
    assert all(answer.mimetype == "application/problem+json" for answer in answers)
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["detail"] == "Invalid username or password"


def test_a_login_with_changed_hash_parameters_upgrades_the_stored_hash(make_app, make_user, query):
    user = make_user("viewer")
    (before,) = query("SELECT password_hash FROM users WHERE id = %s", (user.id,))
    assert "m=8,t=1,p=1" in before["password_hash"]
    stronger = make_app(password_hash_time_cost=2, password_hash_memory_kib=16)

    response = _login(stronger.test_client(), user.username, user.password)

    assert response.status_code == 200
    (after,) = query("SELECT password_hash FROM users WHERE id = %s", (user.id,))
    assert after["password_hash"].startswith("$argon2id$")
    assert "m=16,t=2,p=1" in after["password_hash"]
    assert _login(stronger.test_client(), user.username, user.password).status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "status", "expected"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "Malformed JSON"),
        ({"data": "username=a&password=b", "content_type": "text/plain"}, 415, "text/plain"),
        ({"json": ["username", "password"]}, 422, "body"),
        ({"json": {"username": "someone"}}, 422, "password"),
        ({"json": {"username": "a", "password": "b", "remember": True}}, 422, "remember"),
        ({"json": {"username": 7, "password": "secret"}}, 422, "username"),
    ],
)
def test_bad_login_requests_get_a_problem_naming_what_is_wrong(client, kwargs, status, expected):
    response = client.post("/api/v1/auth/token", **kwargs)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert expected in response.get_data(as_text=True)


def test_an_oversized_body_is_refused_with_413(make_app):
    client = make_app(max_body_bytes=1024).test_client()

    response = client.post("/api/v1/auth/token", json={"username": "a", "password": "x" * 2048})

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_a_nul_character_is_refused_not_a_crash(client):
    response = client.post(
        "/api/v1/auth/token",
        data='{"username": "a\\u0000b", "password": "whatever"}',
        content_type="application/json",
    )

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "username"


def test_guesses_spread_over_addresses_still_slow_the_account_down(make_app, make_user):
    # 12 wrong passwords from 4 addresses, then the right one: refused for now.
    app = make_app(rate_limit_login_failures="10 per 15 minutes")
    user = auth_components(app).accounts.create_user("target-user", "the-right-password-1", "admin")
    client = app.test_client()

    def attempt(password: str, address: str):
        return client.post(
            "/api/v1/auth/token",
            json={"username": "TARGET-user", "password": password},
            environ_base={"REMOTE_ADDR": address},
        )

    wrong = [attempt("wrong-guess-pw", f"10.0.0.{index % 4}").status_code for index in range(12)]
    right = attempt("the-right-password-1", "10.0.0.99")

    assert wrong == [401] * 10 + [429, 429]
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    assert user.username == "target-user"


def test_an_account_slowed_down_recovers_when_its_window_moves_on(make_app):
    app = make_app(rate_limit_login_failures="2 per 1 second")
    auth_components(app).accounts.create_user("comes-back", "the-right-password-2", "viewer")
    client = app.test_client()
    body = {"username": "comes-back", "password": "wrong-guess-pw"}
    assert [client.post("/api/v1/auth/token", json=body).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]

    # The sliding window weighs the previous second too: two seconds clear it.
    time.sleep(2.1)

    good = client.post(
        "/api/v1/auth/token", json={"username": "comes-back", "password": "the-right-password-2"}
    )
    assert good.status_code == 200


def test_other_accounts_are_not_slowed_by_one_under_attack(make_app, make_user):
    app = make_app(rate_limit_login_failures="2 per 15 minutes")
    bystander = make_user("viewer")
    client = app.test_client()
    for _ in range(3):
        client.post("/api/v1/auth/token", json={"username": "victim", "password": "wrong-pw-x"})

    assert (
        client.post(
            "/api/v1/auth/token",
            json={"username": bystander.username, "password": bystander.password},
        ).status_code
        == 200
    )
