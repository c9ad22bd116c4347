"""The edge's Flask glue: the guard every request passes, and the views that forward.

Secure and limited by default. Before any view runs, the guard looks the
request up in the gateway's own contract (``gateway/openapi.yaml``) and in the
route table:

* an operation the contract declares public (``security: []``) is counted per
  client address, against the limit its ``x-rate-limit`` names (``public`` if
  none) — and that is all;
* everything else needs credentials (401), is counted per principal (``api``),
  and needs the scope its contract names (403): the gateway's contract for its
  own endpoints, the service's contract for a forwarded call (404/405 when the
  service declares no such operation);
* a view the gateway serves but its contract does not declare is refused (403),
  so a new endpoint is closed until its contract entry says who may call it;
* a CORS preflight from an allowed origin (``gateway.edge.cors``) carries no
  credentials by design: when the gateway serves the method it asks about, on
  its own paths or a forwarded one, it passes unauthenticated, counted per
  client address against the ``public`` limit, and the gateway answers it (it
  is never forwarded). Any other ``OPTIONS`` needs credentials like the rest.

A body is held to the limit of the operation it reaches (:func:`called_operation`):
``MAX_BODY_BYTES``, or the ``x-max-body-bytes`` its contract entry sets, the
gateway's own or the routed service's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, Response, g, request

from gateway.auth.credentials import RequestAuthenticator
from gateway.edge.cors import CorsPolicy
from gateway.edge.forwarding import incoming_request, relayed_headers
from gateway.edge.limits import LimitState, RateLimiter, limit_for
from gateway.edge.routes import Route, find_route, routed_operation
from gateway.edge.service import Forwarder
from shared.auth import check_scope
from shared.contract import Contract, Operation
from shared.errors import Forbidden
from shared.web.app import OperationFinder
from shared.web.auth import bind_principal

#: The limit for public operations that name none, per client address.
PUBLIC_LIMIT = "public"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Edge:
    """What the guard and the forwarding views need, passed in by the app factory."""

    contract: Contract
    routes: tuple[Route, ...]
    authenticator: RequestAuthenticator
    limiter: RateLimiter
    forwarder: Forwarder
    #: Browser origins allowed to call the API; none by default.
    cors: CorsPolicy = field(default_factory=CorsPolicy)


def called_operation(contract: Contract, routes: tuple[Route, ...]) -> OperationFinder:
    """Finds the operation a call reaches: the gateway's own, else the routed service's.

    The app factory hands it to ``create_service_app``, so a forwarded call's
    body limit is the one its service's contract sets (``x-max-body-bytes``):
    an upload the service takes passes the gateway too.
    """

    def find(method: str, path: str) -> Operation | None:
        own = contract.match(method, path)
        return own if own is not None else routed_operation(routes, method, path)

    return find


def _count(edge: Edge, limit: str, key: str) -> None:
    g.rate_limit_state = edge.limiter.hit(limit, key)


def _is_served_preflight(edge: Edge) -> bool:
    """Whether this is an allowed origin's preflight for a call the gateway would route."""
    method = edge.cors.preflight_method(request.method, request.path, request.headers)
    if method is None:
        return False
    if edge.contract.match(method, request.path) is not None:
        return True
    # Only what the service's contract declares: a preflight maps no more than the contract.
    return routed_operation(edge.routes, method, request.path) is not None


def _limit_name(own: Operation | None, route: Route | None) -> str:
    """The named limit a call counts against (:func:`~gateway.edge.limits.limit_for`)."""
    if own is not None or route is None:
        return limit_for(own)
    return limit_for(route.declared_operation(request.method, request.path))


def guard(edge: Edge) -> None:
    """Authenticate, limit and authorise the current request (see the module docstring)."""
    own = edge.contract.match(request.method, request.path)
    if own is not None and own.public:
        _count(edge, own.rate_limit or PUBLIC_LIMIT, f"ip:{request.remote_addr}")
        return
    if _is_served_preflight(edge):
        # Answered by Flask's automatic OPTIONS and the CORS headers, never forwarded.
        _count(edge, PUBLIC_LIMIT, f"ip:{request.remote_addr}")
        return
    authentication = edge.authenticator.authenticate(request.headers)
    principal = authentication.principal
    bind_principal(principal)
    g.bearer_token = authentication.bearer_token
    route = find_route(edge.routes, request.path) if own is None else None
    _count(edge, _limit_name(own, route), f"principal:{principal.subject}")
    if own is not None:
        check_scope(principal, own.scope)
        return
    if route is not None:
        check_scope(principal, route.operation(request.method, request.path).scope)
        g.route = route
        return
    if request.url_rule is not None and request.method != "OPTIONS":
        raise Forbidden(
            f"{request.method} {request.url_rule.rule} is not in the gateway's contract"
        )


def forward_current_request(edge: Edge) -> Response:
    """Send the guarded request to its route's service and relay the answer."""
    route: Route = g.route
    incoming = incoming_request(request.environ, request.path, g.request_id, request.get_data())
    upstream = edge.forwarder.forward(route, incoming, g.bearer_token)
    return Response(upstream.body, status=upstream.status, headers=relayed_headers(upstream))


def install_edge(app: Flask, edge: Edge) -> None:
    """Guard every request, add ``RateLimit-*`` headers, and serve each route by forwarding."""

    @app.before_request
    def guard_request() -> None:
        guard(edge)

    @app.after_request
    def add_rate_limit_headers(response: Response) -> Response:
        state: LimitState | None = g.get("rate_limit_state")
        if state is not None:
            for name, value in state.headers().items():
                response.headers.setdefault(name, value)
        return response

    def forward(**_path: str) -> Response:
        return forward_current_request(edge)

    for route in edge.routes:
        endpoint = f"forward_{route.service}"
        app.add_url_rule(route.prefix, endpoint, forward, methods=ALL_METHODS)
        app.add_url_rule(f"{route.prefix}/<path:rest>", endpoint, forward, methods=ALL_METHODS)
