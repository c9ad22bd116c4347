"""The gateway's Flask app: auth and admin endpoints, rate limits, and forwarding to services."""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.admin_api import register_admin_api
from gateway.auth_api import register_auth_api
from gateway.auth_services import AUTH_SERVICES_EXTENSION, build_auth_services, open_database
from gateway.authentication import (
    AUTHENTICATOR_EXTENSION,
    VERIFIER_EXTENSION,
    authenticate_for_forwarding,
)
from gateway.forwarding import register_forwarding
from gateway.proxy import UpstreamClient, UpstreamTimeouts
from gateway.rate_limits import RateLimiter, install_rate_limits
from gateway.routes import ROUTES
from gateway.settings import Settings
from shared.discovery import create_discovery
from shared.web import ProblemApi, create_service_app

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
#: ``app.extensions`` key of the Redis client (rate limits share it).
REDIS_EXTENSION = "clientele.redis"


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway; reads the environment when no settings are given."""
    settings = settings or Settings()
    database = open_database(settings)
    redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1)

    def redis_ready() -> None:
        redis_client.ping()

    app = create_service_app(
        settings,
        readiness={"postgres": database.ping, "redis": redis_ready},
        openapi_path=OPENAPI_PATH,
    )
    services = build_auth_services(settings, database)
    app.extensions[AUTH_SERVICES_EXTENSION] = services
    app.extensions[VERIFIER_EXTENSION] = services.verifier
    app.extensions[AUTHENTICATOR_EXTENSION] = services.authenticator
    app.extensions[REDIS_EXTENSION] = redis_client

    limiter = RateLimiter(
        settings.redis_url,
        {"api": settings.rate_limit_api, "auth": settings.rate_limit_auth},
        key_prefix=settings.rate_limit_key_prefix,
    )
    install_rate_limits(app, limiter)

    api = ProblemApi(app)
    register_auth_api(api)
    register_admin_api(api)
    register_forwarding(
        app,
        ROUTES,
        authenticate=authenticate_for_forwarding,
        limiter=limiter,
        discovery=create_discovery(settings.discovery, static_map=settings.discovery_static),
        client=UpstreamClient(
            timeouts=UpstreamTimeouts(
                connect=settings.upstream_connect_timeout_seconds,
                read=settings.upstream_read_timeout_seconds,
            ),
            pool_size=settings.upstream_pool_size,
            breaker_fail_max=settings.upstream_breaker_fail_max,
            breaker_reset_seconds=settings.upstream_breaker_reset_seconds,
        ),
    )
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app
