"""Finding service instances: one interface, backends chosen by configuration.

``static`` reads a map from configuration (local runs and tests). The
``consul`` and ``dns`` backends plug in behind the same :class:`Discovery`
interface.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from typing import Protocol

from shared.errors import ServiceUnavailable


class ServiceNotFound(ServiceUnavailable):
    """No instance of the requested service is known."""

    slug = "service-not-found"


class Discovery(Protocol):
    """Register this process and find instances of others."""

    def resolve(self, service: str) -> str:
        """The base URL of one healthy instance of ``service``."""
        ...

    def register(self, service: str, instance_id: str, url: str) -> None:
        """Announce an instance of ``service`` reachable at ``url``."""
        ...

    def deregister(self, instance_id: str) -> None:
        """Withdraw an instance announced by :meth:`register`."""
        ...


def parse_static_map(text: str) -> dict[str, list[str]]:
    """Parse ``name=url[|url...],name=url`` into ``{name: [url, ...]}``."""
    services: dict[str, list[str]] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, separator, urls = entry.partition("=")
        if not separator or not name.strip():
            raise ValueError(f"Discovery entry {entry!r} is not name=url")
        instances = [url.strip().rstrip("/") for url in urls.split("|") if url.strip()]
        if not instances:
            raise ValueError(f"Discovery entry {entry!r} names no URL")
        services[name.strip()] = instances
    return services


class StaticDiscovery:
    """Instances from a fixed map, taken in turn (round robin)."""

    def __init__(self, services: Mapping[str, list[str]]) -> None:
        self._cycles: dict[str, Iterator[str]] = {
            name: itertools.cycle(urls) for name, urls in services.items() if urls
        }
        self._lock = threading.Lock()

    def resolve(self, service: str) -> str:
        cycle = self._cycles.get(service)
        if cycle is None:
            raise ServiceNotFound(f"No instance of {service!r} is configured")
        with self._lock:
            return next(cycle)

    def register(self, service: str, instance_id: str, url: str) -> None:
        """Nothing to do: the static map is the registry."""

    def deregister(self, instance_id: str) -> None:
        """Nothing to do: the static map is the registry."""


def create_discovery(backend: str, *, static_map: str = "") -> Discovery:
    """The discovery backend named by configuration."""
    if backend == "static":
        return StaticDiscovery(parse_static_map(static_map))
    raise ValueError(f"Unknown discovery backend {backend!r}; supported: static")
