"""Sessions: log in, refresh with rotation and reuse detection, log out.

A login starts a refresh token family. Each refresh spends the presented
token and hands out the next one of the same family. Presenting a spent token
again means two parties hold it (a thief, or a client racing itself), so the
whole family is revoked and everyone holding one of its tokens logs in again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.access_tokens import AccessToken, AccessTokenIssuer
from gateway.accounts import AccountService
from gateway.errors import RefreshTokenRejected
from gateway.models import User
from gateway.refresh_token_store import RefreshTokenStore
from gateway.user_store import UserStore
from shared.database import Cursor, Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    """What a client receives at login and at each refresh."""

    access: AccessToken
    refresh_token: str


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token."""
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> bytes:
    """What is stored for a refresh token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenService:
    """Issues, rotates and revokes a user's tokens."""

    def __init__(
        self,
        database: Database,
        accounts: AccountService,
        issuer: AccessTokenIssuer,
        *,
        refresh_ttl_seconds: int,
    ) -> None:
        self._database = database
        self._accounts = accounts
        self._issuer = issuer
        self._refresh_ttl = timedelta(seconds=refresh_ttl_seconds)

    def login(self, username: str, password: str) -> TokenPair:
        """Tokens for valid credentials of an enabled user, starting a new family."""
        user = self._accounts.authenticate(username, password)
        access = self._issuer.token_for_user(user)
        refresh_token = new_refresh_token()
        now = datetime.now(UTC)
        with self._database.transaction() as cursor:
            store = RefreshTokenStore(cursor)
            family_id = store.create_family(user.id)
            store.add_token(
                family_id, refresh_token_hash(refresh_token), now, now + self._refresh_ttl
            )
        return TokenPair(access, refresh_token)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Spend ``refresh_token`` for a new pair; reuse of a spent one revokes its family."""
        presented = refresh_token_hash(refresh_token)
        successor = new_refresh_token()
        now = datetime.now(UTC)
        # The transaction commits even when the answer is 401, so a revocation sticks.
        with self._database.transaction() as cursor:
            user = self._rotate(cursor, presented, successor, now)
        if user is None:
            raise RefreshTokenRejected()
        return TokenPair(self._issuer.token_for_user(user), successor)

    def _rotate(
        self, cursor: Cursor, presented: bytes, successor: str, now: datetime
    ) -> User | None:
        store = RefreshTokenStore(cursor)
        # The row lock makes concurrent refreshes of one token take turns: the
        # first spends it, the others then find it spent.
        state = store.lock_token(presented)
        if state is None or state.family_revoked_at is not None:
            return None
        if state.spent_at is not None:
            store.revoke_family(state.family_id, "refresh token reused")
            logger.warning(
                "refresh token reused; family revoked", extra={"family": str(state.family_id)}
            )
            return None
        if state.expires_at <= now:
            return None
        # Re-read the user: a disabled account or a new role counts from this refresh on.
        user = UserStore(cursor).by_id(state.user_id)
        if user is None or user.disabled:
            store.revoke_family(state.family_id, "user disabled")
            return None
        store.spend(presented, now)
        store.add_token(
            state.family_id, refresh_token_hash(successor), now, now + self._refresh_ttl
        )
        return user

    def logout(self, refresh_token: str) -> None:
        """Revoke the family of ``refresh_token``; unknown tokens are ignored."""
        with self._database.transaction() as cursor:
            RefreshTokenStore(cursor).revoke_family_of(refresh_token_hash(refresh_token), "logout")
