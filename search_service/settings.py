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
    #: ``name=url[|url...]``, comma separated: where the customer service listens, for
    #: a reindex (default: every routed service of ``services.toml`` at its local port).
    discovery_static: str = local_discovery_map()
