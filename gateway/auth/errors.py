"""What can go wrong in authentication and account management: domain errors with a problem type."""

from __future__ import annotations

from shared.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)


class InvalidCredentials(Unauthorized):
    """Wrong username or password, or a disabled account: one message for all."""

    slug = "invalid-credentials"

    def __init__(self) -> None:
        super().__init__("Invalid username or password")


class RefreshTokenRejected(Unauthorized):
    """The refresh token is unknown, spent, expired or revoked."""

    slug = "invalid-refresh-token"

    def __init__(self) -> None:
        super().__init__("Refresh token is invalid, expired or revoked; log in again")


class InvalidApiKey(Unauthorized):
    """The API key is malformed, unknown, revoked or expired."""

    slug = "invalid-api-key"

    def __init__(self) -> None:
        super().__init__("API key is invalid, revoked or expired")


class PasswordRefused(ValidationFailed):
    """A new password breaks the password policy: too short or long, blank, or guessable."""

    #: The field every refusal names, in the API (``errors``) and in the CLI's message.
    field = "password"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(
            [{"field": self.field, "message": message, "code": code}],
            detail=f"Password refused: {message}",
        )
        self.message = message
        self.code = code


class UsernameTaken(Conflict):
    """Another user already has this username (compared case-insensitively)."""

    slug = "username-taken"


class LastAdminRequired(Conflict):
    """The change would leave no enabled admin."""

    slug = "last-admin"


class UserNotFound(NotFound):
    """No user has this id."""

    slug = "user-not-found"


class ApiKeyNotFound(NotFound):
    """No API key has this id."""

    slug = "api-key-not-found"


class SigningKeyUnavailable(ServiceUnavailable):
    """No signing key can be used (none active yet, or it cannot be decrypted)."""

    slug = "signing-key-unavailable"


class GrantBeyondOwnScopes(Forbidden):
    """A principal tried to hand out a scope (in a key, or through a role) it does not hold."""

    slug = "grant-beyond-own-scopes"

    def __init__(self, missing: set[str]) -> None:
        super().__init__(
            "You may grant only scopes you hold yourself; missing: " + ", ".join(sorted(missing))
        )
