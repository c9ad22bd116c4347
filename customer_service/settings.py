"""Every knob of the customer API, read from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.services import service_named
from shared.settings import EventSettings

#: This service as ``services.toml`` declares it.
SERVICE = service_named("customer")


class Settings(EventSettings):
    """Settings of the customer API and its relay; each field has a working local default."""

    service_name: str = "customer_service"
    #: The service's own database, from ``CUSTOMER_DATABASE_URL`` only (``services.toml``),
    #: in code as well (``Settings(CUSTOMER_DATABASE_URL=...)``): accepting the field name
    #: would make pydantic-settings read ``DATABASE_URL`` too. AliasChoices for one name,
    #: as tests/test_platform_files.py reads ``.choices``.
    database_url: str = Field(
        default=SERVICE.local_database_url,
        validation_alias=AliasChoices(SERVICE.database_url_variable),
    )
    #: How long an ``Idempotency-Key`` is remembered; older keys count as unused.
    idempotency_retention_seconds: int = Field(default=86_400, ge=1)
    #: Most outbox rows the relay publishes (and the broker confirms) at once.
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    #: How often the relay looks at the outbox when no NOTIFY wakes it, in seconds.
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    #: How long a confirm may take before the batch counts as not published.
    relay_confirm_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Published outbox rows are deleted after this long (they are kept for inspection).
    outbox_retention_seconds: int = Field(default=7 * 86_400, ge=0)
