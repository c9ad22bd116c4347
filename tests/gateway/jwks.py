"""Verifying gateway tokens the way another service does: from the published JWKS only."""

from __future__ import annotations

from typing import Any

import jwt
from flask.testing import FlaskClient

from shared.auth import TokenVerifier
from shared.errors import Unauthorized


def jwks_key_source(client: FlaskClient) -> Any:
    """A ``KeySource`` that reads ``/.well-known/jwks.json`` at each lookup."""

    def keys(kid: str) -> Any:
        key_set = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").get_json())
        for key in key_set.keys:
            if key.key_id == kid:
                return key.key
        raise Unauthorized("Token signed with an unknown key")

    return keys


def service_verifier(client: FlaskClient, leeway: int = 0) -> TokenVerifier:
    """The verifier a downstream service would build for this gateway."""
    return TokenVerifier(
        keys=jwks_key_source(client),
        issuer="clientele-gateway",
        audience="clientele",
        leeway=leeway,
    )
