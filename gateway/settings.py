"""Every knob of the gateway, from environment variables, with local defaults."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from limits import parse
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.services import local_discovery_map, routed_services, service_named
from shared.settings import ServiceSettings

DECLARED = service_named("gateway")

#: Passphrase that encrypts signing keys on a developer machine. For development
#: only: every shared or production deployment sets ``JWT_KEY_PASSPHRASE``.
DEVELOPMENT_KEY_PASSPHRASE = "clientele-development-only-passphrase"  # noqa: S105 (documented)
#: Shortest passphrase accepted outside development (``make run`` generates 43 characters).
MIN_PASSPHRASE_LENGTH = 24
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
#: A DNS name (internationalised ones in their ``xn--`` form, as browsers send them), an
#: IPv4 address, or an IPv6 address (``urlsplit`` has taken its brackets off).
_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*|[0-9a-f:.]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RouteTimeouts(BaseModel):
    """One route's timeouts; a field left out takes the gateway-wide one."""

    connect: float | None = Field(default=None, gt=0)
    read: float | None = Field(default=None, gt=0)


def web_origin(value: str) -> str:
    """``value`` as a browser serializes an origin (``https://app.example.com:8443``).

    Browsers send ``Origin`` lower-cased and without a default port; an origin
    written otherwise here would never match. Paths, wildcards and ``null`` are
    refused: each entry names exactly one origin.
    """
    text = value.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        not _SCHEME.fullmatch(scheme)
        or not _HOST.fullmatch(host)
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
        or text.endswith(("?", "#"))
        or port == -1
    ):
        raise ValueError(
            f"{value!r} is not an origin: write scheme://host[:port], no path, no wildcard"
        )
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address keeps its brackets
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class Settings(ServiceSettings):
    """Gateway settings; field names are the environment variable names."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "gateway"
    #: The gateway's own database; only ``GATEWAY_DATABASE_URL`` sets it.
    database_url: str = Field(
        default=DECLARED.local_database_url,
        validation_alias=AliasChoices(DECLARED.database_url_variable),
    )
    redis_url: str = "redis://127.0.0.1:6379/0"

    #: Lifetime of an access token issued at login or refresh.
    access_token_ttl_seconds: int = Field(default=900, ge=1, le=86_400)
    #: Lifetime of each refresh token; every refresh hands out a fresh one.
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=1)
    #: Lifetime of the internal access token minted for a request made with an API key.
    api_key_token_ttl_seconds: int = Field(default=60, ge=1, le=3_600)
    #: Shortest time between two writes of an API key's ``last_used_at``.
    api_key_last_used_interval_seconds: int = Field(default=60, ge=0)

    #: Encrypts the signing keys' private halves at rest.
    jwt_key_passphrase: SecretStr = SecretStr(DEVELOPMENT_KEY_PASSPHRASE)
    #: A rotated key is published in the JWKS this long before it signs, so
    #: services' JWKS caches see it first.
    jwt_key_activation_delay_seconds: int = Field(default=10, ge=0)
    #: How long a process trusts its in-memory copy of the signing keys.
    signing_key_cache_seconds: float = Field(default=5.0, ge=0)

    #: Argon2id cost; changing it makes each user's hash upgrade at next login.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65_536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)

    #: The first admin, created by ``python -m gateway.cli ensure-admin``.
    admin_username: str = "admin"
    #: Password of the first admin; when unset, one is generated and printed once.
    admin_password: SecretStr | None = None

    #: Requests per principal (user or API key) to the API, in ``limits`` notation.
    rate_limit_api: str = "600/minute"
    #: Requests per client address to ``/auth/token``, ``/auth/refresh`` and ``/auth/logout``
    #: (the operations whose contract entry says ``x-rate-limit: auth``).
    rate_limit_auth: str = "10/minute"
    #: Failed logins per account (any address) before it answers 429 until the window
    #: moves on: slows guessing spread over many addresses, never locks out for good.
    rate_limit_login_failures: str = "10 per 15 minutes"
    #: Requests per client address to every other public endpoint (JWKS, health, metrics,
    #: the contract): room for probes and scrapers, not for a flood.
    rate_limit_public: str = "1200/minute"
    #: Requests per principal to the NLP routes (their operations say ``x-rate-limit: nlp``):
    #: a model's forward pass costs far more than a read.
    rate_limit_nlp: str = "120/minute"
    #: Prefix of the rate limit keys in Redis (one per deployment sharing a Redis).
    rate_limit_key_prefix: str = "clientele-ratelimit"
    #: Proxies in front of the gateway whose ``X-Forwarded-*`` headers are trusted.
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)

    #: Web origins (``https://app.example.com``), comma separated, whose front ends may call
    #: the API from a browser (CORS on ``/api/v1/*`` and the JWKS). Empty: no CORS at all.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    #: How long a browser may reuse a preflight's answer (browsers cap it: Chromium at 2 h).
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86_400)

    #: Discovery backend; ``static`` reads ``DISCOVERY_STATIC``.
    discovery: str = "static"
    #: ``name=url[|url...]``, comma separated: where each service listens (default: every
    #: routed service of ``services.toml`` at its local port).
    discovery_static: str = local_discovery_map()
    #: Seconds to wait for a connection to an instance, and for its answer (every route).
    upstream_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    upstream_read_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Per route, by service name (``services.toml``), JSON: ``{"nlp": {"read": 30}}``;
    #: what a route leaves out comes from the two above. NLP calls run a model.
    upstream_route_timeouts: dict[str, RouteTimeouts] = Field(
        default_factory=lambda: {"nlp": RouteTimeouts(read=30.0)}
    )
    #: Keep-alive connections per instance per gateway process. Past it each call opens
    #: and closes a connection of its own: at 1,000 clients, 32 cost 40 % more CPU per call.
    upstream_pool_size: int = Field(default=512, ge=1)
    #: Calls in flight per instance per gateway process; more wait their turn (up to the
    #: route's read timeout). At 1,000 clients the service spent less per call.
    upstream_max_in_flight: int = Field(default=64, ge=1)
    #: Transport failures in a row that open an instance's circuit.
    upstream_breaker_fail_max: int = Field(default=5, ge=1)
    #: How long an open circuit fails fast before letting one call try.
    upstream_breaker_reset_seconds: float = Field(default=10.0, gt=0)
    #: Attempts per forwarded request (each on another instance), where a retry is safe.
    upstream_retry_attempts: int = Field(default=3, ge=1, le=10)
    #: Retries a service may take: this share of its requests of the last 10 s (plus 1/s).
    upstream_retry_budget_ratio: float = Field(default=0.2, ge=0, le=1)
    #: Back-off before retry n: uniform in [0, min(max, base * 2^(n-1))] seconds.
    upstream_retry_backoff_base_seconds: float = Field(default=0.01, ge=0)
    upstream_retry_backoff_max_seconds: float = Field(default=0.2, ge=0)

    @field_validator("upstream_route_timeouts")
    @classmethod
    def _known_routes(cls, value: dict[str, RouteTimeouts]) -> dict[str, RouteTimeouts]:
        routed = {service.name for service in routed_services()}
        unknown = sorted(set(value) - routed)
        if unknown:
            raise ValueError(
                f"no routed service named {', '.join(unknown)}; routed: {sorted(routed)}"
            )
        return value

    def secret_problems(self) -> list[str]:
        """The database password, and a key passphrase of our own, long and not the default."""
        problems = super().secret_problems()
        passphrase = self.jwt_key_passphrase.get_secret_value()
        if passphrase == DEVELOPMENT_KEY_PASSPHRASE:
            problems.append("JWT_KEY_PASSPHRASE is the development default")
        elif len(passphrase) < MIN_PASSPHRASE_LENGTH:
            problems.append(f"JWT_KEY_PASSPHRASE is shorter than {MIN_PASSPHRASE_LENGTH}")
        return problems

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: Any) -> tuple[str, ...]:
        entries = value.split(",") if isinstance(value, str) else list(value)
        origins = (web_origin(str(entry)) for entry in entries if str(entry).strip())
        return tuple(dict.fromkeys(origins))

    @field_validator(
        "rate_limit_api",
        "rate_limit_auth",
        "rate_limit_public",
        "rate_limit_login_failures",
        "rate_limit_nlp",
    )
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        parse(value)  # raises ValueError naming what it could not read
        return value
