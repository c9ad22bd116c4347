"""Roles and the scopes they grant, read from the service declaration and the contracts.

Scopes are the unit of permission every service checks; each service's
contract defines its scopes (the OAuth 2 scheme in its ``openapi.yaml``) and
says which one each operation needs. A role is only a name for a set of
scopes, resolved when the gateway issues a token: ``services.toml`` says which
scopes of each service every role holds. Nothing here is written twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from shared.contract import Contract
from shared.services import load_services, role_scopes

Role = Literal["viewer", "agent", "admin"]

#: Every role, least to most powerful (the ``users.role`` column allows these).
ROLES: tuple[Role, ...] = ("viewer", "agent", "admin")
#: The role written into tokens minted for API keys, whose scopes are their own.
API_KEY_ROLE = "api_key"


def scope_descriptions() -> dict[str, str]:
    """Every scope of every service's contract, in declaration order, with what it allows."""
    described: dict[str, str] = {}
    # The services' scopes first, the gateway's own (no route) last.
    for service in sorted(load_services(), key=lambda service: service.route is None):
        described.update(Contract.load(service.contract_path).scopes())
    return described


#: One's own account: who one is and what one may do, one's password. Signing in grants
#: it, not a role or a key: the gateway adds it to every caller it authenticates
#: (``gateway.auth.credentials``), so it is in no token, no role and no key, and nobody
#: grants it. The gateway's contract defines it, like every scope an operation names.
ACCOUNT_SCOPE = "account:self"
#: Every scope a role or a key may hold, in the order tokens list them.
SCOPES: tuple[str, ...] = tuple(scope for scope in scope_descriptions() if scope != ACCOUNT_SCOPE)
#: The role table: what each role may do.
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    role: tuple(scope for scope in SCOPES if scope in role_scopes().get(role, ())) for role in ROLES
}


def scopes_for_role(role: str) -> tuple[str, ...]:
    """The scopes ``role`` grants; none for a role this table does not know."""
    return ROLE_SCOPES.get(role, ())


def ordered_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Known scopes among ``scopes``, without repeats, in :data:`SCOPES` order."""
    wanted = set(scopes)
    return tuple(scope for scope in SCOPES if scope in wanted)


def described_scopes(scopes: Iterable[str]) -> list[dict[str, str]]:
    """``{"scope", "description"}`` for each known scope among ``scopes``, sorted by scope.

    The description is the one the scope's contract gives, as a sentence.
    """
    descriptions = scope_descriptions()
    return [
        {"scope": scope, "description": _sentence(descriptions[scope])}
        for scope in sorted(set(scopes))
        if scope in descriptions
    ]


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def scope_string(scopes: Iterable[str]) -> str:
    """Scopes as the space-separated ``scope`` claim (RFC 8693 style)."""
    return " ".join(ordered_scopes(scopes))


def rbac_tables_markdown() -> str:
    """The README's role, scope and route tables, generated from the contracts."""
    descriptions = scope_descriptions()
    lines = ["| role | scopes |", "|---|---|"]
    lines += [
        f"| `{role}` | {', '.join(f'`{scope}`' for scope in ROLE_SCOPES[role])} |" for role in ROLES
    ]
    lines += ["", "| scope | allows |", "|---|---|"]
    lines += [f"| `{scope}` | {descriptions[scope]} |" for scope in SCOPES]
    lines.append(f"| `{ACCOUNT_SCOPE}` | {descriptions[ACCOUNT_SCOPE]} |")
    lines += ["", "| operation | scope | viewer | agent | admin |", "|---|---|---|---|---|"]
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    for service in sorted(load_services(), key=lambda service: service.route is None):
        contract = Contract.load(service.contract_path)
        ordered = sorted(
            (op for op in contract.operations if op.method in methods),
            key=lambda op: (op.path, methods.index(op.method)),
        )
        for operation in ordered:
            if service.route is None:
                public_path = operation.path
            elif operation.path.startswith(service.route.upstream):
                public_path = service.route.public + operation.path[len(service.route.upstream) :]
            else:
                continue  # the service's own operational endpoints are not routed
            scope = operation.scope
            cells = [
                "public"
                if scope is None
                else ("yes" if scope in (*ROLE_SCOPES[role], ACCOUNT_SCOPE) else "403")
                for role in ROLES
            ]
            lines.append(
                f"| `{operation.method} {public_path}` | {f'`{scope}`' if scope else '-'} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(rbac_tables_markdown())
