"""SQL for API keys; runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.models import ApiKey
from shared.database import Cursor


def _api_key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        **{**row, "secret_hash": bytes(row["secret_hash"]), "scopes": tuple(row["scopes"])}
    )


class ApiKeyStore:
    """Reads and writes the ``api_keys`` table."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def insert(self, key: ApiKey) -> None:
        """Store a new key (its prefix and secret hash, never the key)."""
        self._cursor.execute(
            "INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_by,"
            " created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                key.id,
                key.name,
                key.prefix,
                key.secret_hash,
                list(key.scopes),
                key.created_by,
                key.created_at,
                key.expires_at,
            ),
        )

    def by_prefix(self, prefix: str) -> ApiKey | None:
        """The key with this public prefix."""
        self._cursor.execute(
            "SELECT id, name, prefix, secret_hash, scopes, created_by, created_at, expires_at,"
            " revoked_at, last_used_at FROM api_keys WHERE prefix = %s",
            (prefix,),
        )
        row = self._cursor.fetchone()
        return None if row is None else _api_key(row)

    def all(self) -> list[ApiKey]:
        """Every key, oldest first."""
        self._cursor.execute(
            "SELECT id, name, prefix, secret_hash, scopes, created_by, created_at, expires_at,"
            " revoked_at, last_used_at FROM api_keys ORDER BY created_at, id"
        )
        return [_api_key(row) for row in self._cursor.fetchall()]

    def revoke(self, key_id: uuid.UUID, moment: datetime) -> bool:
        """Revoke the key (once); whether a key with this id exists."""
        self._cursor.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s",
            (moment, key_id),
        )
        return bool(self._cursor.rowcount)

    def touch(self, key_id: uuid.UUID, moment: datetime) -> None:
        """Record that the key was used at ``moment``."""
        self._cursor.execute(
            "UPDATE api_keys SET last_used_at = %s WHERE id = %s", (moment, key_id)
        )
