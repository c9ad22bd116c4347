"""The auth object graph, built once per process from settings (the app factory and the CLI)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.auth.credentials import RequestAuthenticator
from gateway.auth.models import Clock, utc_now
from gateway.auth.passwords import PasswordHasher
from gateway.auth.service import AccountService, ApiKeyService, LoginThrottle, SessionService
from gateway.auth.signing import AccessTokenIssuer, SigningKeyRing
from gateway.auth.store import AuthStore
from gateway.settings import Settings
from shared.auth import TokenVerifier
from shared.database import Database


@dataclass(frozen=True)
class AuthComponents:
    """Everything the auth endpoints, the edge and the CLI use."""

    settings: Settings
    store: AuthStore
    signing_keys: SigningKeyRing
    issuer: AccessTokenIssuer
    accounts: AccountService
    sessions: SessionService
    api_keys: ApiKeyService
    verifier: TokenVerifier
    authenticator: RequestAuthenticator

    @property
    def database(self) -> Database:
        """The gateway's connection pool (whoever owns the components closes it)."""
        return self.store.database


def open_database(settings: Settings) -> Database:
    """The gateway's connection pool, configured from ``settings``."""
    return Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name=settings.service_name,
    )


def build_auth(
    settings: Settings,
    database: Database,
    *,
    clock: Clock = utc_now,
    throttle: LoginThrottle | None = None,
) -> AuthComponents:
    """Wire the auth services together; nothing here touches the database yet."""
    store = AuthStore(database)
    longest_token = max(settings.access_token_ttl_seconds, settings.api_key_token_ttl_seconds)
    signing_keys = SigningKeyRing(
        store,
        passphrase=settings.jwt_key_passphrase.get_secret_value().encode("utf-8"),
        cache_seconds=settings.signing_key_cache_seconds,
        activation_delay_seconds=settings.jwt_key_activation_delay_seconds,
        # An old key stays published until the last token it may sign expires:
        # signed up to one cache period after the new key activates, then
        # valid for a token lifetime plus the verifiers' clock leeway.
        retire_after_seconds=longest_token
        + settings.jwt_leeway_seconds
        + math.ceil(settings.signing_key_cache_seconds),
        clock=clock,
    )
    issuer = AccessTokenIssuer(
        signing_keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        clock=clock,
    )
    passwords = PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )
    accounts = AccountService(store, passwords)
    api_keys = ApiKeyService(
        store, last_used_interval_seconds=settings.api_key_last_used_interval_seconds, clock=clock
    )
    verifier = TokenVerifier(
        keys=signing_keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    return AuthComponents(
        settings=settings,
        store=store,
        signing_keys=signing_keys,
        issuer=issuer,
        accounts=accounts,
        sessions=SessionService(
            store,
            accounts,
            issuer,
            refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
            clock=clock,
            throttle=throttle,
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
