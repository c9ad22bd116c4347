"""Users and their passwords: log in, create, list, change."""

from __future__ import annotations

import logging
import uuid

from gateway.errors import InvalidCredentials, LastAdminRequired, UserNotFound
from gateway.models import User
from gateway.passwords import PasswordHasher
from gateway.refresh_token_store import RefreshTokenStore
from gateway.user_store import UserStore
from shared.database import Database

#: ``pg_advisory_xact_lock`` key so two ``ensure-admin`` runs create one admin.
ENSURE_ADMIN_LOCK = 0x636C_742D_6164_6D6E

logger = logging.getLogger(__name__)


class AccountService:
    """The use cases around users; no HTTP, no SQL strings."""

    def __init__(self, database: Database, passwords: PasswordHasher) -> None:
        self._database = database
        self._passwords = passwords

    def authenticate(self, username: str, password: str) -> User:
        """The enabled user these credentials name; :class:`InvalidCredentials` otherwise."""
        with self._database.transaction() as cursor:
            user = UserStore(cursor).by_username(username)
        # No connection is held while Argon2 runs: it is slow on purpose.
        if user is None:
            self._passwords.verify_nobody(password)
            raise InvalidCredentials()
        if not self._passwords.verify(user.password_hash, password) or user.disabled:
            raise InvalidCredentials()
        if self._passwords.needs_rehash(user.password_hash):
            self._upgrade_hash(user, password)
        return user

    def _upgrade_hash(self, user: User, password: str) -> None:
        new_hash = self._passwords.hash(password)
        with self._database.transaction() as cursor:
            # Only if unchanged since we read it: an admin may have just set a new password.
            UserStore(cursor).replace_password_hash(user.id, user.password_hash, new_hash)
        logger.info("password hash upgraded", extra={"user_id": str(user.id)})

    def create_user(self, username: str, password: str, role: str) -> User:
        """Add a user; :class:`~gateway.errors.UsernameTaken` if the name is in use."""
        password_hash = self._passwords.hash(password)
        with self._database.transaction() as cursor:
            return UserStore(cursor).insert(username, password_hash, role)

    def get_user(self, user_id: uuid.UUID) -> User:
        """The user with this id, or :class:`UserNotFound`."""
        with self._database.transaction() as cursor:
            user = UserStore(cursor).by_id(user_id)
        if user is None:
            raise UserNotFound(f"No user with id {user_id}")
        return user

    def list_users(self) -> list[User]:
        """Every user, by username."""
        with self._database.transaction() as cursor:
            return UserStore(cursor).all()

    def update_user(
        self,
        user_id: uuid.UUID,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        password: str | None = None,
    ) -> User:
        """Change role, disabled flag or password; disabling or a new password ends sessions."""
        password_hash = None if password is None else self._passwords.hash(password)
        may_demote = (role is not None and role != "admin") or disabled is True
        with self._database.transaction() as cursor:
            users = UserStore(cursor)
            # Admin rows are locked before the target row, always in id order, so
            # two concurrent demotions cannot deadlock or both pass the check.
            enabled_admins = users.lock_enabled_admins() if may_demote else []
            current = users.lock(user_id)
            if current is None:
                raise UserNotFound(f"No user with id {user_id}")
            if may_demote and enabled_admins == [current.id]:
                raise LastAdminRequired("At least one enabled admin must remain")
            updated = users.update(
                user_id, role=role, disabled=disabled, password_hash=password_hash
            )
            assert updated is not None
            sessions = RefreshTokenStore(cursor)
            if disabled and not current.disabled:
                sessions.revoke_user_families(user_id, "user disabled")
            if password_hash is not None:
                sessions.revoke_user_families(user_id, "password changed")
        return updated

    def ensure_admin(self, username: str, password: str) -> User | None:
        """Create the first admin unless any admin exists; the new admin, or ``None``."""
        with self._database.transaction() as cursor:
            if UserStore(cursor).admin_exists():
                return None
        password_hash = self._passwords.hash(password)
        with self._database.transaction() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ENSURE_ADMIN_LOCK,))
            users = UserStore(cursor)
            if users.admin_exists():
                return None
            return users.insert(username, password_hash, "admin")
