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
from shared.auth import KeySource
from shared.database import Database
from shared.discovery import create_discovery
from shared.web.resource_app import DATABASE_EXTENSION, create_resource_app

__all__ = ["DATABASE_EXTENSION", "OPENAPI_PATH", "create_app"]

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


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
    discovery = create_discovery(settings.discovery, static_map=settings.discovery_static)

    def directory_for(token: str, request_id: str) -> CustomerDirectory:
        return HttpCustomerDirectory(
            discovery,
            token,
            timeout_seconds=settings.reconcile_timeout_seconds,
            request_id=request_id,
        )

    def register(app: Flask, database: Database) -> None:
        store = AnalyticsStore(database)
        register_api(
            app,
            AnalyticsService(store, clock=clock),
            Reconciler(store, clock=clock, max_customers=settings.reconcile_max_customers),
            directory_for,
        )

    return create_resource_app(
        settings,
        database_url=settings.database_url,
        openapi_path=OPENAPI_PATH,
        register=register,
        key_source=key_source,
    )
