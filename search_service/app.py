"""The search API's app factory (gunicorn: ``search_service.app:create_app()``)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from search_service.api import register_api
from search_service.embedder import QueryEmbedder
from search_service.reindex import Reindexer, thread_launcher
from search_service.semantic import VectorSearch
from search_service.service import ReindexService, SearchService, SemanticSearch
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
    configured one (tests use their own): it finds the customer service for a reindex
    and the NLP service for a semantic query.

    Refuses to build (``ContractError``) if it serves a route its contract does
    not declare, since such a route would need no scope.
    """
    settings = settings or Settings()

    def register(app: Flask, database: Database) -> None:
        store = SearchStore(database)
        finder = discovery or create_discovery(
            settings.discovery, static_map=settings.discovery_static
        )
        semantic = SemanticSearch(
            QueryEmbedder(finder, timeout=settings.search_nlp_timeout_seconds).embed,
            VectorSearch(
                store,
                floor=settings.search_semantic_min_similarity,
                max_matches=settings.search_semantic_max_matches,
                refresh_seconds=settings.search_vector_refresh_ms / 1000,
            ),
        )
        register_api(
            app,
            SearchService(store, semantic),
            ReindexService(store, thread_launcher(Reindexer(store, CustomerSource(finder)))),
        )

    return create_resource_app(
        settings,
        database_url=settings.database_url,
        openapi_path=OPENAPI_PATH,
        register=register,
        key_source=key_source,
    )
