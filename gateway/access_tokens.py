"""Minting RS256 access tokens that every service verifies with ``shared.auth``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from gateway.models import ApiKey, User
from gateway.rbac import API_KEY_ROLE, scope_string, scopes_for_role
from gateway.signing_keys import SigningKeyRing
from shared.auth import ALGORITHM, Principal

#: ``typ`` header of an OAuth 2.0 access token in JWT form (RFC 9068).
JWT_TYPE = "at+jwt"


@dataclass(frozen=True)
class AccessToken:
    """A signed access token and what a client needs to know about it."""

    token: str
    expires_in: int
    scope: str
    #: The ``jti`` claim.
    token_id: str


def user_principal(user: User) -> Principal:
    """The principal a user's token describes: scopes come from the role table."""
    return Principal(
        subject=str(user.id),
        name=user.username,
        role=user.role,
        scopes=frozenset(scopes_for_role(user.role)),
        kind="user",
    )


def api_key_principal(key: ApiKey) -> Principal:
    """The principal a request made with an API key acts as: the key's own scopes."""
    return Principal(
        subject=str(key.id),
        name=key.name,
        role=API_KEY_ROLE,
        scopes=frozenset(key.scopes),
        kind="api_key",
    )


class AccessTokenIssuer:
    """Signs access tokens with the ring's active key."""

    def __init__(
        self, keys: SigningKeyRing, *, issuer: str, audience: str, ttl_seconds: int
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl_seconds = ttl_seconds

    def token_for_principal(
        self, principal: Principal, ttl_seconds: int | None = None
    ) -> AccessToken:
        """A token naming ``principal``, valid for ``ttl_seconds`` (default: access TTL)."""
        ttl = self._ttl_seconds if ttl_seconds is None else ttl_seconds
        now = int(time.time())
        scope = scope_string(principal.scopes)
        token_id = uuid.uuid4().hex
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": principal.subject,
            "name": principal.name,
            "role": principal.role,
            "scope": scope,
            "kind": principal.kind,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": token_id,
        }
        key = self._keys.signing_key()
        token = jwt.encode(
            claims,
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": JWT_TYPE},
        )
        return AccessToken(token=token, expires_in=ttl, scope=scope, token_id=token_id)

    def token_for_user(self, user: User) -> AccessToken:
        """An access token for a logged-in user."""
        return self.token_for_principal(user_principal(user))
