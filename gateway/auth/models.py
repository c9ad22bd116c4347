"""The records the gateway's auth keeps (users, tokens, keys), as plain immutable values."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class User:
    """Someone who logs in with a username and password."""

    id: uuid.UUID
    username: str
    password_hash: str
    role: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class RefreshTokenState:
    """A stored refresh token and the state of its family, read under a row lock."""

    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    spent_at: datetime | None
    family_revoked_at: datetime | None


@dataclass(frozen=True)
class SigningKeyRecord:
    """One RSA key pair; the private half is encrypted PEM."""

    kid: str
    private_key_pem: str
    public_jwk: dict[str, Any]
    created_at: datetime
    activates_at: datetime
    retires_at: datetime | None


@dataclass(frozen=True)
class ApiKey:
    """A long-lived credential for a program; only its prefix and a hash are kept."""

    id: uuid.UUID
    name: str
    prefix: str
    secret_hash: bytes
    scopes: tuple[str, ...]
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def usable_at(self, moment: datetime) -> bool:
        """Whether the key may authenticate at ``moment``."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or moment < self.expires_at


#: Where the auth services read the time; tests pass their own to move it.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
