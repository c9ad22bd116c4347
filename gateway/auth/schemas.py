"""Request and response bodies of the auth endpoints: the source of their field rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from gateway.auth.models import ApiKey, User
from gateway.auth.password_policy import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from gateway.auth.roles import SCOPES, Role, described_scopes, ordered_scopes
from gateway.auth.service import Account
from gateway.auth.signing import AccessToken, Rotation
from shared.text import StorableText, clean_label

USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{3,64}$"


def _known_scope(value: str) -> str:
    if value not in SCOPES:
        raise ValueError(f"unknown scope {value!r}; known scopes: {', '.join(SCOPES)}")
    return value


#: A scope some service's contract defines.
Scope = Annotated[str, AfterValidator(_known_scope)]
#: Any text a client sends: NUL and lone surrogates refused (``shared.text``).
Text = StorableText
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
#: A password being set: its length here; the rest of the policy (blank, guessable) needs
#: the username and role, so ``AccountService`` applies it (``gateway.auth.password_policy``).
NewPassword = Annotated[
    Text, StringConstraints(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
]


class RequestBody(BaseModel):
    """A request body: unknown fields refused, no type guessing ("true" is not a bool)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TokenRequest(RequestBody):
    """``POST /api/v1/auth/token``."""

    # Loose on purpose: a malformed username simply matches nobody (401).
    username: Annotated[Text, StringConstraints(min_length=1, max_length=256)]
    password: Annotated[Text, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH)]


class RefreshTokenRequest(RequestBody):
    """``POST /api/v1/auth/refresh`` and ``/logout``."""

    refresh_token: Annotated[Text, StringConstraints(min_length=1, max_length=256)]


class TokenResponse(BaseModel):
    """An OAuth 2.0 style token answer (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int
    refresh_token: str
    scope: str

    @classmethod
    def of(cls, access: AccessToken, refresh_token: str) -> TokenResponse:
        """The answer for a freshly issued pair."""
        return cls(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=refresh_token,
            scope=access.scope,
        )


class PasswordChange(RequestBody):
    """``POST /api/v1/auth/password``: the signed-in user's own password."""

    # Loose like a login's: a wrong current password is checked, and counted, as one.
    current_password: Annotated[
        Text, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    ]
    new_password: NewPassword


class AllowedScope(BaseModel):
    """One thing a caller may do: a scope and what it allows."""

    scope: str
    description: str


class AccountOut(BaseModel):
    """``GET /api/v1/auth/me``: who the caller is and what it may do."""

    id: str
    username: str
    role: str
    kind: Literal["user", "api_key"]
    scopes: list[str]
    allowed: list[AllowedScope]

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        """The public view of ``account``, each scope described from its contract."""
        return cls(
            id=account.id,
            username=account.username,
            role=account.role,
            kind="api_key" if account.kind == "api_key" else "user",
            scopes=list(account.scopes),
            allowed=[AllowedScope(**entry) for entry in described_scopes(account.scopes)],
        )


class UserCreate(RequestBody):
    """``POST /api/v1/auth/users``."""

    username: Username
    password: NewPassword
    role: Role


class UserUpdate(RequestBody):
    """``PATCH /api/v1/auth/users/{id}``: any subset of the fields."""

    role: Role | None = None
    disabled: bool | None = None
    password: NewPassword | None = None


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    id: uuid.UUID
    username: str
    role: str
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The public view of ``user``."""
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class ApiKeyCreate(RequestBody):
    """``POST /api/v1/auth/api-keys``."""

    name: Annotated[
        Text, StringConstraints(min_length=1, max_length=100), AfterValidator(clean_label)
    ]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=16)]
    # RFC 3339 text, so not strict: JSON has no datetime type.
    expires_at: Annotated[AwareDatetime | None, Field(strict=False)] = None

    @field_validator("scopes")
    @classmethod
    def drop_repeats(cls, scopes: list[Scope]) -> list[Scope]:
        """Each scope once, in the canonical order."""
        return list(ordered_scopes(scopes))

    @field_validator("expires_at")
    @classmethod
    def in_the_future(cls, expires_at: datetime | None) -> datetime | None:
        """In UTC and in the future: a key that is already expired is a mistake."""
        if expires_at is None:
            return None
        try:
            expires_at = expires_at.astimezone(UTC)
        except OverflowError:
            raise ValueError("is too far in the future") from None
        if expires_at <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return expires_at


class ApiKeyOut(BaseModel):
    """An API key as listings show it: no secret, no hash."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        """The public view of ``key``."""
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            scopes=list(key.scopes),
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    """The answer to creating a key: the only time the full key is shown."""

    key: str


class RetiringKey(BaseModel):
    """An older signing key and when it leaves the JWKS."""

    kid: str
    retires_at: datetime


class RotationOut(BaseModel):
    """What ``POST /api/v1/auth/signing-keys/rotate`` did."""

    kid: str
    activates_at: datetime
    retiring: list[RetiringKey]
    superseded: list[str]

    @classmethod
    def of(cls, rotation: Rotation) -> RotationOut:
        """The public view of ``rotation``."""
        return cls(
            kid=rotation.kid,
            activates_at=rotation.activates_at,
            retiring=[RetiringKey(kid=kid, retires_at=when) for kid, when in rotation.retiring],
            superseded=list(rotation.superseded),
        )
