"""The search API's app factory (gunicorn: ``search_service.app:create_app()``)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from search_service.api import register_api
from search_service.reindex import Reindexer, thread_launcher
from search_service.service import ReindexService, SearchService
from search_service.settings import Settings
from search_service.source import CustomerSource
from search_service.store import SearchStore
from shared.auth import JwksKeySource, KeySource, TokenVerifier
from shared.contract import Contract, ContractError
from shared.database import Database
from shared.discovery import Discovery, create_discovery
from shared.web.app import create_service_app
from shared.web.auth import install_authentication, undeclared_routes

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
#: Where the app keeps its database pool, for whoever owns the app (tests close it).
DATABASE_EXTENSION = "database"


def create_app(
    settings: Settings | None = None,
    *,
    key_source: KeySource | None = None,
    discovery: Discovery | None = None,
) -> Flask:
    """The search API; ``key_source`` replaces the gateway's JWKS and ``discovery`` the
    configured one (tests use their own).

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
    store = SearchStore(database)
    source = CustomerSource(
        discovery or create_discovery(settings.discovery, static_map=settings.discovery_static)
    )
    register_api(
        app,
        SearchService(store),
        ReindexService(store, thread_launcher(Reindexer(store, source))),
    )
    if undeclared := undeclared_routes(app, contract):
        raise ContractError(f"{contract.name} serves routes its contract lacks: {undeclared}")
    app.extensions[DATABASE_EXTENSION] = database
    return app
