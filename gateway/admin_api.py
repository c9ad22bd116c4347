"""Users and API keys, for admins: ``/api/v1/auth/users`` and ``/api/v1/auth/api-keys``."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response

from gateway.auth_services import auth_services
from gateway.authentication import authenticate_request, authenticated
from gateway.rbac import USERS_MANAGE
from gateway.resources import GatewayResource, json_answer, no_content
from gateway.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, UserCreate, UserOut, UserUpdate
from shared.validation import parse_body
from shared.web import ProblemApi

Answer = tuple[dict[str, Any], int, dict[str, str]]


class AdminResource(GatewayResource):
    """Every admin endpoint needs ``users:manage``: 401 without credentials, 403 without it."""

    method_decorators = [authenticated(USERS_MANAGE)]


class UsersResource(AdminResource):
    """The users who can log in."""

    def get(self) -> Answer:
        """Every user, by username."""
        users = auth_services().accounts.list_users()
        return json_answer({"items": [UserOut.of(user).model_dump(mode="json") for user in users]})

    def post(self) -> Answer:
        """Create a user; 409 if the username is taken in any letter case."""
        body = parse_body(UserCreate)
        user = auth_services().accounts.create_user(body.username, body.password, body.role)
        return json_answer(UserOut.of(user), 201, {"Location": f"/api/v1/auth/users/{user.id}"})


class UserResource(AdminResource):
    """One user."""

    def get(self, user_id: uuid.UUID) -> Answer:
        """The user with this id."""
        return json_answer(UserOut.of(auth_services().accounts.get_user(user_id)))

    def patch(self, user_id: uuid.UUID) -> Answer:
        """Change role, disabled flag or password; disabling or a new password ends sessions."""
        body = parse_body(UserUpdate)
        user = auth_services().accounts.update_user(
            user_id, role=body.role, disabled=body.disabled, password=body.password
        )
        return json_answer(UserOut.of(user))


class ApiKeysResource(AdminResource):
    """API keys for programs."""

    def get(self) -> Answer:
        """Every key, without secrets."""
        keys = auth_services().api_keys.list_keys()
        return json_answer({"items": [ApiKeyOut.of(key).model_dump(mode="json") for key in keys]})

    def post(self) -> Answer:
        """Create a key; the answer shows the full key, once."""
        body = parse_body(ApiKeyCreate)
        principal = authenticate_request().principal
        created = auth_services().api_keys.create(
            body.name,
            body.scopes,
            expires_at=body.expires_at,
            created_by=uuid.UUID(principal.subject) if principal.kind == "user" else None,
        )
        answer = ApiKeyCreated(**ApiKeyOut.of(created.record).model_dump(), key=created.key)
        return json_answer(answer, 201)


class ApiKeyResource(AdminResource):
    """One API key."""

    def delete(self, key_id: uuid.UUID) -> Response:
        """Revoke the key; it stops working at once."""
        auth_services().api_keys.revoke(key_id)
        return no_content()


def register_admin_api(api: ProblemApi) -> None:
    """Mount the user and API key endpoints."""
    api.add_resource(UsersResource, "/api/v1/auth/users")
    api.add_resource(UserResource, "/api/v1/auth/users/<uuid:user_id>")
    api.add_resource(ApiKeysResource, "/api/v1/auth/api-keys")
    api.add_resource(ApiKeyResource, "/api/v1/auth/api-keys/<uuid:key_id>")
