"""The analytics API's app factory (gunicorn: ``analytics_service.app:create_app()``)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from analytics_service.api import register_api
from analytics_service.reconcile import CustomerDirectory, Reconciler
from analytics_service.service import AnalyticsService, Clock, utc_now
from analytics_service.settings import Settings
from analytics_service.source import HttpCustomerDirectory
from analytics_service.store import AnalyticsStore
from shared.auth import JwksKeySource, KeySource, TokenVerifier
from shared.contract import Contract, ContractError
from shared.database import Database
from shared.discovery import create_discovery
from shared.web.app import create_service_app
from shared.web.auth import install_authentication, undeclared_routes

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
#: Where the app keeps its database pool, for whoever owns the app (tests close it).
DATABASE_EXTENSION = "database"


def create_app(
    settings: Settings | None = None,
    *,
    key_source: KeySource | None = None,
    clock: Clock = utc_now,
) -> Flask:
    """The analytics API; ``key_source`` replaces the gateway's JWKS (tests use their own).

    ``clock`` decides what "today" is for the summary and default series ranges.
    Refuses to build (``ContractError``) if it serves a route its contract does
    not declare, since such a route would need no scope.
    """
    settings = settings or Settings()
    contract = Contract.load(OPENAPI_PATH)
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
    app = create_service_app(settings, readiness=readiness, contract=contract)
    verifier = TokenVerifier(
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    install_authentication(app, verifier, contract=contract)
    store = AnalyticsStore(database)
    discovery = create_discovery(settings.discovery, static_map=settings.discovery_static)

    def directory_for(token: str, request_id: str) -> CustomerDirectory:
        return HttpCustomerDirectory(
            discovery,
            token,
            timeout_seconds=settings.reconcile_timeout_seconds,
            request_id=request_id,
        )

    register_api(
        app,
        AnalyticsService(store, clock=clock),
        Reconciler(store, clock=clock, max_customers=settings.reconcile_max_customers),
        directory_for,
    )
    if undeclared := undeclared_routes(app, contract):
        raise ContractError(f"{contract.name} serves routes its contract lacks: {undeclared}")
    # Nothing closes the pool at shutdown: the worker exits and the operating system
    # closes its connections. It is kept here so whoever builds apps (tests) can close it.
    app.extensions[DATABASE_EXTENSION] = database
    return app
