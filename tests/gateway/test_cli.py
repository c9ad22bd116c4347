"""The operator commands, run as an operator runs them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _login(client, username, password):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_ensure_admin_creates_one_admin_and_shows_its_password_once(run_cli, client):
    first = run_cli("ensure-admin")

    assert first.returncode == 0, first.stderr
    password = re.search(r"password \(shown once, store it now\): (\S+)", first.stdout)
    assert password is not None
    login = _login(client, "admin", password.group(1))
    assert login.status_code == 200
    assert "users:manage" in login.get_json()["scope"]

    second = run_cli("ensure-admin")

    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("admin exists")
    assert password.group(1) not in second.stdout + second.stderr


def test_ensure_admin_uses_the_configured_name_and_password(run_cli, client):
    result = run_cli("ensure-admin", ADMIN_USERNAME="root", ADMIN_PASSWORD="configured-password")

    assert result.returncode == 0, result.stderr
    assert "configured-password" not in result.stdout
    assert "shown once" not in result.stdout
    assert _login(client, "root", "configured-password").status_code == 200


def test_ensure_admin_refuses_a_weak_configured_password(run_cli, client):
    result = run_cli("ensure-admin", ADMIN_PASSWORD="short")

    assert result.returncode == 1
    assert "password" in result.stderr
    assert _login(client, "admin", "short").status_code == 401


def test_create_user_reads_the_password_from_the_named_variable(run_cli, client):
    result = run_cli(
        "create-user", "Margaret", "--role", "viewer", "--password-env", "NEW_PASSWORD",
        NEW_PASSWORD="apollo-guidance",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "created user 'Margaret' with role viewer" in result.stdout
    scope = _login(client, "margaret", "apollo-guidance").get_json()["scope"]
    assert scope == "customers:read search:read analytics:read nlp:read"

    again = run_cli(
        "create-user", "MARGARET", "--role", "agent", "--password-env", "NEW_PASSWORD",
        NEW_PASSWORD="apollo-guidance",
    )  # fmt: skip
    assert again.returncode == 1
    assert "taken" in again.stderr


def test_rotate_signing_key_publishes_the_new_key(run_cli, make_app):
    # Another process: it sees the new key once its short key cache expires; here at once.
    client = make_app(signing_key_cache_seconds=0).test_client()
    old_kid = client.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]

    result = run_cli("rotate-signing-key")

    assert result.returncode == 0, result.stderr
    announced = re.search(r"new signing key (\S+) signs from", result.stdout)
    assert announced is not None
    new_kid = announced.group(1)
    assert f"key {old_kid} leaves the JWKS at" in result.stdout
    kids = {key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert kids == {old_kid, new_kid}


def test_an_unreachable_database_is_explained_not_a_traceback(run_cli):
    result = run_cli(
        "ensure-admin",
        GATEWAY_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/clientele_no_such_database",
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "python -m shared.migrations gateway" in result.stderr


def test_reset_password_sets_it_and_ends_the_users_sessions(run_cli, client, make_user):
    user = make_user("agent")
    session = _login(client, user.username, user.password).get_json()

    result = run_cli(
        "reset-password", user.username.upper(), "--password-env", "FRESH",
        FRESH="a-brand-new-password",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "sessions are ended" in result.stdout
    assert _login(client, user.username, user.password).status_code == 401
    assert _login(client, user.username, "a-brand-new-password").status_code == 200
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 401


def test_reset_password_can_generate_one_and_shows_it_once(run_cli, client, make_user):
    user = make_user("viewer")

    result = run_cli("reset-password", user.username, "--generate")

    assert result.returncode == 0, result.stderr
    password = re.search(r"shown once, store it now\): (\S+)", result.stdout).group(1)
    assert _login(client, user.username, password).status_code == 200


def test_reset_password_of_nobody_is_refused_clearly(run_cli):
    result = run_cli("reset-password", "nobody-here", "--generate")

    assert result.returncode == 1
    assert "No user named 'nobody-here'" in result.stderr


def test_ensure_admin_says_how_to_reset_when_the_admin_exists(run_cli):
    assert run_cli("ensure-admin").returncode == 0

    again = run_cli("ensure-admin")

    assert again.returncode == 0
    assert "python -m gateway.cli reset-password admin --generate" in again.stdout
