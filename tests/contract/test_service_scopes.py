"""Every declared service's contract names a scope for each operation, from its own scheme.

``services.toml`` lists the services and which scopes each role holds; the
contract (``<package>/openapi.yaml``) defines those scopes in its OAuth 2 scheme
and names one per operation. A scope granted but never defined, or named but
never defined, would be a permission nobody can check.
"""

from __future__ import annotations

import pytest

from shared.contract import Contract
from shared.services import Service, load_services

SERVICES = load_services()


def service_id(service: Service) -> str:
    """The service's short name, as the test id."""
    return service.name


@pytest.mark.parametrize("service", SERVICES, ids=service_id)
def test_every_operation_is_public_or_names_a_scope_its_contract_defines(
    service: Service,
) -> None:
    contract = Contract.load(service.contract_path)  # raises if an operation names no scope
    defined = contract.scopes()

    undefined = [
        f"{operation.method} {operation.path} needs {operation.scope!r}"
        for operation in contract.operations
        if not operation.public and operation.scope not in defined
    ]

    assert contract.operations
    assert undefined == []


@pytest.mark.parametrize("service", SERVICES, ids=service_id)
def test_every_granted_scope_is_defined_in_the_contract(service: Service) -> None:
    defined = Contract.load(service.contract_path).scopes()

    undefined = {
        role: [scope for scope in scopes if scope not in defined]
        for role, scopes in service.grants.items()
        if any(scope not in defined for scope in scopes)
    }

    assert undefined == {}
