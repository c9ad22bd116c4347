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


class AccountDisabled(Unauthorized):
    """A still-valid access token of a user who has been disabled since it was issued."""

    slug = "account-disabled"

    def __init__(self) -> None:
        super().__init__("This account is disabled")


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

    def __init__(self, message: str, *, code: str, field: str = "password") -> None:
        super().__init__(
            [{"field": field, "message": message, "code": code}],
            detail=f"Password refused: {message}",
        )
        #: The field the refusal names, in the API (``errors``) and in the CLI's message:
        #: ``password`` where a password is set, ``new_password`` where one's own is changed.
        self.field = field
        self.message = message
        self.code = code


class CurrentPasswordWrong(ValidationFailed):
    """A password change whose ``current_password`` is not the user's password."""

    def __init__(self) -> None:
        super().__init__(
            [
                {
                    "field": "current_password",
                    "message": "is not your current password",
                    "code": "password_mismatch",
                }
            ],
            detail="The current password is wrong",
        )


class NoPasswordToChange(Forbidden):
    """An API key asked to change a password: keys have none."""

    slug = "no-password"

    def __init__(self) -> None:
        super().__init__("Only a signed-in user has a password to change; API keys have none")


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
