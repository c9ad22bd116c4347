"""The authentication object graph, built once per process from settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from flask import current_app

from gateway.access_tokens import AccessTokenIssuer
from gateway.accounts import AccountService
from gateway.api_keys import ApiKeyService
from gateway.authentication import RequestAuthenticator
from gateway.passwords import PasswordHasher
from gateway.settings import Settings
from gateway.signing_keys import SigningKeyRing
from gateway.tokens import TokenService
from shared.auth import TokenVerifier
from shared.database import Database

#: ``app.extensions`` key of the :class:`AuthServices`.
AUTH_SERVICES_EXTENSION = "clientele.auth"


@dataclass(frozen=True)
class AuthServices:
    """Everything the auth endpoints, the CLI and the forwarding code use."""

    settings: Settings
    database: Database
    signing_keys: SigningKeyRing
    issuer: AccessTokenIssuer
    accounts: AccountService
    tokens: TokenService
    api_keys: ApiKeyService
    verifier: TokenVerifier
    authenticator: RequestAuthenticator


def open_database(settings: Settings) -> Database:
    """The gateway's connection pool, configured from ``settings``."""
    return Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name=settings.service_name,
    )


def build_auth_services(settings: Settings, database: Database) -> AuthServices:
    """Wire the services together; nothing here touches the database yet."""
    longest_token = max(settings.access_token_ttl_seconds, settings.api_key_token_ttl_seconds)
    signing_keys = SigningKeyRing(
        database,
        passphrase=settings.jwt_key_passphrase.get_secret_value().encode("utf-8"),
        cache_seconds=settings.signing_key_cache_seconds,
        activation_delay_seconds=settings.jwt_key_activation_delay_seconds,
        # An old key stays published until the last token it may sign expires:
        # signed up to one cache period after the new key activates, then
        # valid for a token lifetime plus the verifiers' clock leeway.
        retire_after_seconds=longest_token
        + settings.jwt_leeway_seconds
        + math.ceil(settings.signing_key_cache_seconds),
    )
    issuer = AccessTokenIssuer(
        signing_keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    passwords = PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )
    accounts = AccountService(database, passwords)
    api_keys = ApiKeyService(
        database, last_used_interval_seconds=settings.api_key_last_used_interval_seconds
    )
    verifier = TokenVerifier(
        keys=signing_keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    return AuthServices(
        settings=settings,
        database=database,
        signing_keys=signing_keys,
        issuer=issuer,
        accounts=accounts,
        tokens=TokenService(
            database, accounts, issuer, refresh_ttl_seconds=settings.refresh_token_ttl_seconds
        ),
        api_keys=api_keys,
        verifier=verifier,
        authenticator=RequestAuthenticator(
            verifier,
            api_keys,
            issuer,
            api_key_token_ttl_seconds=settings.api_key_token_ttl_seconds,
        ),
    )


def auth_services() -> AuthServices:
    """The services of the app serving this request."""
    services: AuthServices = current_app.extensions[AUTH_SERVICES_EXTENSION]
    return services
