"""An RS256 token issuer for tests of one service on its own.

It signs with its own RSA key and hands that key to the service's
``TokenVerifier`` as its key source, the way the gateway's JWKS would. Tests
that cross services use real tokens from a running gateway instead.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import Unauthorized
from shared.services import role_scopes

ISSUER = "clientele-gateway"
AUDIENCE = "clientele"

#: Each role's ``scope`` claim, as the gateway grants it (``services.toml``).
ROLE_SCOPES = {role: " ".join(scopes) for role, scopes in role_scopes().items()}


class TestIssuer:
    """Mints tokens the way the gateway does, with a key of its own."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = self.private_key.public_key()

    def key_source(self, kid: str) -> Any:
        """A ``shared.auth.KeySource`` that knows only this issuer's key."""
        if kid != self.kid:
            raise Unauthorized("Token signed with an unknown key")
        return self.public_key

    def claims(self, role: str = "admin", **overrides: Any) -> dict[str, Any]:
        """Claims of a valid token for ``role``; ``overrides`` replace any of them."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "name": f"{role}-user",
            "role": role,
            "scope": ROLE_SCOPES.get(role, ""),
            "kind": "user",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def token(self, role: str = "admin", **overrides: Any) -> str:
        """A signed token for ``role``."""
        return jwt.encode(
            self.claims(role, **overrides),
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid},
        )

    def headers(self, role: str = "admin", **overrides: Any) -> dict[str, str]:
        """``Authorization`` header carrying a token for ``role``."""
        return {"Authorization": f"Bearer {self.token(role, **overrides)}"}
