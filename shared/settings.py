"""Settings every service shares, read from environment variables (12-factor).

Each service subclasses :class:`ServiceSettings` in its own ``settings.py`` and
adds its knobs there; every field has a default that works on a developer
machine, and ``.env.example`` lists them all. A service's database is its own
knob, read from the one variable its declaration names
(``shared.services.Service.database_url_variable``, e.g. ``CUSTOMER_DATABASE_URL``)
and nothing else, so two services can never end up on one database by accident.
Every process also reads how discovery works here (:class:`DiscoverySettings`):
the backend, and what a ``consul`` registration announces.
"""

from __future__ import annotations

import re
import tomllib
from typing import Literal
from urllib.parse import urlsplit

from psycopg2.extensions import parse_dsn
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.services import LOCAL_POSTGRES, ROOT, local_discovery_map

__all__ = ["LOCAL_POSTGRES", "DiscoverySettings", "EventSettings", "ServiceSettings"]
#: RabbitMQ on a developer machine (its default account, which a production setting refuses).
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: The discovery backends ``DISCOVERY`` may name.
DISCOVERY_BACKENDS = ("static", "consul", "dns")
#: A Consul agent on this machine (its default HTTP address).
LOCAL_CONSUL = "http://127.0.0.1:8500"
#: A Go duration as Consul reads it (``10s``, ``1m30s``, ``500ms``).
_GO_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")


def project_version() -> str:
    """The version in ``pyproject.toml``, or ``unknown`` where it is not shipped (images)."""
    try:
        with (ROOT / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


class DiscoverySettings(BaseSettings):
    """How this process finds others and, under ``consul``, announces itself.

    Read by every service (through :class:`ServiceSettings`) and by gunicorn's
    arbiter (``shared/gunicorn_conf.py``), which registers the process group.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    #: ``static`` (``DISCOVERY_STATIC``), ``consul`` (``CONSUL_HTTP_ADDR``) or ``dns``
    #: (Kubernetes Services: ``<name><DISCOVERY_DNS_SUFFIX>:<DISCOVERY_DNS_PORT>``).
    discovery: str = "static"
    #: ``name=url[|url...]``, comma separated: where each service listens (default: every
    #: routed service of ``services.toml`` at its local port).
    discovery_static: str = local_discovery_map()
    #: The Consul agent's HTTP API (``http://host:8500``; ``https://`` for TLS).
    consul_http_addr: str = LOCAL_CONSUL
    #: The ACL token sent to Consul, when its ACLs are on.
    consul_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CONSUL_HTTP_TOKEN")
    )
    #: How long one blocking query waits for a change before Consul answers anyway.
    consul_wait_seconds: int = Field(default=30, ge=1, le=600)
    #: Longest pause between two attempts while Consul cannot be reached (the first is 0.5 s).
    consul_retry_max_seconds: float = Field(default=10.0, gt=0, le=300)
    #: The health check Consul runs on each registered instance's ``/healthz``, and how long
    #: an instance may stay critical before Consul removes it (Go durations).
    consul_check_interval: str = "5s"
    consul_check_timeout: str = "2s"
    consul_deregister_critical_after: str = "1m"
    #: Port of every service behind its Kubernetes Service name (``dns``).
    discovery_dns_port: int = Field(default=8000, ge=1, le=65_535)
    #: Appended to each service's declared name (``customer``) to make its DNS name:
    #: e.g. ``.clientele.svc.cluster.local``; empty: the bare name (same namespace).
    discovery_dns_suffix: str = ""
    #: How long a DNS answer is reused before the name is resolved again.
    discovery_dns_ttl_seconds: float = Field(default=5.0, ge=0, le=300)
    #: The address this instance announces (``consul``); default: the host it binds, or
    #: the machine's hostname when it binds every interface.
    service_address: str | None = None
    #: The version announced with each registration (Consul service meta ``version``).
    service_version: str = Field(default_factory=project_version)

    @field_validator("discovery")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in DISCOVERY_BACKENDS:
            raise ValueError(
                f"unknown discovery backend {value!r}; supported: {', '.join(DISCOVERY_BACKENDS)}"
            )
        return value

    @field_validator("consul_http_addr")
    @classmethod
    def _consul_address(cls, value: str) -> str:
        parts = urlsplit(value if "//" in value else f"http://{value}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"CONSUL_HTTP_ADDR {value!r} is not [http[s]://]host[:port]")
        return value

    @field_validator(
        "consul_check_interval", "consul_check_timeout", "consul_deregister_critical_after"
    )
    @classmethod
    def _go_duration(cls, value: str) -> str:
        if not _GO_DURATION.fullmatch(value):
            raise ValueError(f"{value!r} is not a duration such as 5s, 500ms or 1m")
        return value


class ServiceSettings(DiscoverySettings):
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
