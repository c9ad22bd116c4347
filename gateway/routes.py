"""The gateway's route table: which public prefix goes to which service, and
which scope each method needs there.

The gateway checks the scope first (RBAC at the edge); the service checks it
again from the same token (defence in depth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ScopeRule:
    """``scope`` is needed for ``methods`` on paths matching ``pattern`` (after the prefix)."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    scope: str


@dataclass(frozen=True)
class Route:
    """A public prefix served by one upstream service."""

    prefix: str
    service: str
    upstream_prefix: str
    rules: tuple[ScopeRule, ...]

    def upstream_path(self, public_path: str) -> str:
        """The path the service serves for ``public_path``."""
        return self.upstream_prefix + public_path[len(self.prefix) :]

    def public_path(self, upstream_path: str) -> str:
        """The public path of a path the service returned (``Location``, ``Link``)."""
        if upstream_path.startswith(self.upstream_prefix):
            return self.prefix + upstream_path[len(self.upstream_prefix) :]
        return upstream_path

    def required_scope(self, method: str, public_path: str) -> str | None:
        """The scope needed, or None when no rule allows the method at all."""
        rest = public_path[len(self.prefix) :]
        for rule in self.rules:
            if method in rule.methods and rule.pattern.fullmatch(rest):
                return rule.scope
        return None


def _rule(methods: str, pattern: str, scope: str) -> ScopeRule:
    return ScopeRule(frozenset(methods.split()), re.compile(pattern), scope)


CUSTOMERS = Route(
    prefix="/api/v1/customers",
    service="customer_service",
    upstream_prefix="/customers",
    rules=(
        _rule("POST", r"/[^/]+/restore", "customers:delete"),
        _rule("DELETE", r"/[^/]+", "customers:delete"),
        _rule("GET HEAD", r"(/.*)?", "customers:read"),
        _rule("POST PATCH PUT", r"(/.*)?", "customers:write"),
    ),
)

#: Every proxied route; the first whose prefix matches wins.
ROUTES: tuple[Route, ...] = (CUSTOMERS,)
