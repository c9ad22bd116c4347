"""The route table: which public prefix goes to which service, and which operations exist there.

Built from the service declaration (``services.toml``: each routed service's
public and upstream prefix) and each service's own contract: the gateway
forwards only what a contract declares, and checks the scope that contract
names before it forwards (the service checks it again from the same token).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contract import Contract, Operation
from shared.errors import NotFound, ProblemError
from shared.services import Service, routed_services


class MethodNotAllowedHere(ProblemError):
    """The service's contract declares the path, but not with this method."""

    status, title, slug = 405, "Method Not Allowed", "method-not-allowed"


@dataclass(frozen=True)
class Route:
    """A public prefix served by one upstream service, held to that service's contract."""

    prefix: str
    service: str
    upstream_prefix: str
    contract: Contract

    @classmethod
    def of(cls, service: Service) -> Route:
        """The route of a declared service, with its contract loaded."""
        assert service.route is not None, f"{service.name} is not behind the gateway"
        return cls(
            prefix=service.route.public,
            service=service.package,
            upstream_prefix=service.route.upstream,
            contract=Contract.load(service.contract_path),
        )

    def serves(self, public_path: str) -> bool:
        """Whether ``public_path`` is this prefix or under it."""
        return public_path == self.prefix or public_path.startswith(self.prefix + "/")

    def upstream_path(self, public_path: str) -> str:
        """The path the service serves for ``public_path``."""
        return self.upstream_prefix + public_path[len(self.prefix) :]

    def public_path(self, upstream_path: str) -> str:
        """The public path of a path the service returned (``Location``, ``Link``)."""
        if upstream_path.startswith(self.upstream_prefix):
            return self.prefix + upstream_path[len(self.upstream_prefix) :]
        return upstream_path

    def declared_operation(self, method: str, public_path: str) -> Operation | None:
        """The contract operation a call would reach, if the service declares one."""
        return self.contract.match(method, self.upstream_path(public_path))

    def operation(self, method: str, public_path: str) -> Operation:
        """The contract operation a call would reach; 404/405 problems when there is none."""
        operation = self.declared_operation(method, public_path)
        if operation is not None:
            return operation
        if self.contract.has_path(self.upstream_path(public_path)):
            raise MethodNotAllowedHere(f"{method} is not allowed on {public_path}")
        raise NotFound(f"No such resource: {public_path}")


def declared_routes() -> tuple[Route, ...]:
    """One route per service the declaration puts behind the gateway."""
    return tuple(Route.of(service) for service in routed_services())


def find_route(routes: tuple[Route, ...], public_path: str) -> Route | None:
    """The route serving ``public_path``, if any."""
    return next((route for route in routes if route.serves(public_path)), None)


def routed_operation(routes: tuple[Route, ...], method: str, public_path: str) -> Operation | None:
    """The routed service's operation ``method public_path`` reaches, if any."""
    route = find_route(routes, public_path)
    return route.declared_operation(method, public_path) if route is not None else None
