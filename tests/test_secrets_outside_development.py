"""Outside development, every service refuses to start on a default or missing secret."""

from __future__ import annotations

import importlib

import pytest
from pydantic import ValidationError

from shared.services import Service, load_services, service_named

SERVICES = load_services()


def _settings(service: Service):
    return importlib.import_module(f"{service.package}.settings").Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in SERVICES:
        monkeypatch.delenv(service.database_url_variable, raising=False)
    monkeypatch.delenv("JWT_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("CLIENTELE_ENV", raising=False)


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_development_runs_on_local_defaults(service: Service) -> None:
    assert _settings(service)().clientele_env == "development"


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_production_refuses_a_database_url_without_a_password(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENTELE_ENV", "production")
    monkeypatch.setenv("JWT_KEY_PASSPHRASE", "p" * 32)

    with pytest.raises(ValidationError, match="database URL carries no password"):
        _settings(service)()

    monkeypatch.setenv(service.database_url_variable, "postgresql://svc:s3cret-pw@db:5432/svc")
    monkeypatch.setenv("AMQP_URL", "amqp://svc:s3cret-pw@broker:5672/%2F")
    assert _settings(service)().clientele_env == "production"


@pytest.mark.parametrize(
    "url", ["amqp://broker:5672/%2F", "amqp://guest:guest@broker:5672/%2F"], ids=["none", "guest"]
)
def test_production_refuses_the_brokers_default_or_missing_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("CLIENTELE_ENV", "production")
    monkeypatch.setenv("CUSTOMER_DATABASE_URL", "postgresql://svc:s3cret-pw@db:5432/svc")
    monkeypatch.setenv("AMQP_URL", url)

    with pytest.raises(ValidationError, match="AMQP URL carries no password"):
        _settings(service_named("customer"))()


@pytest.mark.parametrize(
    ("passphrase", "problem"),
    [
        (None, "development default"),
        ("clientele-development-only-passphrase", "development default"),
        ("short-one", "shorter than"),
    ],
)
def test_production_refuses_the_gateway_a_weak_key_passphrase(
    monkeypatch: pytest.MonkeyPatch, passphrase: str | None, problem: str
) -> None:
    from gateway.settings import Settings

    monkeypatch.setenv("CLIENTELE_ENV", "production")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql://gw:s3cret-pw@db:5432/gw")
    if passphrase is not None:
        monkeypatch.setenv("JWT_KEY_PASSPHRASE", passphrase)

    with pytest.raises(ValidationError, match=problem):
        Settings()
