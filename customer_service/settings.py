"""Every knob of the customer API, read from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.services import service_named
from shared.settings import ServiceSettings

#: This service as ``services.toml`` declares it.
SERVICE = service_named("customer")


class Settings(ServiceSettings):
    """Settings of the customer API; each field has a working local default."""

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
