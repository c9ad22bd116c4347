"""Who is calling: a bearer JWT or an API key, turned into a principal and a token to forward.

Every service behind the gateway verifies JWTs itself, so a request made
with an API key gets a short-lived access token minted for that key, and the
forwarding code sends that token downstream in place of the key. No
framework here: the caller hands in the request's headers.

Every principal the gateway authenticates also holds
:data:`~gateway.auth.roles.ACCOUNT_SCOPE` (one's own account), which no
token carries: signing in is what grants it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Protocol

import jwt

from gateway.auth.roles import ACCOUNT_SCOPE
from gateway.auth.service import ApiKeyService
from gateway.auth.signing import SESSION_CLAIM, AccessTokenIssuer, api_key_principal
from shared.auth import Principal, TokenVerifier
from shared.errors import Unauthorized


class Headers(Protocol):
    """Request headers, looked up by name case-insensitively (any web framework's)."""

    def get(self, key: str) -> str | None: ...


@dataclass(frozen=True)
class Authentication:
    """An authenticated caller and the bearer token to forward on its behalf."""

    principal: Principal
    bearer_token: str


class RequestAuthenticator:
    """Checks a request's credentials: ``Bearer <jwt>``, ``ApiKey <key>`` or ``X-API-Key``."""

    def __init__(
        self,
        verifier: TokenVerifier,
        api_keys: ApiKeyService,
        issuer: AccessTokenIssuer,
        *,
        api_key_token_ttl_seconds: int,
    ) -> None:
        self._verifier = verifier
        self._api_keys = api_keys
        self._issuer = issuer
        self._api_key_token_ttl = api_key_token_ttl_seconds

    def authenticate(self, headers: Headers) -> Authentication:
        """The caller these headers prove; :class:`Unauthorized` otherwise."""
        authorization = (headers.get("Authorization") or "").strip()
        if authorization:
            # Authorization wins over X-API-Key when a client sends both.
            scheme, _, credential = authorization.partition(" ")
            credential = credential.strip()
            if scheme.lower() == "bearer" and credential:
                return self.from_bearer_token(credential)
            if scheme.lower() == "apikey" and credential:
                return self.from_api_key(credential)
            raise Unauthorized("Authorization header must be 'Bearer <token>' or 'ApiKey <key>'")
        api_key = (headers.get("X-API-Key") or "").strip()
        if api_key:
            return self.from_api_key(api_key)
        raise Unauthorized(
            "Missing credentials: send 'Authorization: Bearer <token>' or an API key"
        )

    def from_bearer_token(self, token: str) -> Authentication:
        """A caller with an access token: verified, forwarded as it came."""
        return Authentication(signed_in(self._verifier.verify(token)), token)

    def from_api_key(self, key: str) -> Authentication:
        """A caller with an API key: checked, then given a short-lived token of its own."""
        principal = api_key_principal(self._api_keys.authenticate(key))
        minted = self._issuer.token_for_principal(principal, self._api_key_token_ttl)
        return Authentication(signed_in(replace(principal, token_id=minted.token_id)), minted.token)


def signed_in(principal: Principal) -> Principal:
    """``principal`` holding the scope of its own account, as every authenticated caller does."""
    return replace(principal, scopes=principal.scopes | {ACCOUNT_SCOPE})


def session_of(verified_token: str) -> uuid.UUID | None:
    """The session (refresh token family) a token the gateway has verified was issued in.

    ``None`` for a token minted for an API key, or without a well-formed ``sid``.
    Only for a token :class:`RequestAuthenticator` accepted: the claims are read
    again here, not verified again.
    """
    try:
        claims = jwt.decode(verified_token, options={"verify_signature": False})
        return uuid.UUID(str(claims[SESSION_CLAIM]))
    except (jwt.PyJWTError, KeyError, ValueError):
        return None
