"""HTTP resources of ``/api/v1/auth/**`` and the JWKS: parse, call the auth services, answer.

Who may call each one is not written here: the edge guard checks every
request against the gateway's contract (``gateway/openapi.yaml``) first.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import flask_restful
from flask import Response, g, json
from pydantic import BaseModel

from gateway.auth.components import AuthComponents
from gateway.auth.credentials import session_of
from gateway.auth.schemas import (
    AccountOut,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    PasswordChange,
    RefreshTokenRequest,
    RotationOut,
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserOut,
    UserUpdate,
)
from gateway.auth.service import TokenPair
from shared.web.app import ProblemApi
from shared.web.auth import current_principal
from shared.web.validation import parse_body

#: Tokens must not be kept by browsers or proxies (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Services re-fetch the JWKS on an unknown kid anyway; a minute of caching is safe.
JWKS_CACHE_CONTROL = "public, max-age=60"

Answer = tuple[dict[str, Any], int, dict[str, str]]


def json_answer(
    body: BaseModel | dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Answer:
    """A Flask-RESTful answer; datetimes as RFC 3339, UUIDs as text."""
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return payload, status, dict(headers or {})


def no_content() -> Response:
    """An empty 204 answer."""
    return Response(status=204)


def _token_answer(pair: TokenPair) -> Answer:
    return json_answer(TokenResponse.of(pair.access, pair.refresh_token), 200, NO_STORE)


class AuthResource(flask_restful.Resource):  # type: ignore[misc]
    """A resource of the gateway's own API, holding the auth services it calls."""

    def __init__(self, auth: AuthComponents) -> None:
        self.auth = auth


class TokenResource(AuthResource):
    """Log in with a username and password."""

    def post(self) -> Answer:
        """Exchange credentials for an access token and a refresh token."""
        body = parse_body(TokenRequest)
        return _token_answer(self.auth.sessions.login(body.username, body.password))


class RefreshResource(AuthResource):
    """Trade a refresh token for a new pair."""

    def post(self) -> Answer:
        """Spend the refresh token; answer with a new access and refresh token."""
        body = parse_body(RefreshTokenRequest)
        return _token_answer(self.auth.sessions.refresh(body.refresh_token))


class LogoutResource(AuthResource):
    """End a session."""

    def post(self) -> Response:
        """Revoke the refresh token's family."""
        body = parse_body(RefreshTokenRequest)
        self.auth.sessions.logout(body.refresh_token)
        return no_content()


class MeResource(AuthResource):
    """The caller's own account."""

    def get(self) -> Answer:
        """Who the caller is, its role and scopes, and what each scope allows."""
        account = self.auth.accounts.account(current_principal())
        return json_answer(AccountOut.of(account))


class PasswordResource(AuthResource):
    """The signed-in user's own password."""

    def post(self) -> Response:
        """Check the current password, set the new one, end the user's other sessions."""
        body = parse_body(PasswordChange)
        self.auth.sessions.change_password(
            current_principal(),
            body.current_password,
            body.new_password,
            session_id=session_of(g.bearer_token),
        )
        return no_content()


class JwksResource(AuthResource):
    """The public keys that verify the gateway's tokens."""

    def get(self) -> Response:
        """The JWK Set, pending keys included."""
        response = Response(json.dumps(self.auth.signing_keys.jwks()), mimetype="application/json")
        response.headers["Cache-Control"] = JWKS_CACHE_CONTROL
        return response


class SigningKeyRotationResource(AuthResource):
    """Start using a new signing key without logging anyone out."""

    def post(self) -> Answer:
        """Create a key that signs after the activation delay; schedule the old ones' retirement."""
        return json_answer(RotationOut.of(self.auth.signing_keys.rotate()), 201)


class UsersResource(AuthResource):
    """The users who can log in."""

    def get(self) -> Answer:
        """Every user, by username."""
        users = self.auth.accounts.list_users()
        return json_answer({"items": [UserOut.of(user).model_dump(mode="json") for user in users]})

    def post(self) -> Answer:
        """Create a user; 409 if the username is taken in any letter case."""
        body = parse_body(UserCreate)
        user = self.auth.accounts.create_user(
            body.username, body.password, body.role, granted_by=current_principal()
        )
        return json_answer(UserOut.of(user), 201, {"Location": f"/api/v1/auth/users/{user.id}"})


class UserResource(AuthResource):
    """One user."""

    def get(self, user_id: uuid.UUID) -> Answer:
        """The user with this id."""
        return json_answer(UserOut.of(self.auth.accounts.get_user(user_id)))

    def patch(self, user_id: uuid.UUID) -> Answer:
        """Change role, disabled flag or password; disabling or a new password ends sessions."""
        body = parse_body(UserUpdate)
        user = self.auth.accounts.update_user(
            user_id,
            role=body.role,
            disabled=body.disabled,
            password=body.password,
            granted_by=current_principal(),
        )
        return json_answer(UserOut.of(user))


class ApiKeysResource(AuthResource):
    """API keys for programs."""

    def get(self) -> Answer:
        """Every key, without secrets."""
        keys = self.auth.api_keys.list_keys()
        return json_answer({"items": [ApiKeyOut.of(key).model_dump(mode="json") for key in keys]})

    def post(self) -> Answer:
        """Create a key; the answer shows the full key, once."""
        body = parse_body(ApiKeyCreate)
        principal = current_principal()
        created = self.auth.api_keys.create(
            body.name,
            body.scopes,
            expires_at=body.expires_at,
            created_by=uuid.UUID(principal.subject) if principal.kind == "user" else None,
            granted_by=principal,
        )
        answer = ApiKeyCreated(**ApiKeyOut.of(created.record).model_dump(), key=created.key)
        return json_answer(answer, 201)


class ApiKeyResource(AuthResource):
    """One API key."""

    def delete(self, key_id: uuid.UUID) -> Response:
        """Revoke the key; it stops working at once."""
        self.auth.api_keys.revoke(key_id)
        return no_content()


def register_auth_api(api: ProblemApi, auth: AuthComponents) -> None:
    """Mount the token endpoints, the caller's account, the JWKS, users, API keys, key rotation."""
    resources: list[tuple[type[AuthResource], str]] = [
        (TokenResource, "/api/v1/auth/token"),
        (RefreshResource, "/api/v1/auth/refresh"),
        (LogoutResource, "/api/v1/auth/logout"),
        (MeResource, "/api/v1/auth/me"),
        (PasswordResource, "/api/v1/auth/password"),
        (JwksResource, "/.well-known/jwks.json"),
        (SigningKeyRotationResource, "/api/v1/auth/signing-keys/rotate"),
        (UsersResource, "/api/v1/auth/users"),
        (UserResource, "/api/v1/auth/users/<uuid:user_id>"),
        (ApiKeysResource, "/api/v1/auth/api-keys"),
        (ApiKeyResource, "/api/v1/auth/api-keys/<uuid:key_id>"),
    ]
    for resource, path in resources:
        api.add_resource(resource, path, resource_class_kwargs={"auth": auth})
