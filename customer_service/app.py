"""The customer API's app factory (gunicorn: ``customer_service.app:create_app()``)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from customer_service.api import register_api
from customer_service.service import CustomerService
from customer_service.settings import Settings
from customer_service.store import CustomerStore
from shared.auth import JwksKeySource, KeySource, TokenVerifier, install_authentication
from shared.database import Database
from shared.web import OPERATIONAL_PATHS, create_service_app

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


def create_app(settings: Settings | None = None, *, key_source: KeySource | None = None) -> Flask:
    """The customer API; ``key_source`` replaces the gateway's JWKS (tests use their own)."""
    settings = settings or Settings()
    database = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name=settings.service_name,
    )
    readiness = {"postgres": database.ping}
    keys = key_source
    if keys is None:
        jwks = JwksKeySource(
            settings.jwt_jwks_url, cooldown_seconds=settings.jwt_jwks_cooldown_seconds
        )
        # Without the gateway's keys no authenticated request can be served.
        readiness["jwks"] = jwks.check_ready
        keys = jwks
    app = create_service_app(settings, readiness=readiness, openapi_path=OPENAPI_PATH)
    verifier = TokenVerifier(
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    install_authentication(app, verifier, public_paths=OPERATIONAL_PATHS)
    store = CustomerStore(database)
    service = CustomerService(
        store, idempotency_retention_seconds=settings.idempotency_retention_seconds
    )
    register_api(app, service)
    # Kept so whoever owns the app (tests, a shutdown hook) can close the pool.
    app.extensions["customer_database"] = database
    return app
