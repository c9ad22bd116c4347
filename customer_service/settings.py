"""Every knob of the customer API, read from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.services import service_named
from shared.settings import EventSettings

#: This service as ``services.toml`` declares it.
SERVICE = service_named("customer")


class Settings(EventSettings):
    """Settings of the customer API and its workers; each field has a working local default."""

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
    #: Largest CSV an import takes, in bytes of UTF-8 (413 beyond). The request body
    #: may be larger (JSON escaping): ``x-max-body-bytes`` of createImport in the contract.
    import_max_bytes: int = Field(default=10 * 1_048_576, ge=1, le=16 * 1_048_576)
    #: Rows the importer creates per transaction; progress is committed after each chunk.
    import_chunk_size: int = Field(default=200, ge=1, le=5_000)
    #: How often the importer looks for queued jobs when no NOTIFY wakes it, in seconds.
    import_poll_seconds: float = Field(default=1.0, gt=0)
    #: A running job whose worker has not committed a chunk for this long is taken over
    #: by another importer (its worker is taken for dead), in seconds.
    import_lease_seconds: float = Field(default=60.0, gt=0)
