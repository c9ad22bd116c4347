"""Tokens and keys: ``/api/v1/auth/token|refresh|logout``, rotation and the JWKS."""

from __future__ import annotations

from typing import Any

from flask import Response, json

from gateway.auth_services import auth_services
from gateway.authentication import authenticated
from gateway.rbac import USERS_MANAGE
from gateway.resources import GatewayResource, json_answer, no_content
from gateway.schemas import RefreshTokenRequest, RotationOut, TokenRequest, TokenResponse
from gateway.tokens import TokenPair
from shared.validation import parse_body
from shared.web import ProblemApi

#: Tokens must not be kept by browsers or proxies (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Services re-fetch the JWKS on an unknown kid anyway; a minute of caching is safe.
JWKS_CACHE_CONTROL = "public, max-age=60"


def _token_answer(pair: TokenPair) -> tuple[dict[str, Any], int, dict[str, str]]:
    return json_answer(TokenResponse.of(pair.access, pair.refresh_token), 200, NO_STORE)


class TokenResource(GatewayResource):
    """Log in with a username and password."""

    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Exchange credentials for an access token and a refresh token."""
        body = parse_body(TokenRequest)
        return _token_answer(auth_services().tokens.login(body.username, body.password))


class RefreshResource(GatewayResource):
    """Trade a refresh token for a new pair."""

    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Spend the refresh token; answer with a new access and refresh token."""
        body = parse_body(RefreshTokenRequest)
        return _token_answer(auth_services().tokens.refresh(body.refresh_token))


class LogoutResource(GatewayResource):
    """End a session."""

    def post(self) -> Response:
        """Revoke the refresh token's family."""
        body = parse_body(RefreshTokenRequest)
        auth_services().tokens.logout(body.refresh_token)
        return no_content()


class JwksResource(GatewayResource):
    """The public keys that verify the gateway's tokens."""

    def get(self) -> Response:
        """The JWK Set, pending keys included."""
        response = Response(
            json.dumps(auth_services().signing_keys.jwks()), mimetype="application/json"
        )
        response.headers["Cache-Control"] = JWKS_CACHE_CONTROL
        return response


class SigningKeyRotationResource(GatewayResource):
    """Start using a new signing key without logging anyone out."""

    method_decorators = [authenticated(USERS_MANAGE)]

    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Create a key that signs after the activation delay; schedule the old ones' retirement."""
        return json_answer(RotationOut.of(auth_services().signing_keys.rotate()), 201)


def register_auth_api(api: ProblemApi) -> None:
    """Mount the token endpoints and the JWKS."""
    api.add_resource(TokenResource, "/api/v1/auth/token")
    api.add_resource(RefreshResource, "/api/v1/auth/refresh")
    api.add_resource(LogoutResource, "/api/v1/auth/logout")
    api.add_resource(JwksResource, "/.well-known/jwks.json")
    api.add_resource(SigningKeyRotationResource, "/api/v1/auth/signing-keys/rotate")
