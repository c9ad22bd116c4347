"""Authentication and scopes on a Flask app, as its contract declares them.

:func:`install_authentication` checks every request against the service's
contract (``shared.contract``): public operations and ``OPTIONS`` pass; anything
else needs a valid bearer token (401), and an operation the contract declares
needs the scope it names (403, through ``shared.auth.check_scope``). A request
that matches no operation is authenticated, then answered by Flask's own 404 or
405. A route the contract does not declare would have no scope, so
:func:`undeclared_routes` finds them and the app refuses to start with any.
"""

from __future__ import annotations

import re

from flask import Flask, g, request

from shared.auth import Principal, TokenVerifier, check_scope
from shared.contract import Contract, ContractError
from shared.errors import Unauthorized

#: Methods Flask answers by itself on every rule: HEAD from GET, OPTIONS from the rule.
_IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
_FLASK_PARAMETER = re.compile(r"<[^<>]+>")
_OPENAPI_PARAMETER = re.compile(r"\{[^{}/]+\}")


def bearer_token() -> str:
    """The token in ``Authorization: Bearer <token>``, or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("Missing Authorization header")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


def bind_principal(principal: Principal) -> None:
    """Make ``principal`` the caller of the request being served."""
    g.principal = principal


def current_principal() -> Principal:
    """The principal of the request being served; 401 if none was bound."""
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized("Authentication required")
    return principal  # type: ignore[no-any-return]


def undeclared_routes(app: Flask, contract: Contract) -> list[str]:
    """Each ``METHOD /rule`` the app serves that has no operation in ``contract``."""
    declared = {
        (operation.method, _OPENAPI_PARAMETER.sub("{}", operation.path))
        for operation in contract.operations
    }
    undeclared: list[str] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        # Parameter names may differ (<uuid:customer_id> and {id}); the shape may not.
        template = _FLASK_PARAMETER.sub("{}", rule.rule)
        undeclared.extend(
            f"{method} {rule.rule}"
            for method in sorted((rule.methods or set()) - _IMPLICIT_METHODS)
            if (method, template) not in declared
        )
    return undeclared


def _refuse_undeclared_routes(app: Flask, contract: Contract) -> None:
    if undeclared := undeclared_routes(app, contract):
        raise ContractError(
            f"{contract.name}: routes without a contract operation, so without a scope:"
            f" {', '.join(undeclared)}"
        )


def install_authentication(app: Flask, verifier: TokenVerifier, *, contract: Contract) -> None:
    """Require on every request what ``contract`` declares for it: nothing, a token, a scope.

    Raises :class:`ContractError` if the app already serves a route the contract
    does not declare; the app factory checks the routes it adds later with
    :func:`undeclared_routes`.
    """
    _refuse_undeclared_routes(app, contract)

    @app.before_request
    def authenticate() -> None:
        if request.method == "OPTIONS":
            return
        operation = contract.match(request.method, request.path)
        if operation is not None and operation.public:
            return
        principal = verifier.verify(bearer_token())
        bind_principal(principal)
        if operation is not None:
            check_scope(principal, operation.scope)
