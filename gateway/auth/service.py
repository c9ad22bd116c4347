"""The auth use cases: accounts, sessions (refresh token families) and API keys.

Plain Python over :class:`~gateway.auth.store.AuthStore`: no Flask, no SQL
strings. Each use case is one transaction (or two, where a slow password hash
must not hold a connection); failures are the domain errors of
:mod:`gateway.auth.errors`.

Sessions: a login starts a refresh token family. Each refresh spends the
presented token and hands out the next one of the same family. Presenting a
spent token again means two parties hold it (a thief, or a client racing
itself), so the whole family is revoked and everyone holding one of its
tokens logs in again.

API keys read ``clt_<prefix>_<secret>``. The prefix is public and finds the
row; only the SHA-256 of the secret is stored. A plain hash is enough here,
not a slow password hash: the secret is 256 random bits, so there is nothing
to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from gateway.auth.errors import (
    AccountDisabled,
    ApiKeyNotFound,
    CurrentPasswordWrong,
    GrantBeyondOwnScopes,
    InvalidApiKey,
    InvalidCredentials,
    LastAdminRequired,
    NoPasswordToChange,
    PasswordRefused,
    RefreshTokenRejected,
    UsernameTaken,
    UserNotFound,
)
from gateway.auth.models import ApiKey, Clock, User, utc_now
from gateway.auth.password_policy import PasswordPolicy
from gateway.auth.passwords import PasswordHasher
from gateway.auth.roles import API_KEY_ROLE, ordered_scopes, scopes_for_role
from gateway.auth.signing import AccessToken, AccessTokenIssuer
from gateway.auth.store import AuthStore, AuthTransaction, UsernameInUse
from shared.auth import Principal
from shared.errors import Unauthorized

KEY_MARK = "clt"
_KEY_FORMAT = re.compile(r"clt_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    """Who a caller is and the scopes it holds, as of now (not as of its token)."""

    id: str
    username: str
    role: str
    #: ``user`` or ``api_key``.
    kind: str
    scopes: tuple[str, ...]


def check_grant(granted_by: Principal | None, scopes: Iterable[str]) -> None:
    """Refuse unless ``granted_by`` holds every scope it hands out; ``None`` is the operator.

    A principal allowed to manage users and keys could otherwise mint a key, or
    make a user, more powerful than itself.
    """
    if granted_by is None:
        return
    missing = set(scopes) - granted_by.scopes
    if missing:
        raise GrantBeyondOwnScopes(missing)


class AccountService:
    """Users and their passwords: log in, create, list, change.

    Every new password, whoever sets it and however, first meets ``policy``
    (:class:`~gateway.auth.errors.PasswordRefused` otherwise): it needs the
    username and role, which a password change does not carry.
    """

    def __init__(
        self, store: AuthStore, passwords: PasswordHasher, policy: PasswordPolicy | None = None
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._policy = policy or PasswordPolicy()

    def authenticate(self, username: str, password: str) -> User:
        """The enabled user these credentials name; :class:`InvalidCredentials` otherwise."""
        with self._store.transaction() as tx:
            user = tx.user_by_username(username)
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
        with self._store.transaction() as tx:
            # Only if unchanged since we read it: an admin may have just set a new password.
            tx.replace_password_hash(user.id, user.password_hash, new_hash)
        logger.info("password hash upgraded", extra={"user_id": str(user.id)})

    def create_user(
        self, username: str, password: str, role: str, *, granted_by: Principal | None = None
    ) -> User:
        """Add a user; :class:`UsernameTaken` if the name is in use in any letter case.

        ``granted_by`` must hold every scope of ``role`` (``None``: the operator's CLI).
        """
        check_grant(granted_by, scopes_for_role(role))
        self._policy.check(password, username=username, role=role)
        password_hash = self._passwords.hash(password)
        try:
            with self._store.transaction() as tx:
                return tx.insert_user(username, password_hash, role)
        except UsernameInUse:
            raise UsernameTaken(f"Username {username!r} is taken") from None

    def get_user(self, user_id: uuid.UUID) -> User:
        """The user with this id, or :class:`UserNotFound`."""
        with self._store.transaction() as tx:
            user = tx.user_by_id(user_id)
        if user is None:
            raise UserNotFound(f"No user with id {user_id}")
        return user

    def get_user_by_username(self, username: str) -> User:
        """The user with this username in any letter case, or :class:`UserNotFound`."""
        with self._store.transaction() as tx:
            user = tx.user_by_username(username)
        if user is None:
            raise UserNotFound(f"No user named {username!r}")
        return user

    def list_users(self) -> list[User]:
        """Every user, by username."""
        with self._store.transaction() as tx:
            return tx.all_users()

    def update_user(
        self,
        user_id: uuid.UUID,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        password: str | None = None,
        granted_by: Principal | None = None,
    ) -> User:
        """Change role, disabled flag or password; disabling or a new password ends sessions.

        ``granted_by`` must hold every scope of the user's current role and of a new one.
        """
        if role is not None:
            check_grant(granted_by, scopes_for_role(role))
        password_hash = None
        if password is not None:
            # Checked (and hashed) before the transaction: neither needs a connection held.
            target = self.get_user(user_id)
            check_grant(granted_by, scopes_for_role(target.role))
            self._policy.check(password, username=target.username, role=role or target.role)
            password_hash = self._passwords.hash(password)
        may_demote = (role is not None and role != "admin") or disabled is True
        with self._store.transaction() as tx:
            # Admin rows are locked before the target row, always in id order, so
            # two concurrent demotions cannot deadlock or both pass the check.
            enabled_admins = tx.lock_enabled_admins() if may_demote else []
            current = tx.user_by_id(user_id, lock=True)
            if current is None:
                raise UserNotFound(f"No user with id {user_id}")
            # Setting the password of, or disabling, a more powerful user is an escalation too.
            check_grant(granted_by, scopes_for_role(current.role))
            if may_demote and enabled_admins == [current.id]:
                raise LastAdminRequired("At least one enabled admin must remain")
            updated = tx.update_user(
                user_id, role=role, disabled=disabled, password_hash=password_hash
            )
            assert updated is not None
            if disabled and not current.disabled:
                tx.revoke_user_families(user_id, "user disabled")
            if password_hash is not None:
                tx.revoke_user_families(user_id, "password changed")
        return updated

    def account(self, principal: Principal) -> Account:
        """The account ``principal`` acts for: a user as stored now, or an API key."""
        if principal.kind == "api_key":
            return Account(
                id=principal.subject,
                username=principal.name,
                role=API_KEY_ROLE,
                kind="api_key",
                scopes=tuple(sorted(ordered_scopes(principal.scopes))),
            )
        user = self.enabled_user(principal)
        return Account(
            id=str(user.id),
            username=user.username,
            role=user.role,
            kind="user",
            scopes=tuple(sorted(scopes_for_role(user.role))),
        )

    def enabled_user(self, principal: Principal) -> User:
        """The user ``principal`` names, read now; 401 if disabled (or gone) since the token."""
        try:
            user = self.get_user(uuid.UUID(principal.subject))
        except (ValueError, UserNotFound):
            raise Unauthorized("The token names no user") from None
        if user.disabled:
            raise AccountDisabled()
        return user

    def change_own_password(
        self,
        user: User,
        current_password: str,
        new_password: str,
        *,
        kept_session: uuid.UUID | None,
    ) -> None:
        """Set ``user``'s password if ``current_password`` is theirs; end their other sessions.

        :class:`CurrentPasswordWrong` (422, ``current_password``) otherwise, or when
        the password changed since ``user`` was read; the new one must differ from
        it and meet the policy (:class:`PasswordRefused` naming ``new_password``).
        Every refresh token family of the user but ``kept_session`` is revoked.
        """
        if not self._passwords.verify(user.password_hash, current_password):
            raise CurrentPasswordWrong()
        if new_password == current_password:
            raise PasswordRefused(
                "must differ from the current password",
                code="password_unchanged",
                field="new_password",
            )
        self._policy.check(
            new_password, username=user.username, role=user.role, field="new_password"
        )
        new_hash = self._passwords.hash(new_password)
        with self._store.transaction() as tx:
            # Only over the hash that was checked: a change made meanwhile wins, and this
            # request's current password is no longer current.
            if not tx.replace_password_hash(user.id, user.password_hash, new_hash):
                raise CurrentPasswordWrong()
            ended = tx.revoke_user_families_except(user.id, kept_session, "password changed")
        logger.info(
            "password changed by its user",
            extra={"user_id": str(user.id), "sessions_ended": ended},
        )

    def ensure_admin(self, username: str, password: str) -> User | None:
        """Create the first admin unless any admin exists; the new admin, or ``None``."""
        with self._store.transaction() as tx:
            if tx.admin_exists():
                return None
        self._policy.check(password, username=username, role="admin")
        password_hash = self._passwords.hash(password)
        with self._store.transaction() as tx:
            tx.lock_admin_creation()
            if tx.admin_exists():
                return None
            return tx.insert_user(username, password_hash, "admin")


class LoginThrottle(Protocol):
    """Slows down guessing one account's password, whatever address the guesses come from."""

    def check(self, username: str) -> None:
        """Raise (429) while ``username`` may not try again."""

    def record_failure(self, username: str) -> None:
        """Count a failed login of ``username``."""


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


class SessionService:
    """Log in, refresh with rotation and reuse detection, log out."""

    def __init__(
        self,
        store: AuthStore,
        accounts: AccountService,
        issuer: AccessTokenIssuer,
        *,
        refresh_ttl_seconds: int,
        clock: Clock = utc_now,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._throttle = throttle
        self._issuer = issuer
        self._refresh_ttl = timedelta(seconds=refresh_ttl_seconds)
        self._clock = clock

    def login(self, username: str, password: str) -> TokenPair:
        """Tokens for valid credentials of an enabled user, starting a new family."""
        if self._throttle is not None:
            self._throttle.check(username)
        try:
            user = self._accounts.authenticate(username, password)
        except InvalidCredentials:
            if self._throttle is not None:
                self._throttle.record_failure(username)
            raise
        refresh_token = new_refresh_token()
        now = self._clock()
        with self._store.transaction() as tx:
            family_id = tx.create_family(user.id)
            tx.add_refresh_token(
                family_id, refresh_token_hash(refresh_token), now, now + self._refresh_ttl
            )
        return TokenPair(self._issuer.token_for_user(user, session_id=family_id), refresh_token)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Spend ``refresh_token`` for a new pair; reuse of a spent one revokes its family."""
        presented = refresh_token_hash(refresh_token)
        successor = new_refresh_token()
        now = self._clock()
        # The transaction commits even when the answer is 401, so a revocation sticks.
        with self._store.transaction() as tx:
            rotated = self._rotate(tx, presented, successor, now)
        if rotated is None:
            raise RefreshTokenRejected()
        user, family_id = rotated
        return TokenPair(self._issuer.token_for_user(user, session_id=family_id), successor)

    def _rotate(
        self, tx: AuthTransaction, presented: bytes, successor: str, now: datetime
    ) -> tuple[User, uuid.UUID] | None:
        # The row lock makes concurrent refreshes of one token take turns: the
        # first spends it, the others then find it spent.
        state = tx.lock_refresh_token(presented)
        if state is None or state.family_revoked_at is not None:
            return None
        if state.spent_at is not None:
            tx.revoke_family(state.family_id, "refresh token reused")
            logger.warning(
                "refresh token reused; family revoked", extra={"family": str(state.family_id)}
            )
            return None
        if state.expires_at <= now:
            return None
        # Re-read the user: a disabled account or a new role counts from this refresh on.
        user = tx.user_by_id(state.user_id)
        if user is None or user.disabled:
            tx.revoke_family(state.family_id, "user disabled")
            return None
        tx.spend_refresh_token(presented, now)
        tx.add_refresh_token(
            state.family_id, refresh_token_hash(successor), now, now + self._refresh_ttl
        )
        return user, state.family_id

    def logout(self, refresh_token: str) -> None:
        """Revoke the family of ``refresh_token``; unknown tokens are ignored."""
        with self._store.transaction() as tx:
            tx.revoke_family_of(refresh_token_hash(refresh_token), "logout")

    def change_password(
        self,
        principal: Principal,
        current_password: str,
        new_password: str,
        *,
        session_id: uuid.UUID | None,
    ) -> None:
        """The signed-in user changes their password; their other sessions end.

        A wrong ``current_password`` counts as a failed login of the account (the
        throttle answers 429 past its limit, as at login). ``session_id`` is the
        session the request comes from, which stays signed in; ``None`` ends all.
        """
        if principal.kind != "user":
            raise NoPasswordToChange()
        user = self._accounts.enabled_user(principal)
        if self._throttle is not None:
            self._throttle.check(user.username)
        try:
            self._accounts.change_own_password(
                user, current_password, new_password, kept_session=session_id
            )
        except CurrentPasswordWrong:
            if self._throttle is not None:
                self._throttle.record_failure(user.username)
            raise


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key's record and the full key, which exists only in this answer."""

    record: ApiKey
    key: str


def secret_hash(secret: str) -> bytes:
    """What is stored for a key's secret part."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


class ApiKeyService:
    """API keys for programs: create (shown once), list, revoke, check."""

    def __init__(
        self, store: AuthStore, *, last_used_interval_seconds: int, clock: Clock = utc_now
    ) -> None:
        self._store = store
        self._last_used_interval = timedelta(seconds=last_used_interval_seconds)
        self._clock = clock

    def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        expires_at: datetime | None = None,
        created_by: uuid.UUID | None = None,
        granted_by: Principal | None = None,
    ) -> CreatedApiKey:
        """A new key with ``scopes``; the full key is returned here and never again.

        ``granted_by`` must hold every scope it puts in the key.
        """
        check_grant(granted_by, scopes)
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
            created_at=self._clock(),
            expires_at=expires_at,
            revoked_at=None,
            last_used_at=None,
        )
        with self._store.transaction() as tx:
            tx.insert_api_key(record)
        return CreatedApiKey(record, f"{KEY_MARK}_{prefix}_{secret}")

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked and expired ones included, oldest first."""
        with self._store.transaction() as tx:
            return tx.all_api_keys()

    def revoke(self, key_id: uuid.UUID) -> None:
        """Revoke the key now; revoking twice is harmless."""
        with self._store.transaction() as tx:
            found = tx.revoke_api_key(key_id, self._clock())
        if not found:
            raise ApiKeyNotFound(f"No API key with id {key_id}")

    def authenticate(self, presented: str) -> ApiKey:
        """The usable key ``presented`` names; :class:`InvalidApiKey` otherwise."""
        match = _KEY_FORMAT.fullmatch(presented)
        if match is None:
            raise InvalidApiKey()
        now = self._clock()
        with self._store.transaction() as tx:
            key = tx.api_key_by_prefix(match["prefix"])
            if key is None:
                raise InvalidApiKey()
            if not hmac.compare_digest(key.secret_hash, secret_hash(match["secret"])):
                raise InvalidApiKey()
            if not key.usable_at(now):
                raise InvalidApiKey()
            # Written at most once per interval: a busy key must not turn reads into writes.
            if key.last_used_at is None or now - key.last_used_at >= self._last_used_interval:
                tx.touch_api_key(key.id, now)
        return key
