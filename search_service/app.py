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
from shared.auth import KeySource
from shared.database import Database
from shared.discovery import Discovery, create_discovery
from shared.web.resource_app import DATABASE_EXTENSION, create_resource_app

__all__ = ["DATABASE_EXTENSION", "OPENAPI_PATH", "create_app"]

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


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

    def register(app: Flask, database: Database) -> None:
        store = SearchStore(database)
        source = CustomerSource(
            discovery or create_discovery(settings.discovery, static_map=settings.discovery_static)
        )
        register_api(
            app,
            SearchService(store),
            ReindexService(store, thread_launcher(Reindexer(store, source))),
        )

    return create_resource_app(
        settings,
        database_url=settings.database_url,
        openapi_path=OPENAPI_PATH,
        register=register,
        key_source=key_source,
    )
