"""Managing users: create, list, change role, disable, reset password."""

from __future__ import annotations

import pytest

USERS = "/api/v1/auth/users"
NO_SUCH_USER = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def admin(auth_headers):
    return auth_headers("admin")


def _login(client, username, password):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_an_admin_creates_a_user_who_can_then_log_in(client, admin):
    response = client.post(
        USERS,
        json={"username": "ada.lovelace", "password": "analytical-engine", "role": "agent"},
        headers=admin,
    )

    assert response.status_code == 201
    user = response.get_json()
    assert set(user) == {"id", "username", "role", "disabled", "created_at"}
    assert user["username"] == "ada.lovelace"
    assert user["role"] == "agent"
    assert user["disabled"] is False
    assert response.headers["Location"] == f"{USERS}/{user['id']}"
    assert client.get(response.headers["Location"], headers=admin).get_json() == user
    login = _login(client, "ada.lovelace", "analytical-engine")
    assert login.status_code == 200
    assert (
        login.get_json()["scope"]
        == "customers:read customers:write search:read analytics:read nlp:read"
    )


def test_usernames_are_unique_whatever_their_case(client, admin):
    body = {"username": "Alan", "password": "enigma-machine", "role": "viewer"}
    assert client.post(USERS, json=body, headers=admin).status_code == 201

    response = client.post(USERS, json={**body, "username": "alan"}, headers=admin)

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert "taken" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": "ok-name", "password": "too-short", "role": "agent"}, {"password"}),
        ({"username": "x", "password": "long-enough-pass", "role": "agent"}, {"username"}),
        ({"username": "has space", "password": "long-enough-pass", "role": "agent"}, {"username"}),
        ({"username": "ok-name", "password": "long-enough-pass", "role": "root"}, {"role"}),
        ({"username": "ok-name", "password": "long-enough-pass"}, {"role"}),
        (
            {"username": "ok-name", "password": "long-enough-pass", "role": "agent", "admin": 1},
            {"admin"},
        ),
    ],
)
def test_invalid_users_get_422_naming_each_field(client, admin, body, fields):
    response = client.post(USERS, json=body, headers=admin)

    assert response.status_code == 422
    assert {error["field"] for error in response.get_json()["errors"]} == fields


def test_the_list_shows_every_user_without_password_hashes(client, admin, make_user):
    viewer = make_user("viewer", username="zed")

    response = client.get(USERS, headers=admin)

    assert response.status_code == 200
    users = response.get_json()["items"]
    assert viewer.username in [user["username"] for user in users]
    assert len(users) == 2
    assert all("password" not in key for user in users for key in user)


def test_a_role_change_shows_in_the_next_login(client, admin, make_user):
    user = make_user("viewer")

    response = client.patch(f"{USERS}/{user.id}", json={"role": "agent"}, headers=admin)

    assert response.status_code == 200
    assert response.get_json()["role"] == "agent"
    login = _login(client, user.username, user.password).get_json()
    assert login["scope"] == "customers:read customers:write search:read analytics:read nlp:read"


def test_disabling_a_user_ends_their_sessions_and_logins(client, admin, make_user, login):
    user = make_user("agent")
    session = login(credentials=user)

    response = client.patch(f"{USERS}/{user.id}", json={"disabled": True}, headers=admin)

    assert response.status_code == 200
    assert response.get_json()["disabled"] is True
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401
    assert _login(client, user.username, user.password).status_code == 401
    client.patch(f"{USERS}/{user.id}", json={"disabled": False}, headers=admin)
    assert _login(client, user.username, user.password).status_code == 200


def test_a_new_password_replaces_the_old_one_and_ends_sessions(client, admin, make_user, login):
    user = make_user("viewer")
    session = login(credentials=user)

    response = client.patch(
        f"{USERS}/{user.id}", json={"password": "a-brand-new-password"}, headers=admin
    )

    assert response.status_code == 200
    assert _login(client, user.username, user.password).status_code == 401
    assert _login(client, user.username, "a-brand-new-password").status_code == 200
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(client, make_user, login):
    only_admin = make_user("admin")
    headers = {"Authorization": f"Bearer {login(credentials=only_admin)['access_token']}"}

    demote = client.patch(f"{USERS}/{only_admin.id}", json={"role": "agent"}, headers=headers)
    disable = client.patch(f"{USERS}/{only_admin.id}", json={"disabled": True}, headers=headers)

    assert demote.status_code == 409
    assert disable.status_code == 409
    assert "admin" in demote.get_json()["detail"]
    second = make_user("admin")
    response = client.patch(f"{USERS}/{second.id}", json={"disabled": True}, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"disabled": "yes"}, "disabled"),
        ({"role": "superuser"}, "role"),
        ({"password": "short"}, "password"),
        ({"username": "renamed"}, "username"),
    ],
)
def test_invalid_changes_get_422(client, admin, make_user, body, field):
    user = make_user("viewer")

    response = client.patch(f"{USERS}/{user.id}", json=body, headers=admin)

    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == [field]


def test_unknown_users_are_404(client, admin):
    assert client.get(f"{USERS}/{NO_SUCH_USER}", headers=admin).status_code == 404
    response = client.patch(f"{USERS}/{NO_SUCH_USER}", json={"role": "agent"}, headers=admin)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_user_management_needs_users_manage(client, auth_headers, make_user):
    target = make_user("viewer")
    body = {"username": "someone", "password": "long-enough-pass", "role": "viewer"}

    for headers, status in [({}, 401), (auth_headers("agent"), 403), (auth_headers("viewer"), 403)]:
        assert client.get(USERS, headers=headers).status_code == status
        assert client.post(USERS, json=body, headers=headers).status_code == status
        patch = client.patch(f"{USERS}/{target.id}", json={"role": "admin"}, headers=headers)
        assert patch.status_code == status
        assert patch.mimetype == "application/problem+json"


def test_a_garbled_or_unknown_credential_is_401(client):
    for authorization in ["Bearer not.a.jwt", "Basic YWRtaW46YWRtaW4=", "Bearer"]:
        response = client.get(USERS, headers={"Authorization": authorization})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
