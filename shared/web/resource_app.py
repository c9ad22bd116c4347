"""The app skeleton of a service behind the gateway: its database, the gateway's keys, its contract.

Every such service (customers, search, analytics) builds the same things before
its own API: a pool on its own database, the gateway's JWKS (so it checks each
token and scope itself), readiness on both, the shared Flask skeleton, and
authentication from its contract. :func:`create_resource_app` builds them and
hands the app and the pool to the service's ``register`` callback, then refuses
an app serving a route its contract does not declare (it would need no scope).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from flask import Flask

from shared.auth import JwksKeySource, KeySource, TokenVerifier
from shared.contract import Contract, ContractError
from shared.database import Database
from shared.settings import ServiceSettings
from shared.web.app import create_service_app
from shared.web.auth import install_authentication, undeclared_routes
from shared.web.health import HealthCheck

#: Where the app keeps its database pool, for whoever owns the app (tests close it).
DATABASE_EXTENSION = "database"


def create_resource_app(
    settings: ServiceSettings,
    *,
    database_url: str,
    openapi_path: Path,
    register: Callable[[Flask, Database], None],
    key_source: KeySource | None = None,
    readiness: Mapping[str, HealthCheck] | None = None,
) -> Flask:
    """The service's app; ``key_source`` replaces the gateway's JWKS (tests use their own),
    ``readiness`` adds the service's own checks (a model loaded, say) to the database's."""
    contract = Contract.load(openapi_path)
    database = Database(
        database_url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name=settings.service_name,
    )
    checks: dict[str, HealthCheck] = {"postgres": database.ping, **(readiness or {})}
    keys = key_source
    if keys is None:
        jwks = JwksKeySource(
            settings.jwt_jwks_url, cooldown_seconds=settings.jwt_jwks_cooldown_seconds
        )
        # Without the gateway's keys no authenticated request can be served.
        checks["jwks"] = jwks.check_ready
        keys = jwks
    app = create_service_app(settings, readiness=checks, contract=contract)
    verifier = TokenVerifier(
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    install_authentication(app, verifier, contract=contract)
    register(app, database)
    if undeclared := undeclared_routes(app, contract):
        raise ContractError(f"{contract.name} serves routes its contract lacks: {undeclared}")
    # Nothing closes the pool at shutdown: the worker exits and the operating system
    # closes its connections. It is kept here so whoever builds apps (tests) can close it.
    app.extensions[DATABASE_EXTENSION] = database
    return app
