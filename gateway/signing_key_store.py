"""SQL for signing keys; runs inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from psycopg2.extras import Json

from gateway.models import SigningKeyRecord
from shared.database import Cursor

#: ``pg_advisory_xact_lock`` key serialising key creation and rotation across
#: processes (the bytes of "clt-sign" as a bigint).
SIGNING_KEY_LOCK = 0x636C_742D_7369_676E


class SigningKeyStore:
    """Reads and writes the ``signing_keys`` table."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def lock(self) -> None:
        """Hold the signing-key lock until the transaction ends (every process, every worker)."""
        self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SIGNING_KEY_LOCK,))

    def live(self, moment: datetime) -> list[SigningKeyRecord]:
        """Keys not retired at ``moment``, newest first (pending ones included)."""
        self._cursor.execute(
            "SELECT kid, private_key_pem, public_jwk, created_at, activates_at, retires_at"
            " FROM signing_keys WHERE retires_at IS NULL OR retires_at > %s"
            " ORDER BY created_at DESC, kid",
            (moment,),
        )
        return [SigningKeyRecord(**row) for row in self._cursor.fetchall()]

    def insert(self, key: SigningKeyRecord) -> None:
        """Store a new key pair."""
        self._cursor.execute(
            "INSERT INTO signing_keys"
            " (kid, private_key_pem, public_jwk, created_at, activates_at, retires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                key.kid,
                key.private_key_pem,
                Json(key.public_jwk),
                key.created_at,
                key.activates_at,
                key.retires_at,
            ),
        )

    def delete_pending(self, moment: datetime) -> list[str]:
        """Delete keys not yet active at ``moment`` (they never signed); their kids."""
        self._cursor.execute(
            "DELETE FROM signing_keys WHERE activates_at > %s RETURNING kid", (moment,)
        )
        return [row["kid"] for row in self._cursor.fetchall()]

    def retire_all_but(self, kid: str, retires_at: datetime) -> list[tuple[str, datetime]]:
        """Schedule every other key to retire by ``retires_at``; the keys changed."""
        self._cursor.execute(
            "UPDATE signing_keys SET retires_at = %s"
            " WHERE kid <> %s AND (retires_at IS NULL OR retires_at > %s)"
            " RETURNING kid, retires_at",
            (retires_at, kid, retires_at),
        )
        return [(row["kid"], row["retires_at"]) for row in self._cursor.fetchall()]
