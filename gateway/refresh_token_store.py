"""SQL for refresh tokens and their families; runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from gateway.models import RefreshTokenState
from shared.database import Cursor


class RefreshTokenStore:
    """Reads and writes ``refresh_tokens`` and ``refresh_token_families``."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def create_family(self, user_id: uuid.UUID) -> uuid.UUID:
        """Start a family for one login of ``user_id``."""
        family_id = uuid.uuid4()
        self._cursor.execute(
            "INSERT INTO refresh_token_families (id, user_id) VALUES (%s, %s)",
            (family_id, user_id),
        )
        return family_id

    def add_token(
        self, family_id: uuid.UUID, token_hash: bytes, issued_at: datetime, expires_at: datetime
    ) -> None:
        """Record a new token of ``family_id`` by its hash."""
        self._cursor.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)"
            " VALUES (%s, %s, %s, %s)",
            (token_hash, family_id, issued_at, expires_at),
        )

    def lock_token(self, token_hash: bytes) -> RefreshTokenState | None:
        """The token and its family, both row-locked so concurrent refreshes queue up."""
        self._cursor.execute(
            "SELECT t.family_id, f.user_id, t.expires_at, t.spent_at,"
            " f.revoked_at AS family_revoked_at"
            " FROM refresh_tokens t JOIN refresh_token_families f ON f.id = t.family_id"
            " WHERE t.token_hash = %s FOR UPDATE OF t, f",
            (token_hash,),
        )
        row = self._cursor.fetchone()
        return None if row is None else RefreshTokenState(**row)

    def spend(self, token_hash: bytes, spent_at: datetime) -> None:
        """Mark a token used; presenting it again is reuse."""
        self._cursor.execute(
            "UPDATE refresh_tokens SET spent_at = %s WHERE token_hash = %s",
            (spent_at, token_hash),
        )

    def revoke_family(self, family_id: uuid.UUID, reason: str) -> None:
        """Stop every token of the family from working (first reason wins)."""
        self._cursor.execute(
            "UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = %s"
            " WHERE id = %s AND revoked_at IS NULL",
            (reason, family_id),
        )

    def revoke_family_of(self, token_hash: bytes, reason: str) -> None:
        """Revoke the family the token with this hash belongs to, if any."""
        self._cursor.execute(
            "UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = %s"
            " WHERE revoked_at IS NULL"
            " AND id = (SELECT family_id FROM refresh_tokens WHERE token_hash = %s)",
            (reason, token_hash),
        )

    def revoke_user_families(self, user_id: uuid.UUID, reason: str) -> int:
        """Revoke every live family of ``user_id``; how many were revoked."""
        self._cursor.execute(
            "UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = %s"
            " WHERE user_id = %s AND revoked_at IS NULL",
            (reason, user_id),
        )
        return int(self._cursor.rowcount)
