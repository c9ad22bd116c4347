"""SQL for users; every method runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import psycopg2.errors

from gateway.errors import UsernameTaken
from gateway.models import User
from shared.database import Cursor


def _user(row: Mapping[str, Any] | None) -> User | None:
    return None if row is None else User(**row)


class UserStore:
    """Reads and writes the ``users`` table through one transaction's cursor."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def insert(self, username: str, password_hash: str, role: str) -> User:
        """Add a user; :class:`UsernameTaken` if the name exists in any case."""
        # A savepoint keeps the caller's transaction usable after a duplicate.
        self._cursor.execute("SAVEPOINT insert_user")
        try:
            self._cursor.execute(
                "INSERT INTO users (id, username, password_hash, role) VALUES (%s, %s, %s, %s)"
                " RETURNING id, username, password_hash, role, disabled, created_at",
                (uuid.uuid4(), username, password_hash, role),
            )
        except psycopg2.errors.UniqueViolation:
            self._cursor.execute("ROLLBACK TO SAVEPOINT insert_user")
            raise UsernameTaken(f"Username {username!r} is taken") from None
        user = _user(self._cursor.fetchone())
        self._cursor.execute("RELEASE SAVEPOINT insert_user")
        assert user is not None
        return user

    def by_username(self, username: str) -> User | None:
        """The user with this username, compared case-insensitively."""
        self._cursor.execute(
            "SELECT id, username, password_hash, role, disabled, created_at"
            " FROM users WHERE lower(username) = lower(%s)",
            (username,),
        )
        return _user(self._cursor.fetchone())

    def by_id(self, user_id: uuid.UUID) -> User | None:
        """The user with this id."""
        self._cursor.execute(
            "SELECT id, username, password_hash, role, disabled, created_at"
            " FROM users WHERE id = %s",
            (user_id,),
        )
        return _user(self._cursor.fetchone())

    def lock(self, user_id: uuid.UUID) -> User | None:
        """The user with this id, locked until the transaction ends."""
        self._cursor.execute(
            "SELECT id, username, password_hash, role, disabled, created_at"
            " FROM users WHERE id = %s FOR UPDATE",
            (user_id,),
        )
        return _user(self._cursor.fetchone())

    def all(self) -> list[User]:
        """Every user, by username."""
        self._cursor.execute(
            "SELECT id, username, password_hash, role, disabled, created_at"
            " FROM users ORDER BY lower(username)"
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

    def update(
        self,
        user_id: uuid.UUID,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> User | None:
        """Change the given fields (``None`` keeps a field); the user after the change."""
        self._cursor.execute(
            "UPDATE users SET role = coalesce(%s, role), disabled = coalesce(%s, disabled),"
            " password_hash = coalesce(%s, password_hash), updated_at = now()"
            " WHERE id = %s"
            " RETURNING id, username, password_hash, role, disabled, created_at",
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
