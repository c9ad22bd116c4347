"""The customer API's app factory (gunicorn: ``customer_service.app:create_app()``)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from customer_service.api import register_api
from customer_service.import_store import ImportStore
from customer_service.imports import ImportService
from customer_service.service import CustomerService
from customer_service.settings import Settings
from customer_service.store import CustomerStore
from shared.auth import KeySource
from shared.database import Database
from shared.web.resource_app import DATABASE_EXTENSION, create_resource_app

__all__ = ["DATABASE_EXTENSION", "OPENAPI_PATH", "create_app"]

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


def create_app(settings: Settings | None = None, *, key_source: KeySource | None = None) -> Flask:
    """The customer API; ``key_source`` replaces the gateway's JWKS (tests use their own).

    Refuses to build (``ContractError``) if it serves a route its contract does
    not declare, since such a route would need no scope.
    """
    settings = settings or Settings()

    def register(app: Flask, database: Database) -> None:
        service = CustomerService(
            CustomerStore(database),
            idempotency_retention_seconds=settings.idempotency_retention_seconds,
        )
        imports = ImportService(ImportStore(database), max_bytes=settings.import_max_bytes)
        register_api(app, service, imports)

    return create_resource_app(
        settings,
        database_url=settings.database_url,
        openapi_path=OPENAPI_PATH,
        register=register,
        key_source=key_source,
    )
