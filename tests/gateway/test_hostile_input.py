"""What a client can send never gets a 500: text that cannot be stored or encoded is a 422."""

from __future__ import annotations

import json

import pytest

LONE_SURROGATE = "\\ud800"  # as it appears in JSON text


def _post(client, path, body_text, headers=None):
    return client.post(
        path,
        data=body_text.encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@pytest.mark.parametrize(
    ("path", "template", "field"),
    [
        ("/api/v1/auth/token", '{"username": "X", "password": "long-enough-pw"}', "username"),
        ("/api/v1/auth/token", '{"username": "admin", "password": "X"}', "password"),
        ("/api/v1/auth/refresh", '{"refresh_token": "X"}', "refresh_token"),
        ("/api/v1/auth/logout", '{"refresh_token": "X"}', "refresh_token"),
    ],
)
def test_a_lone_surrogate_in_a_public_endpoint_is_a_422_naming_the_field(
    client, path, template, field
):
    response = _post(client, path, template.replace("X", f"a{LONE_SURROGATE}b"))

    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.get_json()["errors"]] == [field]
    assert "surrogate" in response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/auth/users",
            {"username": "newcomer", "password": "long-enough-X-password", "role": "viewer"},
            "password",
        ),
        ("/api/v1/auth/api-keys", {"name": "key X", "scopes": ["customers:read"]}, "name"),
    ],
)
def test_a_lone_surrogate_in_an_admin_endpoint_is_a_422_naming_the_field(
    client, auth_headers, path, body, field
):
    text = json.dumps(body).replace("X", LONE_SURROGATE)

    response = _post(client, path, text, auth_headers("admin"))

    assert response.status_code == 422, response.get_data(as_text=True)
    assert [error["field"] for error in response.get_json()["errors"]] == [field]


@pytest.mark.parametrize("name", ["\u200b", "\ufeff\u200d", "key\x1b[31m", "\u202ekey"])
def test_an_api_key_name_must_be_visible_text_without_controls(client, auth_headers, name):
    response = client.post(
        "/api/v1/auth/api-keys",
        json={"name": name, "scopes": ["customers:read"]},
        headers=auth_headers("admin"),
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == ["name"]
