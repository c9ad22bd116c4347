"""The gateway held to its own contract (``gateway/openapi.yaml``) by schemathesis.

Every operation of the gateway's own API, with valid and invalid requests
generated from the document, sent to the app (WSGI) with an admin's token:
no server errors, documented statuses, content types, headers and bodies,
invalid input refused, valid input accepted, auth enforced.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import Case

from gateway.apidocs.contract import public_api_document
from gateway.app import CONTRACT_PATH, auth_components, create_app
from gateway.settings import Settings
from tests.support.contracts import CHECKS, late_bound_schema, valid_requests_may_get

schema, APP = late_bound_schema(CONTRACT_PATH, max_examples=25)
# Generating and sending every case takes minutes on a loaded 2-core machine under coverage.
pytestmark = pytest.mark.timeout(360)
# What no JSON Schema can say, documented as 422 instead: a new password must not be
# guessable (zxcvbn, with the username as context), and a key's expiry must lie in the
# future. Everywhere else a schema-valid request must be accepted.
schema.config.operations = valid_requests_may_get(
    (
        ["createUser", "updateUser", "createApiKey"],
        ["2xx", "401", "403", "404", "409", "422", "429"],
    ),
    # A generated current password is never the admin's: 422 naming it (and, past the
    # account's failed-login limit, 429), as documented.
    (["changePassword"], ["2xx", "401", "403", "422", "429"]),
)


@pytest.fixture(scope="module")
def gateway_contract_app(make_database: Callable[[str], str]) -> Iterator[tuple[Flask, str]]:
    """The gateway on a database of its own, generous limits, and an admin's token."""
    app = create_app(
        Settings(
            GATEWAY_DATABASE_URL=make_database("gateway"),
            rate_limit_key_prefix=f"clientele-test-{uuid.uuid4().hex[:12]}",
            rate_limit_api="1000000/minute",
            rate_limit_auth="1000000/minute",
            rate_limit_public="1000000/minute",
            rate_limit_login_failures="1000000/minute",
            jwt_key_activation_delay_seconds=0,
            password_hash_time_cost=1,
            password_hash_memory_kib=8,
            password_hash_parallelism=1,
        )
    )
    auth = auth_components(app)
    password = secrets.token_urlsafe(16)
    auth.accounts.create_user("contract-admin", password, "admin")
    token = (
        app.test_client()
        .post("/api/v1/auth/token", json={"username": "contract-admin", "password": password})
        .get_json()["access_token"]
    )
    with APP.serving(app):
        yield app, token
    auth.database.close()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_gateway_operation_keeps_its_contract(
    case: Case[Any], gateway_contract_app: tuple[Flask, str]
) -> None:
    _, token = gateway_contract_app
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


def test_the_public_api_document_is_served_and_loads_as_a_schema(
    gateway_contract_app: tuple[Flask, str],
) -> None:
    app, _ = gateway_contract_app
    served = app.test_client().get("/api/v1/openapi.json").get_json()

    loaded = schemathesis.openapi.from_dict(served)

    assert served == public_api_document()
    operations = [result.ok() for result in loaded.get_all_operations()]
    published = {
        (method.upper(), path)
        for path, item in served["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }
    assert {(operation.method.upper(), operation.path) for operation in operations} == published
