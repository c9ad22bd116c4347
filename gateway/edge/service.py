"""The forwarding use case: send an authorised call to its service and shape the answer.

No Flask here: the edge API hands in the parts of the request that matter
(:class:`IncomingRequest`) and turns the :class:`UpstreamResponse` back into a
response. Discovery lists the passing instances; the upstream client picks one
and owns the wire.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.edge.routes import Route
from gateway.edge.upstream import (
    UpstreamClient,
    UpstreamResponse,
    forwardable_request_headers,
    forwardable_response_headers,
)
from shared.discovery import Discovery


@dataclass(frozen=True)
class IncomingRequest:
    """What the gateway received, as plain values."""

    method: str
    path: str
    query_string: bytes
    headers: Iterable[tuple[str, str]]
    body: bytes
    request_id: str
    #: The address that connected to the gateway: the client, or the nearest proxy.
    peer_address: str
    #: The ``X-Forwarded-For`` chain the request arrived with, if any.
    forwarded_for: str | None
    scheme: str
    host: str


class Forwarder:
    """Forwards calls along the route table to instances found through discovery."""

    def __init__(self, *, discovery: Discovery, client: UpstreamClient) -> None:
        self._discovery = discovery
        self._client = client

    def forward(self, route: Route, incoming: IncomingRequest, bearer: str) -> UpstreamResponse:
        """Send ``incoming`` to ``route``'s service on behalf of the bearer's principal."""
        target = route.upstream_path(incoming.path)
        if incoming.query_string:
            target += "?" + incoming.query_string.decode("latin-1")
        headers = forwardable_request_headers(incoming.headers)
        headers["Authorization"] = f"Bearer {bearer}"
        headers["X-Request-ID"] = incoming.request_id
        headers["X-Forwarded-For"] = (
            f"{incoming.forwarded_for}, {incoming.peer_address}"
            if incoming.forwarded_for
            else incoming.peer_address
        )
        headers["X-Forwarded-Proto"] = incoming.scheme
        headers["X-Forwarded-Host"] = incoming.host
        headers["X-Forwarded-Prefix"] = route.prefix[: -len(route.upstream_prefix)] or "/"
        upstream = self._client.forward(
            route.service,
            self._discovery.instances(route.service),
            incoming.method,
            target,
            headers,
            incoming.body,
        )
        return UpstreamResponse(
            upstream.status, forwardable_response_headers(upstream.headers, route), upstream.body
        )
