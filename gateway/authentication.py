"""Who is calling: a bearer JWT or an API key, turned into a principal and a token to forward.

Every service behind the gateway verifies JWTs itself, so a request made
with an API key gets a short-lived access token minted for that key, and the
forwarding code sends that token downstream in place of the key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import ParamSpec, TypeVar

from flask import current_app, g, request
from werkzeug.datastructures import Headers

from gateway.access_tokens import AccessTokenIssuer, api_key_principal
from gateway.api_keys import ApiKeyService
from shared.auth import Principal, TokenVerifier
from shared.errors import Forbidden, Unauthorized

#: ``app.extensions`` key of the :class:`~shared.auth.TokenVerifier` for the gateway's tokens.
VERIFIER_EXTENSION = "clientele.verifier"
#: ``app.extensions`` key of the :class:`RequestAuthenticator`.
AUTHENTICATOR_EXTENSION = "clientele.authenticator"

P = ParamSpec("P")
R = TypeVar("R")


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

    def authenticate(self, headers: Mapping[str, str] | Headers) -> Authentication:
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
        return Authentication(self._verifier.verify(token), token)

    def from_api_key(self, key: str) -> Authentication:
        """A caller with an API key: checked, then given a short-lived token of its own."""
        principal = api_key_principal(self._api_keys.authenticate(key))
        minted = self._issuer.token_for_principal(principal, self._api_key_token_ttl)
        return Authentication(replace(principal, token_id=minted.token_id), minted.token)


def request_verifier() -> TokenVerifier:
    """The verifier of the app serving this request."""
    verifier: TokenVerifier = current_app.extensions[VERIFIER_EXTENSION]
    return verifier


def authenticate_request() -> Authentication:
    """Authenticate the current request (once per request); sets ``g.principal`` too."""
    authentication: Authentication | None = g.get("authentication")
    if authentication is None:
        authenticator: RequestAuthenticator = current_app.extensions[AUTHENTICATOR_EXTENSION]
        authentication = authenticator.authenticate(request.headers)
        g.authentication = authentication
        # shared.auth.current_principal() and require_scope() read it from here.
        g.principal = authentication.principal
    return authentication


def authenticate_for_forwarding() -> tuple[Principal, str]:
    """The current request's principal and the bearer token to send downstream."""
    authentication = authenticate_request()
    return authentication.principal, authentication.bearer_token


def authenticated(scope: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Authenticate the request (401), then refuse it unless the caller holds ``scope`` (403)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            principal = authenticate_request().principal
            if not principal.has_scope(scope):
                raise Forbidden(f"Role {principal.role!r} lacks scope {scope!r}")
            return view(*args, **kwargs)

        return guarded

    return decorate
