"""SQL for the gateway's database; nothing else in the gateway writes SQL.

:class:`AuthStore` opens a transaction and hands out an :class:`AuthTransaction`
whose methods each run one parameterised statement on users, refresh token
families, API keys or signing keys. Failures the service must tell apart are
store exceptions (:class:`UsernameInUse`), never HTTP errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg2.errors
from psycopg2 import sql
from psycopg2.extras import Json

from gateway.auth.models import ApiKey, RefreshTokenState, SigningKeyRecord, User
from shared.database import Cursor, Database

#: ``pg_advisory_xact_lock`` key serialising key creation and rotation across
#: processes (the bytes of "clt-sign" as a bigint).
SIGNING_KEY_LOCK = 0x636C_742D_7369_676E
#: ``pg_advisory_xact_lock`` key so two ``ensure-admin`` runs create one admin.
ENSURE_ADMIN_LOCK = 0x636C_742D_6164_6D6E

# Column lists are fixed text composed with psycopg2.sql, never request data.
USER_COLUMNS = sql.SQL("id, username, password_hash, role, disabled, created_at")
API_KEY_COLUMNS = sql.SQL(
    "id, name, prefix, secret_hash, scopes, created_by, created_at, expires_at,"
    " revoked_at, last_used_at"
)
SIGNING_KEY_COLUMNS = sql.SQL(
    "kid, private_key_pem, public_jwk, created_at, activates_at, retires_at"
)


class UsernameInUse(Exception):
    """Another user has this username in some letter case (the unique index said so)."""


def _user(row: Mapping[str, Any] | None) -> User | None:
    return None if row is None else User(**row)


def _api_key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        **{**row, "secret_hash": bytes(row["secret_hash"]), "scopes": tuple(row["scopes"])}
    )


class AuthStore:
    """The gateway's database, one transaction at a time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @contextmanager
    def transaction(self) -> Iterator[AuthTransaction]:
        """Statements in one transaction: committed at the end, rolled back on error."""
        with self.database.transaction() as cursor:
            yield AuthTransaction(cursor)


class AuthTransaction:
    """Every statement the gateway runs, inside one open transaction."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    # --- users -------------------------------------------------------------

    def insert_user(self, username: str, password_hash: str, role: str) -> User:
        """Add a user; :class:`UsernameInUse` if the name exists in any case."""
        # A savepoint keeps the transaction usable after a duplicate.
        self._cursor.execute("SAVEPOINT insert_user")
        try:
            self._cursor.execute(
                sql.SQL(
                    "INSERT INTO users (id, username, password_hash, role)"
                    " VALUES (%s, %s, %s, %s) RETURNING {}"
                ).format(USER_COLUMNS),
                (uuid.uuid4(), username, password_hash, role),
            )
        except psycopg2.errors.UniqueViolation:
            self._cursor.execute("ROLLBACK TO SAVEPOINT insert_user")
            raise UsernameInUse(username) from None
        user = _user(self._cursor.fetchone())
        self._cursor.execute("RELEASE SAVEPOINT insert_user")
        assert user is not None
        return user

    def user_by_username(self, username: str) -> User | None:
        """The user with this username, compared case-insensitively."""
        self._cursor.execute(
            sql.SQL("SELECT {} FROM users WHERE lower(username) = lower(%s)").format(USER_COLUMNS),
            (username,),
        )
        return _user(self._cursor.fetchone())

    def user_by_id(self, user_id: uuid.UUID, *, lock: bool = False) -> User | None:
        """The user with this id; row-locked until the transaction ends if ``lock``."""
        query = sql.SQL("SELECT {} FROM users WHERE id = %s{}").format(
            USER_COLUMNS, sql.SQL(" FOR UPDATE" if lock else "")
        )
        self._cursor.execute(query, (user_id,))
        return _user(self._cursor.fetchone())

    def all_users(self) -> list[User]:
        """Every user, by username."""
        self._cursor.execute(
            sql.SQL("SELECT {} FROM users ORDER BY lower(username)").format(USER_COLUMNS)
        )
        return [User(**row) for row in self._cursor.fetchall()]

    def lock_enabled_admins(self) -> list[uuid.UUID]:
        """Ids of enabled admins, locked so two demotions cannot race past the last one."""
        self._cursor.execute(
            "SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE"
        )
        return [row["id"] for row in self._cursor.fetchall()]

    def admin_exists(self) -> bool:
        """Whether any user, enabled or not, has the admin role."""
        self._cursor.execute("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin') AS found")
        row = self._cursor.fetchone()
        return bool(row and row["found"])

    def lock_admin_creation(self) -> None:
        """Hold the first-admin lock until the transaction ends (every process)."""
        self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ENSURE_ADMIN_LOCK,))

    def update_user(
        self,
        user_id: uuid.UUID,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> User | None:
        """Change the given fields (``None`` keeps a field); the user after the change."""
        self._cursor.execute(
            sql.SQL(
                "UPDATE users SET role = coalesce(%s, role), disabled = coalesce(%s, disabled),"
                " password_hash = coalesce(%s, password_hash), updated_at = now()"
                " WHERE id = %s RETURNING {}"
            ).format(USER_COLUMNS),
            (role, disabled, password_hash, user_id),
        )
        return _user(self._cursor.fetchone())

    def replace_password_hash(self, user_id: uuid.UUID, old_hash: str, new_hash: str) -> bool:
        """Swap the hash only if it is still ``old_hash``; whether it was swapped."""
        self._cursor.execute(
            "UPDATE users SET password_hash = %s WHERE id = %s AND password_hash = %s",
            (new_hash, user_id, old_hash),
        )
        return bool(self._cursor.rowcount)

    # --- refresh tokens and their families ---------------------------------

    def create_family(self, user_id: uuid.UUID) -> uuid.UUID:
        """Start a refresh token family for one login of ``user_id``."""
        family_id = uuid.uuid4()
        self._cursor.execute(
            "INSERT INTO refresh_token_families (id, user_id) VALUES (%s, %s)",
            (family_id, user_id),
        )
        return family_id

    def add_refresh_token(
        self, family_id: uuid.UUID, token_hash: bytes, issued_at: datetime, expires_at: datetime
    ) -> None:
        """Record a new token of ``family_id`` by its hash."""
        self._cursor.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)"
            " VALUES (%s, %s, %s, %s)",
            (token_hash, family_id, issued_at, expires_at),
        )

    def lock_refresh_token(self, token_hash: bytes) -> RefreshTokenState | None:
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

    def spend_refresh_token(self, token_hash: bytes, spent_at: datetime) -> None:
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

    def revoke_user_families_except(
        self, user_id: uuid.UUID, kept: uuid.UUID | None, reason: str
    ) -> int:
        """Revoke every live family of ``user_id`` but ``kept`` (none kept if None); how many."""
        self._cursor.execute(
            "UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = %s"
            " WHERE user_id = %s AND revoked_at IS NULL AND id IS DISTINCT FROM %s",
            (reason, user_id, kept),
        )
        return int(self._cursor.rowcount)

    # --- API keys ----------------------------------------------------------

    def insert_api_key(self, key: ApiKey) -> None:
        """Store a new key (its prefix and secret hash, never the key)."""
        self._cursor.execute(
            sql.SQL(
                "INSERT INTO api_keys ({}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(API_KEY_COLUMNS),
            (
                key.id,
                key.name,
                key.prefix,
                key.secret_hash,
                list(key.scopes),
                key.created_by,
                key.created_at,
                key.expires_at,
                key.revoked_at,
                key.last_used_at,
            ),
        )

    def api_key_by_prefix(self, prefix: str) -> ApiKey | None:
        """The key with this public prefix."""
        self._cursor.execute(
            sql.SQL("SELECT {} FROM api_keys WHERE prefix = %s").format(API_KEY_COLUMNS), (prefix,)
        )
        row = self._cursor.fetchone()
        return None if row is None else _api_key(row)

    def all_api_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        self._cursor.execute(
            sql.SQL("SELECT {} FROM api_keys ORDER BY created_at, id").format(API_KEY_COLUMNS)
        )
        return [_api_key(row) for row in self._cursor.fetchall()]

    def revoke_api_key(self, key_id: uuid.UUID, moment: datetime) -> bool:
        """Revoke the key (once); whether a key with this id exists."""
        self._cursor.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s",
            (moment, key_id),
        )
        return bool(self._cursor.rowcount)

    def touch_api_key(self, key_id: uuid.UUID, moment: datetime) -> None:
        """Record that the key was used at ``moment``."""
        self._cursor.execute(
            "UPDATE api_keys SET last_used_at = %s WHERE id = %s", (moment, key_id)
        )

    # --- signing keys ------------------------------------------------------

    def lock_signing_keys(self) -> None:
        """Hold the signing-key lock until the transaction ends (every process, every worker)."""
        self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SIGNING_KEY_LOCK,))

    def live_signing_keys(self, moment: datetime) -> list[SigningKeyRecord]:
        """Keys not retired at ``moment``, newest first (pending ones included)."""
        self._cursor.execute(
            sql.SQL(
                "SELECT {} FROM signing_keys"
                " WHERE retires_at IS NULL OR retires_at > %s ORDER BY created_at DESC, kid"
            ).format(SIGNING_KEY_COLUMNS),
            (moment,),
        )
        return [SigningKeyRecord(**row) for row in self._cursor.fetchall()]

    def insert_signing_key(self, key: SigningKeyRecord) -> None:
        """Store a new key pair."""
        self._cursor.execute(
            sql.SQL("INSERT INTO signing_keys ({}) VALUES (%s, %s, %s, %s, %s, %s)").format(
                SIGNING_KEY_COLUMNS
            ),
            (
                key.kid,
                key.private_key_pem,
                Json(key.public_jwk),
                key.created_at,
                key.activates_at,
                key.retires_at,
            ),
        )

    def delete_pending_signing_keys(self, moment: datetime) -> list[str]:
        """Delete keys not yet active at ``moment`` (they never signed); their kids."""
        self._cursor.execute(
            "DELETE FROM signing_keys WHERE activates_at > %s RETURNING kid", (moment,)
        )
        return [row["kid"] for row in self._cursor.fetchall()]

    def retire_signing_keys_but(self, kid: str, retires_at: datetime) -> list[tuple[str, datetime]]:
        """Schedule every other key to retire by ``retires_at``; the keys changed."""
        self._cursor.execute(
            "UPDATE signing_keys SET retires_at = %s"
            " WHERE kid <> %s AND (retires_at IS NULL OR retires_at > %s)"
            " RETURNING kid, retires_at",
            (retires_at, kid, retires_at),
        )
        return [(row["kid"], row["retires_at"]) for row in self._cursor.fetchall()]
