"""Every knob of the customer API, read from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import LOCAL_POSTGRES, ServiceSettings


class Settings(ServiceSettings):
    """Settings of the customer API; each field has a working local default."""

    # Field names stay usable in code (``Settings(database_url=...)``) beside the env aliases.
    model_config = SettingsConfigDict(populate_by_name=True)

    service_name: str = "customer_service"
    #: The service's own database; ``CUSTOMER_DATABASE_URL`` wins over ``DATABASE_URL``.
    database_url: str = Field(
        default=f"{LOCAL_POSTGRES}/clientele_customers",
        validation_alias=AliasChoices("CUSTOMER_DATABASE_URL", "DATABASE_URL"),
    )
    #: How long an ``Idempotency-Key`` is remembered; older keys count as unused.
    idempotency_retention_seconds: int = Field(default=86_400, ge=1)
