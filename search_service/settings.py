"""Every knob of the search service and its consumer, read from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.services import local_discovery_map, service_named
from shared.settings import EventSettings

#: This service as ``services.toml`` declares it.
SERVICE = service_named("search")


class Settings(EventSettings):
    """Settings of the search API and its consumer; each field has a working local default."""

    service_name: str = "search_service"
    #: The service's own database, from ``SEARCH_DATABASE_URL`` only (``services.toml``);
    #: see customer_service/settings.py for why the field name is not accepted too.
    database_url: str = Field(
        default=SERVICE.local_database_url,
        validation_alias=AliasChoices(SERVICE.database_url_variable),
    )
    #: Discovery backend, as the gateway's; ``static`` reads ``DISCOVERY_STATIC``.
    discovery: str = "static"
    #: ``name=url[|url...]``, comma separated: where the customer service (for a reindex)
    #: and the NLP service (to embed a semantic query) listen (default: every routed
    #: service of ``services.toml`` at its local port).
    discovery_static: str = local_discovery_map()
    #: Semantic matches: a customer whose closest vector has at least this cosine with the
    #: query. Measured with the packaged MiniLM: related texts 0.45-0.75, unrelated mostly
    #: under 0.3 (see README, "Semantic and hybrid search").
    search_semantic_min_similarity: float = Field(default=0.35, ge=-1.0, le=1.0)
    #: The most semantic (and, in hybrid, full-text) matches one search ranks and counts.
    search_semantic_max_matches: int = Field(default=10_000, ge=100, le=1_000_000)
    #: How often a query first reads the embeddings stamped since the last read (0: always).
    search_vector_refresh_ms: float = Field(default=100.0, ge=0)
    #: How long a query waits for the NLP service to embed it.
    search_nlp_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
