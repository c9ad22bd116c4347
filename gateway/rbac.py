"""Roles and the scopes they grant: the single source of the role table.

Scopes are the unit of permission every service checks; a role is only a name
for a set of scopes, resolved when the gateway issues a token. The README and
the gateway's route table read :data:`ROLE_SCOPES` from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast, get_args

Role = Literal["admin", "agent", "viewer"]
Scope = Literal["customers:read", "customers:write", "customers:delete", "users:manage"]

CUSTOMERS_READ: Scope = "customers:read"
CUSTOMERS_WRITE: Scope = "customers:write"
CUSTOMERS_DELETE: Scope = "customers:delete"
USERS_MANAGE: Scope = "users:manage"

#: Every role, least to most powerful.
ROLES: tuple[Role, ...] = ("viewer", "agent", "admin")
#: Every scope, in the order tokens list them.
SCOPES: tuple[Scope, ...] = get_args(Scope)

#: What each scope lets a caller do.
SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    CUSTOMERS_READ: "read customers and their notes, search, analytics",
    CUSTOMERS_WRITE: "create and update customers, add notes",
    CUSTOMERS_DELETE: "delete and restore customers",
    USERS_MANAGE: "manage users, API keys and signing keys",
}

#: The role table.
ROLE_SCOPES: dict[Role, tuple[Scope, ...]] = {
    "viewer": (CUSTOMERS_READ,),
    "agent": (CUSTOMERS_READ, CUSTOMERS_WRITE),
    "admin": (CUSTOMERS_READ, CUSTOMERS_WRITE, CUSTOMERS_DELETE, USERS_MANAGE),
}

#: The role written into tokens minted for API keys, whose scopes are their own.
API_KEY_ROLE = "api_key"


def scopes_for_role(role: str) -> tuple[Scope, ...]:
    """The scopes ``role`` grants; none for a role this table does not know."""
    return ROLE_SCOPES.get(cast(Role, role), ())


def ordered_scopes(scopes: Iterable[str]) -> tuple[Scope, ...]:
    """Known scopes among ``scopes``, without repeats, in :data:`SCOPES` order."""
    wanted = set(scopes)
    return tuple(scope for scope in SCOPES if scope in wanted)


def scope_string(scopes: Iterable[str]) -> str:
    """Scopes as the space-separated ``scope`` claim (RFC 8693 style)."""
    return " ".join(ordered_scopes(scopes))


def role_table_markdown() -> str:
    """The role table as Markdown, for the README."""
    lines = ["| role | scopes |", "|---|---|"]
    lines += [f"| `{role}` | {', '.join(f'`{s}`' for s in ROLE_SCOPES[role])} |" for role in ROLES]
    lines += ["", "| scope | allows |", "|---|---|"]
    lines += [f"| `{scope}` | {SCOPE_DESCRIPTIONS[scope]} |" for scope in SCOPES]
    return "\n".join(lines)
