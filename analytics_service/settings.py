"""Every knob of the analytics API and its consumer, read from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.services import local_discovery_map, service_named
from shared.settings import EventSettings

#: This service as ``services.toml`` declares it.
SERVICE = service_named("analytics")


class Settings(EventSettings):
    """Settings of the analytics API and its consumer; each field has a working local default."""

    service_name: str = "analytics_service"
    #: The service's own database, from ``ANALYTICS_DATABASE_URL`` only (``services.toml``):
    #: accepting the field name would make pydantic-settings read ``DATABASE_URL`` too.
    database_url: str = Field(
        default=SERVICE.local_database_url,
        validation_alias=AliasChoices(SERVICE.database_url_variable),
    )
    #: How reconcile finds the customer service (``static``, as the gateway).
    discovery: str = "static"
    #: ``name=url[|url...],...``; by default every routed service at its local port.
    discovery_static: str = local_discovery_map()
    #: Longest a reconcile may spend reading the customer service; it is synchronous,
    #: so this stays under the gateway's read timeout (10 s).
    reconcile_timeout_seconds: float = Field(default=8.0, gt=0, le=300)
    #: Most live customers a reconcile walks; past it, it stops and changes nothing.
    reconcile_max_customers: int = Field(default=20_000, ge=1, le=1_000_000)
