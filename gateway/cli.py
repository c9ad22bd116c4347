"""Operator commands for the gateway's accounts and keys.

    python -m gateway.cli create-user NAME --role admin [--password-env VAR]
    python -m gateway.cli ensure-admin
    python -m gateway.cli reset-password NAME [--password-env VAR | --generate]
    python -m gateway.cli rotate-signing-key

They read the same environment as the gateway (``GATEWAY_DATABASE_URL``,
``JWT_KEY_PASSPHRASE``, ``ADMIN_USERNAME``, ``ADMIN_PASSWORD``...). Exit status:
0 done, 1 refused (bad input, a password the policy refuses, name taken), 2 the
database could not be used.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence

import psycopg2
from pydantic import ValidationError

from gateway.auth.components import AuthComponents, build_auth, open_database
from gateway.auth.roles import ROLES
from gateway.auth.schemas import UserCreate
from gateway.settings import Settings
from shared.errors import ProblemError, ValidationFailed, field_error

MIGRATE_HINT = (
    "hint: is PostgreSQL up at GATEWAY_DATABASE_URL, and the database migrated?"
    " python -m shared.migrations gateway"
)


class CommandRefused(Exception):
    """The command cannot do what was asked; the message says why."""


def _refusal(problems: Sequence[Mapping[str, str]]) -> CommandRefused:
    """One line naming each refused field, as the API's ``errors`` would."""
    return CommandRefused(
        "; ".join(f"{problem['field']}: {problem['message']}" for problem in problems)
    )


def _validated_user(username: str, password: str, role: str) -> UserCreate:
    try:
        return UserCreate.model_validate({"username": username, "password": password, "role": role})
    except ValidationError as error:
        raise _refusal([field_error(entry) for entry in error.errors()]) from None


def _read_password(env_var: str | None) -> str:
    if env_var:
        password = os.environ.get(env_var)
        if not password:
            raise CommandRefused(f"environment variable {env_var} is not set or empty")
        return password
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise CommandRefused("the two passwords differ")
    return password


def create_user(auth: AuthComponents, args: argparse.Namespace) -> int:
    """Create a user with the given role."""
    body = _validated_user(args.username, _read_password(args.password_env), args.role)
    user = auth.accounts.create_user(body.username, body.password, body.role)
    print(f"created user {user.username!r} with role {user.role} (id {user.id})")
    return 0


def ensure_admin(auth: AuthComponents, args: argparse.Namespace) -> int:
    """Create the first admin unless an admin exists."""
    settings = auth.settings
    configured = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = configured or secrets.token_urlsafe(18)
    body = _validated_user(settings.admin_username, password, "admin")
    user = auth.accounts.ensure_admin(body.username, body.password)
    if user is None:
        print(
            "admin exists (its password was shown when it was created); to set a new one:"
            f" python -m gateway.cli reset-password {settings.admin_username} --generate"
        )
        return 0
    print(f"created admin {user.username!r} (id {user.id})")
    if configured is None:
        print(f"generated password (shown once, store it now): {password}")
    return 0


def reset_password(auth: AuthComponents, args: argparse.Namespace) -> int:
    """Set a user's password and end every session they have."""
    user = auth.accounts.get_user_by_username(args.username)
    password = secrets.token_urlsafe(18) if args.generate else _read_password(args.password_env)
    body = _validated_user(user.username, password, user.role)
    auth.accounts.update_user(user.id, password=body.password)
    print(f"password of {user.username!r} changed; their sessions are ended")
    if args.generate:
        print(f"generated password (shown once, store it now): {password}")
    return 0


def rotate_signing_key(auth: AuthComponents, args: argparse.Namespace) -> int:
    """Add a signing key; older keys retire once their tokens have expired."""
    rotation = auth.signing_keys.rotate()
    print(f"new signing key {rotation.kid} signs from {rotation.activates_at.isoformat()}")
    for kid, retires_at in rotation.retiring:
        print(f"key {kid} leaves the JWKS at {retires_at.isoformat()}")
    for kid in rotation.superseded:
        print(f"pending key {kid} dropped (it never signed)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.cli",
        description="Operator commands for the gateway's accounts and keys.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help=create_user.__doc__)
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument(
        "--password-env", metavar="VAR", help="read the password from this variable, not a prompt"
    )
    create.set_defaults(handler=create_user)
    admin = commands.add_parser("ensure-admin", help=ensure_admin.__doc__)
    admin.set_defaults(handler=ensure_admin)
    reset = commands.add_parser("reset-password", help=reset_password.__doc__)
    reset.add_argument("username")
    source = reset.add_mutually_exclusive_group()
    source.add_argument(
        "--password-env", metavar="VAR", help="read the password from this variable, not a prompt"
    )
    source.add_argument(
        "--generate", action="store_true", help="make a random password and print it once"
    )
    reset.set_defaults(handler=reset_password)
    rotate = commands.add_parser("rotate-signing-key", help=rotate_signing_key.__doc__)
    rotate.set_defaults(handler=rotate_signing_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status."""
    args = _parser().parse_args(argv)
    handler: Callable[[AuthComponents, argparse.Namespace], int] = args.handler
    settings = Settings()
    database = open_database(settings)
    try:
        return handler(build_auth(settings, database), args)
    except CommandRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValidationFailed as error:
        # The service's field rules (the password policy) read like the schema's.
        print(f"error: {_refusal(error.extensions.get('errors') or [])}", file=sys.stderr)
        return 1
    except ProblemError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        if error.status < 500:
            return 1
        print(MIGRATE_HINT, file=sys.stderr)
        return 2
    except psycopg2.Error as error:
        print(f"error: the gateway database refused the command: {error}".strip(), file=sys.stderr)
        print(MIGRATE_HINT, file=sys.stderr)
        return 2
    finally:
        database.close()


if __name__ == "__main__":
    sys.exit(main())
