"""A caller's own account: who am I (``/auth/me``), and changing one's own password."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from gateway.app import CONTRACT_PATH
from gateway.auth.errors import CurrentPasswordWrong
from gateway.auth.roles import ROLE_SCOPES, ROLES, SCOPES, scope_descriptions
from shared.contract import load_document

ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
NEW_PASSWORD = "violet-harbour-quietly-87-lanterns"


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def refresh(client, tokens: dict[str, Any]):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


def login_as(client, username: str, password: str):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


# --- who am I ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_me_names_the_user_and_every_scope_the_role_grants_with_what_it_allows(
    client, make_user, login, role
):
    user = make_user(role)

    response = client.get(ME, headers=bearer(login(credentials=user)))

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == user.id
    assert body["username"] == user.username
    assert body["role"] == role
    assert body["kind"] == "user"
    assert body["scopes"] == sorted(ROLE_SCOPES[role])
    descriptions = scope_descriptions()
    assert [entry["scope"] for entry in body["allowed"]] == body["scopes"]
    for entry in body["allowed"]:
        assert entry["description"].lower() == descriptions[entry["scope"]].lower()
        assert entry["description"][0].isupper()


def test_me_reads_the_role_as_stored_now_not_as_the_token_says(client, make_user, login, auth):
    user = make_user("viewer")
    tokens = login(credentials=user)
    auth.accounts.update_user(auth.accounts.get_user_by_username(user.username).id, role="agent")

    body = client.get(ME, headers=bearer(tokens)).get_json()

    assert body["role"] == "agent"
    assert "customers:write" in body["scopes"]


def test_me_refuses_a_user_disabled_since_the_token_was_issued(client, make_user, login, auth):
    user = make_user("agent")
    tokens = login(credentials=user)
    auth.accounts.update_user(auth.accounts.get_user_by_username(user.username).id, disabled=True)

    response = client.get(ME, headers=bearer(tokens))

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("account-disabled")


def test_me_describes_an_api_key_by_its_name_and_own_scopes(client, auth):
    created = auth.api_keys.create("nightly export", ["search:read", "customers:read"])

    response = client.get(ME, headers={"X-API-Key": created.key})

    assert response.status_code == 200
    assert response.get_json() == {
        "id": str(created.record.id),
        "username": "nightly export",
        "role": "api_key",
        "kind": "api_key",
        "scopes": ["customers:read", "search:read"],
        "allowed": [
            {"scope": "customers:read", "description": "Read customers and their notes"},
            {"scope": "search:read", "description": "Search customers and get suggestions"},
        ],
    }


def test_me_needs_credentials(client):
    response = client.get(ME)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_signing_in_grants_the_account_scope_no_token_carries(client, login, auth):
    tokens = login("viewer")

    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})

    assert "account:self" not in claims["scope"].split()
    assert "account:self" not in tokens["scope"].split()
    refused = client.post(
        "/api/v1/auth/api-keys",
        json={"name": "self", "scopes": ["account:self"]},
        headers={"Authorization": f"Bearer {login('admin')['access_token']}"},
    )
    assert refused.status_code == 422


# --- changing one's own password -----------------------------------------------------------


def test_a_password_change_keeps_this_session_and_ends_the_others(client, make_user, login):
    user = make_user("agent")
    here = login(credentials=user)
    elsewhere = login(credentials=user)

    response = client.post(
        PASSWORD,
        json={"current_password": user.password, "new_password": NEW_PASSWORD},
        headers=bearer(here),
    )

    assert response.status_code == 204
    assert response.data == b""
    assert login_as(client, user.username, user.password).status_code == 401
    assert login_as(client, user.username, NEW_PASSWORD).status_code == 200
    assert refresh(client, elsewhere).status_code == 401
    kept = refresh(client, here)
    assert kept.status_code == 200
    # The next token of the kept session is still of that session.
    sid = jwt.decode(here["access_token"], options={"verify_signature": False})["sid"]
    next_token = kept.get_json()["access_token"]
    assert jwt.decode(next_token, options={"verify_signature": False})["sid"] == sid


def test_a_token_naming_no_session_ends_every_session(client, make_user, login, auth):
    user = make_user("agent")
    session = login(credentials=user)
    stored = auth.accounts.get_user_by_username(user.username)
    sessionless = auth.issuer.token_for_user(stored).token

    response = client.post(
        PASSWORD,
        json={"current_password": user.password, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {sessionless}"},
    )

    assert response.status_code == 204
    assert refresh(client, session).status_code == 401


def test_a_wrong_current_password_is_refused_naming_it_and_changes_nothing(
    client, make_user, login
):
    user = make_user("viewer")
    tokens = login(credentials=user)

    response = client.post(
        PASSWORD,
        json={"current_password": "not-the-password", "new_password": NEW_PASSWORD},
        headers=bearer(tokens),
    )

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.get_json()["errors"]] == ["current_password"]
    assert login_as(client, user.username, user.password).status_code == 200
    assert refresh(client, tokens).status_code == 200


def test_wrong_current_passwords_count_as_failed_logins_of_the_account(make_app, make_user):
    app = make_app(rate_limit_login_failures="2 per 15 minutes")
    client = app.test_client()
    user = make_user("agent")
    tokens = login_as(client, user.username, user.password).get_json()
    wrong = {"current_password": "guess-number-one", "new_password": NEW_PASSWORD}

    answers = [client.post(PASSWORD, json=wrong, headers=bearer(tokens)).status_code for _ in "ab"]

    assert answers == [422, 422]
    # The account's failures are spent: the right password waits too, here and at login.
    right = {"current_password": user.password, "new_password": NEW_PASSWORD}
    throttled = client.post(PASSWORD, json=right, headers=bearer(tokens))
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    assert login_as(client, user.username, user.password).status_code == 429


def test_password_changes_are_limited_per_caller_like_logins(make_app, make_user):
    app = make_app(rate_limit_auth="2/minute")
    client = app.test_client()
    user = make_user("agent")
    tokens = login_as(client, user.username, user.password).get_json()  # counts too
    wrong = {"current_password": "guess-number-one", "new_password": NEW_PASSWORD}

    first = client.post(PASSWORD, json=wrong, headers=bearer(tokens))
    second = client.post(PASSWORD, json=wrong, headers=bearer(tokens))
    third = client.post(PASSWORD, json=wrong, headers=bearer(tokens))

    assert first.headers["RateLimit-Limit"] == "2"
    assert [first.status_code, second.status_code, third.status_code] == [422, 422, 429]


@pytest.mark.parametrize(
    ("new_password", "code"),
    [
        ("short", "too_short"),
        ("password1234", "password_guessable"),
        ("\u200b" * 12, "password_blank"),
    ],
)
def test_the_new_password_meets_the_policy_and_errors_name_it(
    client, make_user, login, new_password, code
):
    user = make_user("agent")
    tokens = login(credentials=user)

    response = client.post(
        PASSWORD,
        json={"current_password": user.password, "new_password": new_password},
        headers=bearer(tokens),
    )

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [error["field"] for error in errors] == ["new_password"]
    assert errors[0]["code"].endswith(code)
    assert login_as(client, user.username, user.password).status_code == 200


def test_the_username_makes_a_new_password_guessable(client, make_user, login):
    user = make_user("agent", username="margaret.hamilton")
    tokens = login(credentials=user)

    response = client.post(
        PASSWORD,
        json={"current_password": user.password, "new_password": "margaret.hamilton1"},
        headers=bearer(tokens),
    )

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "new_password"


def test_the_new_password_must_differ_from_the_current_one(client, make_user, login, auth):
    user = make_user("agent")
    auth.accounts.update_user(
        auth.accounts.get_user_by_username(user.username).id, password=NEW_PASSWORD
    )
    tokens = login_as(client, user.username, NEW_PASSWORD).get_json()

    response = client.post(
        PASSWORD,
        json={"current_password": NEW_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(tokens),
    )

    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.get_json()["errors"]] == [
        ("new_password", "password_unchanged")
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"new_password": NEW_PASSWORD},
        {"current_password": "x"},
        {"current_password": "x", "new_password": NEW_PASSWORD, "username": "someone"},
    ],
)
def test_a_malformed_change_is_refused_naming_the_field(client, login, body):
    response = client.post(PASSWORD, json=body, headers=bearer(login("agent")))

    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_an_api_key_has_no_password_to_change(client, auth):
    created = auth.api_keys.create("robot", ["customers:read"])

    response = client.post(
        PASSWORD,
        json={"current_password": "anything-at-all", "new_password": NEW_PASSWORD},
        headers={"X-API-Key": created.key},
    )

    assert response.status_code == 403
    assert response.get_json()["type"].endswith("no-password")


def test_a_password_change_needs_credentials(client):
    response = client.post(
        PASSWORD, json={"current_password": "whatever-it-is", "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 401


def test_a_change_made_meanwhile_wins_over_a_stale_current_password(make_user, auth):
    user = make_user("agent")
    read_before = auth.accounts.get_user_by_username(user.username)
    auth.accounts.update_user(read_before.id, password="another-admin-set-password-42")

    with pytest.raises(CurrentPasswordWrong):
        auth.accounts.change_own_password(
            read_before, user.password, NEW_PASSWORD, kept_session=None
        )

    assert auth.accounts.authenticate(user.username, "another-admin-set-password-42")


def test_the_contract_lists_every_scope_a_key_may_hold():
    document = load_document(CONTRACT_PATH)

    assert document["components"]["schemas"]["Scope"]["enum"] == list(SCOPES)
