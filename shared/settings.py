"""Settings every service shares, read from environment variables (12-factor).

Each service subclasses :class:`ServiceSettings` in its own ``settings.py`` and
adds its knobs there; every field has a default that works on a developer
machine, and ``.env.example`` lists them all. A service's database is its own
knob, read from the one variable its declaration names
(``shared.services.Service.database_url_variable``, e.g. ``CUSTOMER_DATABASE_URL``)
and nothing else, so two services can never end up on one database by accident.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from psycopg2.extensions import parse_dsn
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.services import LOCAL_POSTGRES

__all__ = ["LOCAL_POSTGRES", "EventSettings", "ServiceSettings"]
#: RabbitMQ on a developer machine (its default account, which a production setting refuses).
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


class ServiceSettings(BaseSettings):
    """Knobs common to every HTTP service."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "clientele"
    #: ``development`` (the default: local defaults and trust auth are fine) or
    #: ``production``, where a service refuses to start on a default or missing secret.
    clientele_env: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    #: Largest request body accepted, in bytes; bigger bodies get 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    jwt_issuer: str = "clientele-gateway"
    jwt_audience: str = "clientele"
    #: Where services fetch the gateway's public keys.
    jwt_jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    #: Clock skew tolerated on ``exp``/``nbf``/``iat``.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    #: Shortest time between two forced JWKS refreshes on an unknown key id.
    jwt_jwks_cooldown_seconds: float = Field(default=5.0, ge=0)
    #: Database connections kept per process.
    database_pool_size: int = Field(default=8, ge=1)
    database_connect_timeout_seconds: int = Field(default=3, ge=1)
    #: Statement timeout applied to every connection, in milliseconds.
    database_statement_timeout_ms: int = Field(default=5000, ge=0)

    def secret_problems(self) -> list[str]:
        """What makes these settings unsafe outside development (subclasses add theirs)."""
        url = getattr(self, "database_url", None)
        if url is not None and not parse_dsn(url).get("password"):
            return ["the database URL carries no password"]
        return []

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> ServiceSettings:
        if self.clientele_env != "development":
            problems = self.secret_problems()
            if problems:
                raise ValueError(
                    f"CLIENTELE_ENV={self.clientele_env} refuses to start: " + "; ".join(problems)
                )
        return self


class EventSettings(ServiceSettings):
    """Knobs of a service that publishes or consumes customer events (``shared.events``)."""

    #: The broker (``amqp://user:password@host:port/vhost``).
    amqp_url: str = LOCAL_AMQP
    #: The topic exchange of customer events; its consumers' queues are named after it.
    events_exchange: str = "customer.events"
    #: Where a worker process serves ``/metrics``, ``/healthz`` and ``/readyz``.
    metrics_bind: str | None = None

    def secret_problems(self) -> list[str]:
        """The database's, and a broker URL without a password or with RabbitMQ's default one."""
        problems = super().secret_problems()
        password = urlsplit(self.amqp_url).password
        if not password or password == "guest":  # noqa: S105  # nosec B105 # the default refused, not used
            problems.append("the AMQP URL carries no password or RabbitMQ's default one")
        return problems
