"""The NLP API's app factory (gunicorn: ``nlp_service.app:create_app()``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from nlp_service import tasks
from nlp_service.api import register_api
from nlp_service.encoder import packaged_model_dir
from nlp_service.engine import Engine, EngineOptions
from nlp_service.job_service import JobService
from nlp_service.jobs import JobStore
from nlp_service.sentiment import PACKAGED_HEAD
from nlp_service.service import NlpService
from nlp_service.settings import Settings
from shared.auth import KeySource
from shared.database import Database
from shared.web.resource_app import DATABASE_EXTENSION, create_resource_app

__all__ = ["DATABASE_EXTENSION", "ENGINE_EXTENSION", "OPENAPI_PATH", "create_app"]

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
#: Where the app keeps its engine (tests wait on it).
ENGINE_EXTENSION = "nlp_engine"


def engine_options(settings: Settings) -> EngineOptions:
    """What to load and how to batch, from the settings."""
    return EngineOptions(
        model_dir=settings.nlp_model_dir or packaged_model_dir(),
        device=settings.nlp_device,
        torch_threads=settings.nlp_torch_threads or None,
        sentiment_head=settings.nlp_sentiment_head or PACKAGED_HEAD,
        max_batch_texts=settings.nlp_batch_max_texts,
        max_batch_wait_seconds=settings.nlp_batch_max_wait_ms / 1000,
        batching=settings.nlp_batching,
    )


def offloader() -> Callable[[Callable[[], Any]], Any]:
    """Where forward passes run: gevent's thread pool under the gevent worker.

    There, ``threading`` is monkey-patched and the collector is a greenlet; a
    pass run on it would hold every other request of the worker (health checks
    too) for its whole length. In a real thread it lets them go on (torch
    releases the GIL while it computes).
    """
    try:
        from gevent import get_hub, monkey  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - gevent is in every service's set
        return lambda function: function()
    if not monkey.is_module_patched("threading"):
        return lambda function: function()
    return lambda function: get_hub().threadpool.apply(function)


def create_app(
    settings: Settings | None = None,
    *,
    key_source: KeySource | None = None,
    engine: Engine | None = None,
    cache_namespace: str | None = None,
) -> Flask:
    """The NLP API; ``key_source`` replaces the gateway's JWKS, ``engine`` a loaded one and
    ``cache_namespace`` the Redis key prefix (``NLP_CACHE_NAMESPACE`` unless given).
    The model loads in the background: ``/readyz`` says "loading" until it has answered a
    warm-up pass."""
    settings = settings or Settings()
    engine = engine or Engine(engine_options(settings), offload=offloader())
    engine.start()
    nlp = NlpService.from_settings(engine, settings, cache_namespace=cache_namespace)
    queue = tasks.queue_to(settings)

    def register(app: Flask, database: Database) -> None:
        register_api(
            app,
            nlp,
            JobService(JobStore(database), queue),
        )
        app.extensions[ENGINE_EXTENSION] = engine

    return create_resource_app(
        settings,
        database_url=settings.database_url,
        openapi_path=OPENAPI_PATH,
        register=register,
        key_source=key_source,
        readiness={"model": engine.check_ready},
    )
