"""Who may do what: 401 without a valid token, 403 without the scope the contract names.

Every case comes from the contract (``openapi.yaml``) and the role table
(``services.toml``), never from a list kept here: a new operation is held to its
scope without an edit (unless its request body is new to :func:`send`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from werkzeug.test import TestResponse

from customer_service.app import OPENAPI_PATH
from shared.contract import Contract, Operation
from shared.services import service_named
from shared.web.app import OPERATIONAL_PATHS
from tests.customer_service.api_client import CustomerApi, customer_fields, problem, unique_email
from tests.support.tokens import TestIssuer

CONTRACT = Contract.load(OPENAPI_PATH)
GUARDED = [operation for operation in CONTRACT.operations if not operation.public]
PUBLIC = [operation for operation in CONTRACT.operations if operation.public]
ALL_SCOPES = set(CONTRACT.scopes())
GRANTS = service_named("customer").grants


def call(api: CustomerApi, operation: Operation, headers: dict[str, str]) -> TestResponse:
    """Call ``operation`` on a customer (or import) made for it, with a harmless body."""
    if "{import_id}" in operation.path:
        queued = api.submit_import(f"name,email\r\nAda,{unique_email()}\r\n")
        return send(api, operation, headers, queued.get_json()["id"])
    customer = api.create_ok()
    if operation.operation_id == "restoreCustomer":
        api.delete(customer["id"])
    return send(api, operation, headers, customer["id"])


def send(
    api: CustomerApi, operation: Operation, headers: dict[str, str], resource_id: object
) -> TestResponse:
    """One request for ``operation`` on the customer or import ``resource_id``."""
    path = operation.path.format(customer_id=resource_id, import_id=resource_id)
    body: dict[str, object] = {"body": "hi"} if path.endswith("notes") else customer_fields()
    if operation.operation_id == "createImport":
        body = {
            "filename": "one.csv",
            "mapping": {"name": "name", "email": "email"},
            "content": f"name,email\r\nAda,{unique_email()}\r\n",
        }
    if operation.method == "PATCH":
        body = {"city": "York"}
        headers = {**headers, "If-Match": "*"}
    return api.client.open(
        path,
        method=operation.method,
        json=body if operation.method in ("POST", "PATCH") else None,
        headers=headers,
    )


def ids(operation: Operation) -> str:
    """A readable test id: ``GET /customers``."""
    return f"{operation.method} {operation.path}"


def test_the_contract_guards_every_customer_operation_with_a_scope_it_defines() -> None:
    assert GUARDED, "the contract declares no guarded operation"
    assert {operation.scope for operation in GUARDED} == ALL_SCOPES


@pytest.mark.parametrize("operation", GUARDED, ids=ids)
def test_every_scope_but_its_own_is_403(api: CustomerApi, operation: Operation) -> None:
    others = " ".join(sorted(ALL_SCOPES - {operation.scope}))

    response = call(api, operation, api.issuer.headers("agent", scope=others))

    body = problem(response, 403)
    assert f"lacks scope '{operation.scope}'" in body["detail"]


@pytest.mark.parametrize("operation", GUARDED, ids=ids)
def test_its_own_scope_alone_is_enough(api: CustomerApi, operation: Operation) -> None:
    response = call(api, operation, api.issuer.headers("agent", scope=operation.scope))

    assert response.status_code < 400, response.get_json()


@pytest.mark.parametrize("operation", GUARDED, ids=ids)
@pytest.mark.parametrize("role", sorted(GRANTS))
def test_each_role_reaches_what_services_toml_grants_it(
    api: CustomerApi, operation: Operation, role: str
) -> None:
    response = call(api, operation, api.issuer.headers(role))

    if operation.scope in GRANTS[role]:
        assert response.status_code < 400, response.get_json()
    else:
        assert operation.scope in problem(response, 403)["detail"]


@pytest.mark.parametrize("operation", GUARDED, ids=ids)
def test_a_caller_without_the_scope_learns_nothing_about_the_customer(
    api: CustomerApi, operation: Operation
) -> None:
    # The scope is checked before the resource runs: no 404 tells a stranger what exists.
    others = " ".join(sorted(ALL_SCOPES - {operation.scope}))

    response = send(api, operation, api.issuer.headers("agent", scope=others), uuid.uuid4())

    problem(response, 403)


@pytest.mark.parametrize("operation", GUARDED, ids=ids)
def test_every_guarded_operation_refuses_a_missing_token(
    api: CustomerApi, operation: Operation
) -> None:
    response = send(api, operation, {}, uuid.uuid4())

    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _expired(issuer: TestIssuer) -> str:
    past = int(time.time()) - 3600
    return issuer.token(iat=past, nbf=past, exp=past + 60)


@pytest.mark.parametrize(
    "authorization",
    [
        lambda issuer: "Bearer not-a-jwt",
        lambda issuer: f"Basic {issuer.token()}",
        lambda issuer: f"Bearer {TestIssuer(kid=issuer.kid).token()}",
        lambda issuer: f"Bearer {issuer.token(aud='someone-else')}",
        lambda issuer: f"Bearer {_expired(issuer)}",
    ],
    ids=["garbage", "wrong-scheme", "forged-signature", "wrong-audience", "expired"],
)
def test_invalid_tokens_are_401(
    api: CustomerApi, authorization: Callable[[TestIssuer], str]
) -> None:
    response = api.client.get("/customers", headers={"Authorization": authorization(api.issuer)})

    problem(response, 401)


def test_the_public_operations_are_the_operational_endpoints() -> None:
    assert {operation.path for operation in PUBLIC} == set(OPERATIONAL_PATHS)


@pytest.mark.parametrize("operation", PUBLIC, ids=ids)
def test_public_operations_need_no_token(api: CustomerApi, operation: Operation) -> None:
    assert api.client.open(operation.path, method=operation.method).status_code == 200


def test_an_unknown_path_needs_a_token_before_it_is_404(api: CustomerApi) -> None:
    problem(api.client.get("/no/such/thing"), 401)
    problem(api.client.get("/no/such/thing", headers=api.issuer.headers("viewer")), 404)


def test_a_method_no_operation_declares_is_405_for_any_valid_token(api: CustomerApi) -> None:
    customer = api.create_ok()
    headers = api.issuer.headers("agent", scope="")

    problem(api.client.put(f"/customers/{customer['id']}", json={}, headers=headers), 405)


def test_head_needs_the_scope_of_get(api: CustomerApi) -> None:
    customer = api.create_ok()
    path = f"/customers/{customer['id']}"

    refused = api.client.head(path, headers=api.issuer.headers("agent", scope="customers:write"))
    allowed = api.client.head(path, headers=api.issuer.headers("agent", scope="customers:read"))

    assert refused.status_code == 403
    assert allowed.status_code == 200
