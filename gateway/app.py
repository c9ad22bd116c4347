"""The gateway's app factory (gunicorn: ``gateway.app:create_app()``): builds and wires every part.

Dependencies are made here and passed in: the auth components to the auth
API, and the authenticator, limiter, route table, forwarder and CORS policy to
the edge.
No view reaches for a global.

Discovery (``DISCOVERY``) is built here too. Under ``consul`` or ``dns`` it is a
readiness check: the gateway is not ready while discovery has problems *and*
knows no instance of any routed service (Consul never answered, say). Consul
going away after it answered does not make the gateway unready: it goes on
routing to the last known instances, and ``/readyz`` says ``degraded: ...`` for
``discovery`` while that lasts. A routed service with no passing instance is
that service's trouble (its calls get 503), not the gateway's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import redis
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.apidocs import register_api_docs, with_api_docs_pages
from gateway.auth.api import register_auth_api
from gateway.auth.components import AuthComponents, build_auth, open_database
from gateway.auth.models import Clock, utc_now
from gateway.console import register_console, with_console_pages
from gateway.edge.api import Edge, called_operation, install_edge
from gateway.edge.cors import CorsPolicy, install_cors
from gateway.edge.forwarding import ForwardingPath
from gateway.edge.limits import FailedLoginThrottle, RateLimiter
from gateway.edge.routes import Route, declared_routes, find_route
from gateway.edge.service import Forwarder
from gateway.edge.upstream import UpstreamClient
from gateway.settings import Settings
from shared.contract import Contract, ContractError
from shared.discovery import DISCOVERY_EXTENSION, Discovery, discovery_from_settings
from shared.web.app import ProblemApi, create_service_app
from shared.web.auth import undeclared_routes
from shared.web.health import HealthCheck

CONTRACT_PATH = Path(__file__).with_name("openapi.yaml")
#: ``app.extensions`` key of the :class:`AuthComponents`, for whoever owns the app
#: (tests, the bench) and must close its database pool.
AUTH_EXTENSION = "gateway.auth"


class DiscoveryUnavailable(Exception):
    """Discovery has problems and knows no instance of any routed service."""


def discovery_readiness(discovery: Discovery, services: Sequence[str]) -> HealthCheck:
    """Fails only when discovery has problems and no routed service has a known instance.

    While it serves the instances it last knew, the check passes and ``/readyz``
    says ``degraded: <the problems>``.
    """

    def check() -> str | None:
        problems = discovery.problems()
        if problems and not any(discovery.instances(service) for service in services):
            raise DiscoveryUnavailable("; ".join(problems))
        return "; ".join(problems) or None

    return check


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = utc_now,
    routes: tuple[Route, ...] | None = None,
) -> Flask:
    """Build the gateway; reads the environment when no settings are given.

    ``clock`` is where token, session, key and signing-key lifetimes read the
    time: tests move it instead of sleeping. ``routes`` is the route table,
    the declared one (``services.toml``) unless given.
    """
    settings = settings or Settings()
    contract = Contract.load(CONTRACT_PATH)
    routes = declared_routes() if routes is None else routes
    database = open_database(settings)
    redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1)

    def redis_ready() -> None:
        redis_client.ping()

    routed = tuple(dict.fromkeys(route.service for route in routes))
    discovery = discovery_from_settings(settings, watch=routed)
    readiness: dict[str, HealthCheck] = {"postgres": database.ping, "redis": redis_ready}
    # The static map cannot fail: only the backends that can have problems are checked.
    if settings.discovery != "static":
        readiness["discovery"] = discovery_readiness(discovery, routed)
    app = create_service_app(
        settings,
        readiness=readiness,
        contract=contract,
        find_operation=called_operation(contract, routes),
    )
    app.extensions[DISCOVERY_EXTENSION] = discovery
    limits = {
        "api": settings.rate_limit_api,
        "auth": settings.rate_limit_auth,
        "public": settings.rate_limit_public,
        "nlp": settings.rate_limit_nlp,
        FailedLoginThrottle.LIMIT: settings.rate_limit_login_failures,
    }
    limiter = RateLimiter(settings.redis_url, limits, key_prefix=settings.rate_limit_key_prefix)
    auth = build_auth(settings, database, clock=clock, throttle=FailedLoginThrottle(limiter))
    edge = Edge(
        # The console's page shells and /docs are declared public here, not in the API's contract.
        contract=with_api_docs_pages(with_console_pages(contract)),
        routes=routes,
        authenticator=auth.authenticator,
        limiter=limiter,
        forwarder=Forwarder(
            discovery=discovery,
            client=UpstreamClient.from_settings(settings),
        ),
        cors=CorsPolicy(
            origins=settings.cors_origins, max_age_seconds=settings.cors_max_age_seconds
        ),
    )
    named = {
        operation.rate_limit
        for route in edge.routes
        for operation in route.contract.operations
        if operation.rate_limit
    }
    if unknown := sorted(named - limits.keys()):
        raise ContractError(f"routed operations name rate limits the gateway lacks: {unknown}")
    install_edge(app, edge)
    install_cors(app, edge.cors)
    register_auth_api(ProblemApi(app), auth)
    register_console(app)
    register_api_docs(app)
    # Forwarded routes follow the services' own contracts, checked by the guard.
    undeclared = [
        rule
        for rule in undeclared_routes(app, edge.contract)
        if find_route(edge.routes, rule.partition(" ")[2]) is None
    ]
    if undeclared:
        raise ContractError(f"gateway routes missing from {CONTRACT_PATH.name}: {undeclared}")
    app.extensions[AUTH_EXTENSION] = auth
    # Routed calls skip Flask's request machinery: same steps, a fraction of the cost.
    app.wsgi_app = ForwardingPath(app, edge, service=settings.service_name)  # type: ignore[method-assign]
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app


def auth_components(app: Flask) -> AuthComponents:
    """The auth components ``app`` was built with."""
    components: AuthComponents = app.extensions[AUTH_EXTENSION]
    return components
