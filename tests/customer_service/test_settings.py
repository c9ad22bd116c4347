"""The customer API's settings: its database comes from its own variable only."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices

from customer_service.settings import Settings
from shared.services import service_named

CUSTOMER = service_named("customer")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No database variable set, whatever the shell running the tests has."""
    monkeypatch.delenv(CUSTOMER.database_url_variable, raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return monkeypatch


def test_the_database_variable_is_the_one_services_toml_names() -> None:
    alias = Settings.model_fields["database_url"].validation_alias

    assert isinstance(alias, AliasChoices)
    assert alias.choices == [CUSTOMER.database_url_variable]
    assert CUSTOMER.database_url_variable == "CUSTOMER_DATABASE_URL"


def test_the_default_database_is_the_declared_local_one(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert Settings().database_url == CUSTOMER.local_database_url


def test_database_url_alone_does_not_move_the_service(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("DATABASE_URL", "postgresql://elsewhere/other_service")

    assert Settings().database_url == CUSTOMER.local_database_url


def test_its_own_variable_does(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv(CUSTOMER.database_url_variable, "postgresql://db.internal/customers")

    assert Settings().database_url == "postgresql://db.internal/customers"
