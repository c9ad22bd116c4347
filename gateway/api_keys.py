"""API keys for programs: create (shown once), list, revoke, check.

A key reads ``clt_<prefix>_<secret>``. The prefix is public and finds the
row; only the SHA-256 of the secret is stored. A plain hash is enough here, not
a slow password hash: the secret is 256 random bits, so there is nothing to
guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.api_key_store import ApiKeyStore
from gateway.errors import ApiKeyNotFound, InvalidApiKey
from gateway.models import ApiKey
from gateway.rbac import ordered_scopes
from shared.database import Database

KEY_MARK = "clt"
_KEY_FORMAT = re.compile(r"clt_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key's record and the full key, which exists only in this answer."""

    record: ApiKey
    key: str


def secret_hash(secret: str) -> bytes:
    """What is stored for a key's secret part."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


class ApiKeyService:
    """The use cases around API keys; no HTTP, no SQL strings."""

    def __init__(self, database: Database, *, last_used_interval_seconds: int) -> None:
        self._database = database
        self._last_used_interval = timedelta(seconds=last_used_interval_seconds)

    def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        expires_at: datetime | None = None,
        created_by: uuid.UUID | None = None,
    ) -> CreatedApiKey:
        """A new key with ``scopes``; the full key is returned here and never again."""
        # 48 random bits of prefix: a clash among an installation's keys is not a practical concern.
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = ApiKey(
            id=uuid.uuid4(),
            name=name,
            prefix=prefix,
            secret_hash=secret_hash(secret),
            scopes=ordered_scopes(scopes),
            created_by=created_by,
            created_at=datetime.now(UTC),
            expires_at=expires_at,
            revoked_at=None,
            last_used_at=None,
        )
        with self._database.transaction() as cursor:
            ApiKeyStore(cursor).insert(record)
        return CreatedApiKey(record, f"{KEY_MARK}_{prefix}_{secret}")

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked and expired ones included, oldest first."""
        with self._database.transaction() as cursor:
            return ApiKeyStore(cursor).all()

    def revoke(self, key_id: uuid.UUID) -> None:
        """Revoke the key now; revoking twice is harmless."""
        with self._database.transaction() as cursor:
            found = ApiKeyStore(cursor).revoke(key_id, datetime.now(UTC))
        if not found:
            raise ApiKeyNotFound(f"No API key with id {key_id}")

    def authenticate(self, presented: str) -> ApiKey:
        """The usable key ``presented`` names; :class:`InvalidApiKey` otherwise."""
        match = _KEY_FORMAT.fullmatch(presented)
        if match is None:
            raise InvalidApiKey()
        now = datetime.now(UTC)
        with self._database.transaction() as cursor:
            store = ApiKeyStore(cursor)
            key = store.by_prefix(match["prefix"])
            if key is None:
                raise InvalidApiKey()
            if not hmac.compare_digest(key.secret_hash, secret_hash(match["secret"])):
                raise InvalidApiKey()
            if not key.usable_at(now):
                raise InvalidApiKey()
            # Written at most once per interval: a busy key must not turn reads into writes.
            if key.last_used_at is None or now - key.last_used_at >= self._last_used_interval:
                store.touch(key.id, now)
        return key
