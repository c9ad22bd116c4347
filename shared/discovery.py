"""Finding service instances: one interface, three backends chosen by ``DISCOVERY``.

- ``static``: a map from configuration (``DISCOVERY_STATIC``, what ``make run`` uses),
  several instances per service allowed.
- ``dns``: Kubernetes Service names (a service's declared name plus
  ``DISCOVERY_DNS_SUFFIX``), resolved by the system resolver and reused for a few
  seconds; the port comes from configuration.
- ``consul``: Consul's HTTP API through ``py-consul``. Processes register
  themselves (:mod:`shared.registration`); one background thread per watched
  service holds its passing instances and keeps them current with blocking
  queries, so :meth:`Discovery.instances` reads memory, never the network. While
  Consul cannot be reached the last answer stays in use, and :meth:`Discovery.problems`
  and the ``discovery_consul_up`` gauge say so.
"""

from __future__ import annotations

import itertools
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from prometheus_client import Gauge

from shared.errors import ServiceUnavailable
from shared.services import service_named
from shared.settings import DiscoverySettings

logger = logging.getLogger(__name__)

#: ``app.extensions`` key of the app's :class:`Discovery`, closed when a gunicorn worker exits.
DISCOVERY_EXTENSION = "shared.discovery"

# Labelled, so a process that never watches (gunicorn's arbiter) exports no sample at all.
CONSUL_UP = Gauge(
    "discovery_consul_up",
    "1 while Consul answers the watch of this service, 0 while it cannot be reached",
    ["service"],
    multiprocess_mode="livemin",
)
KNOWN_INSTANCES = Gauge(
    "discovery_instances",
    "Instances of this service discovery currently hands out (the last known set while "
    "Consul is away)",
    ["service"],
    multiprocess_mode="livemin",
)


class ServiceNotFound(ServiceUnavailable):
    """No instance of the requested service is known."""

    slug = "service-not-found"


@dataclass(frozen=True)
class Instance:
    """One reachable instance of a service."""

    #: The package name, e.g. ``customer_service``.
    service: str
    #: Unique per instance (static: the URL; dns: the address; consul: the ServiceID).
    id: str
    #: Base URL, no trailing slash, e.g. ``http://10.0.0.5:8001``.
    url: str


@dataclass(frozen=True)
class Registration:
    """What a process group announces about itself (``consul``; the other backends ignore it)."""

    service: str
    instance_id: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: dict[str, str]
    #: What the registry polls to decide whether the instance is passing.
    health_url: str


class Discovery(Protocol):
    """Register this process and find instances of others."""

    def instances(self, service: str) -> list[Instance]:
        """The passing instances of ``service`` now, from memory; ``[]`` if none."""
        ...

    def resolve(self, service: str) -> str:
        """One instance's base URL, in turn (round robin); :class:`ServiceNotFound` if none."""
        ...

    def register(self, registration: Registration) -> None:
        """Announce an instance."""
        ...

    def deregister(self, instance_id: str) -> None:
        """Withdraw an instance announced by :meth:`register`."""
        ...

    def problems(self) -> list[str]:
        """What keeps discovery from being current (for ``/readyz``); ``[]`` when healthy."""
        ...

    def close(self) -> None:
        """Stop background work."""
        ...


def http_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _RoundRobin:
    """Whose turn it is next, per service, across threads."""

    def __init__(self) -> None:
        self._turns: dict[str, Iterator[int]] = {}
        self._lock = threading.Lock()

    def pick(self, service: str, instances: Sequence[Instance]) -> str:
        if not instances:
            raise ServiceNotFound(f"No instance of {service!r} is known")
        with self._lock:
            turn = next(self._turns.setdefault(service, itertools.count()))
        return instances[turn % len(instances)].url


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
    """Instances from a fixed map, taken in turn (round robin); the map is the registry."""

    def __init__(self, services: Mapping[str, Sequence[str]]) -> None:
        self._instances = {
            name: tuple(
                Instance(name, url, url) for url in dict.fromkeys(u.rstrip("/") for u in urls)
            )
            for name, urls in services.items()
        }
        self._turns = _RoundRobin()

    def instances(self, service: str) -> list[Instance]:
        return list(self._instances.get(service, ()))

    def resolve(self, service: str) -> str:
        return self._turns.pick(service, self._instances.get(service, ()))

    def register(self, registration: Registration) -> None:
        """Nothing to do: the static map is the registry."""

    def deregister(self, instance_id: str) -> None:
        """Nothing to do: the static map is the registry."""

    def problems(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing runs in the background."""


def dns_name(service: str, suffix: str = "") -> str:
    """The DNS name of ``service`` (package or declared name): its declared name plus ``suffix``.

    A name ``services.toml`` does not declare is used as it is.
    """
    try:
        name = service_named(service).name
    except KeyError:
        name = service
    if suffix and not suffix.startswith("."):
        suffix = "." + suffix
    return name + suffix


#: ``socket.getaddrinfo``'s shape: (host, port, family, type) -> [(..., address)].
Resolver = Callable[..., Sequence[tuple[Any, ...]]]


@dataclass(frozen=True)
class _DnsAnswer:
    instances: tuple[Instance, ...]
    expires: float
    problem: str | None = None


class DnsDiscovery:
    """Instances behind Kubernetes Service names: one per address the name resolves to.

    An answer is reused for ``ttl_seconds``. A name that does not exist gives no
    instance; a resolver that fails for a while (timeout, server failure) leaves
    the last addresses in use. Both are reported by :meth:`problems`.
    """

    def __init__(
        self,
        *,
        port: int = 8000,
        suffix: str = "",
        ttl_seconds: float = 5.0,
        resolver: Resolver = socket.getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._port = port
        self._suffix = suffix
        self._ttl = ttl_seconds
        self._resolver = resolver
        self._clock = clock
        self._answers: dict[str, _DnsAnswer] = {}
        self._turns = _RoundRobin()

    def instances(self, service: str) -> list[Instance]:
        now = self._clock()
        answer = self._answers.get(service)
        if answer is None or answer.expires <= now:
            answer = self._lookup(service, answer, now)
            self._answers[service] = answer
        return list(answer.instances)

    def _lookup(self, service: str, previous: _DnsAnswer | None, now: float) -> _DnsAnswer:
        name = dns_name(service, self._suffix)
        try:
            found = self._resolver(name, self._port, 0, socket.SOCK_STREAM)
        except socket.gaierror as error:
            if error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
                return _DnsAnswer((), now + self._ttl, f"dns: {name} does not resolve")
            kept = previous.instances if previous else ()
            return _DnsAnswer(
                kept,
                now + self._ttl,
                f"dns: cannot resolve {name} ({error.strerror}); "
                f"serving the last known addresses ({len(kept)})",
            )
        addresses = sorted({str(entry[4][0]) for entry in found})
        return _DnsAnswer(
            tuple(
                Instance(service, address, http_url(address, self._port)) for address in addresses
            ),
            now + self._ttl,
        )

    def resolve(self, service: str) -> str:
        return self._turns.pick(service, self.instances(service))

    def register(self, registration: Registration) -> None:
        """Nothing to do: Kubernetes keeps the Service's endpoints."""

    def deregister(self, instance_id: str) -> None:
        """Nothing to do: Kubernetes keeps the Service's endpoints."""

    def problems(self) -> list[str]:
        return [answer.problem for answer in list(self._answers.values()) if answer.problem]

    def close(self) -> None:
        """Nothing runs in the background."""


def _py_consul() -> Any:
    """py-consul, imported on first use.

    Gunicorn's master imports this module, and an HTTP client loaded there would
    leave ssl unpatched in the gevent workers it forks.
    """
    import consul  # type: ignore[import-untyped]  # py-consul ships no type information

    return consul


def consul_client(address: str, token: str | None = None, *, timeout: float = 5.0) -> Any:
    """A py-consul client of the agent at ``address`` (``[http[s]://]host[:port]``).

    ``timeout`` bounds connecting and each answer; a blocking query adds its wait.
    """
    consul = _py_consul()
    parts = urlsplit(address if "//" in address else f"http://{address}")
    host = parts.hostname or "127.0.0.1"
    return consul.Consul(
        host=f"[{host}]" if ":" in host else host,
        port=parts.port or (443 if parts.scheme == "https" else 8500),
        scheme=parts.scheme or "http",
        token=token,
        connections_timeout=timeout,
    )


def _consul_instance(service: str, entry: Mapping[str, Any]) -> Instance:
    """An instance from one ``/v1/health/service`` entry (no service address: the node's)."""
    registered = entry["Service"]
    address = registered.get("Address") or entry["Node"]["Address"]
    return Instance(service, str(registered["ID"]), http_url(address, int(registered["Port"])))


def _root_cause(error: BaseException) -> str:
    """The innermost error a failure was raised from, named (``ConnectionRefusedError: ...``)."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return f"{type(error).__name__}: {error}"


def _next_index(previous: str | None, returned: str | None) -> str | None:
    """The index of the next blocking query, as Consul's blocking-query guide asks.

    An index that went backwards (the agent's state was reset) starts over with a
    non-blocking query; one below 1 is clamped to 1 so the query still blocks.
    """
    if returned is None:
        return None
    value = int(returned)
    if previous is not None and value < int(previous):
        return None
    return str(max(value, 1))


class _ServiceWatch:
    """One service's passing instances, kept current by blocking queries on a daemon thread."""

    #: Shortest time between two queries, so an index that keeps moving cannot spin the loop.
    MIN_QUERY_INTERVAL = 0.05

    def __init__(
        self,
        service: str,
        client: Any,
        *,
        wait_seconds: int,
        retry_initial_seconds: float,
        retry_max_seconds: float,
        closed: threading.Event,
    ) -> None:
        self.service = service
        self.instances: tuple[Instance, ...] = ()
        #: Set once Consul has answered, or failed to, for the first time.
        self.settled = threading.Event()
        self.answered = False
        self.failing_since: datetime | None = None
        self.error: BaseException | None = None
        self._client = client
        self._wait = f"{wait_seconds}s"
        self._retry_initial = retry_initial_seconds
        self._retry_max = retry_max_seconds
        self._closed = closed
        self._thread = threading.Thread(
            target=self._run, name=f"consul-watch-{service}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        index: str | None = None
        delay = self._retry_initial
        while not self._closed.is_set():
            started = time.monotonic()
            try:
                returned, entries = self._client.health.service(
                    self.service, passing=True, index=index, wait=self._wait
                )
                instances = tuple(
                    sorted(
                        (_consul_instance(self.service, entry) for entry in entries or ()),
                        key=lambda instance: instance.id,
                    )
                )
                next_index = _next_index(index, returned)
            except Exception as error:  # whatever went wrong, the last known set stays in use
                self._failed(error)
                index = None  # once Consul is back, learn its state at once
                if self._closed.wait(random.uniform(delay / 2, delay)):  # noqa: S311  # nosec B311 # jitter, not secrecy
                    return
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_initial
            self._answered(instances)
            index = next_index
            pause = self.MIN_QUERY_INTERVAL - (time.monotonic() - started)
            if pause > 0 and self._closed.wait(pause):
                return

    def _answered(self, instances: tuple[Instance, ...]) -> None:
        if self.error is not None:
            logger.info("consul answers again about %s", self.service)
        if instances != self.instances or not self.answered:
            logger.info(
                "%s: %d passing instance(s): %s",
                self.service,
                len(instances),
                ", ".join(instance.url for instance in instances) or "none",
            )
        self.instances = instances
        self.error = None
        self.failing_since = None
        self.answered = True
        CONSUL_UP.labels(self.service).set(1)
        KNOWN_INSTANCES.labels(self.service).set(len(instances))
        self.settled.set()

    def _failed(self, error: BaseException) -> None:
        if self.error is None:
            logger.warning(
                "consul cannot tell the instances of %s (%s); keeping the %d last known",
                self.service,
                _root_cause(error),
                len(self.instances),
            )
            self.failing_since = datetime.now(UTC)
        self.error = error
        CONSUL_UP.labels(self.service).set(0)
        KNOWN_INSTANCES.labels(self.service).set(len(self.instances))
        self.settled.set()


class ConsulDiscovery:
    """Consul's passing instances, watched in the background; registration through its agent.

    A service is watched from the first :meth:`instances` call about it (or from
    the start, for the services in ``watch``). That first call waits up to
    ``first_answer_seconds`` for Consul's first answer; every later one reads
    what the watch holds.
    """

    def __init__(
        self,
        client: Any,
        *,
        address: str = "consul",
        watch: Iterable[str] = (),
        wait_seconds: int = 30,
        retry_initial_seconds: float = 0.5,
        retry_max_seconds: float = 10.0,
        first_answer_seconds: float = 1.0,
        check_interval: str = "5s",
        check_timeout: str = "2s",
        deregister_critical_after: str = "1m",
    ) -> None:
        self._client = client
        self._address = address
        self._wait_seconds = wait_seconds
        self._retry_initial = retry_initial_seconds
        self._retry_max = retry_max_seconds
        self._first_answer_seconds = first_answer_seconds
        self._check = {
            "interval": check_interval,
            "timeout": check_timeout,
            "deregister": deregister_critical_after,
        }
        self._watches: dict[str, _ServiceWatch] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._turns = _RoundRobin()
        for service in watch:
            self._watch(service)

    def _watch(self, service: str) -> _ServiceWatch | None:
        with self._lock:
            watch = self._watches.get(service)
            if watch is None and not self._closed.is_set():
                watch = _ServiceWatch(
                    service,
                    self._client,
                    wait_seconds=self._wait_seconds,
                    retry_initial_seconds=self._retry_initial,
                    retry_max_seconds=self._retry_max,
                    closed=self._closed,
                )
                self._watches[service] = watch
                watch.start()
            return watch

    def instances(self, service: str) -> list[Instance]:
        watch = self._watches.get(service) or self._watch(service)
        if watch is None:
            return []
        if not watch.settled.is_set():
            watch.settled.wait(self._first_answer_seconds)
        return list(watch.instances)

    def resolve(self, service: str) -> str:
        return self._turns.pick(service, self.instances(service))

    def register(self, registration: Registration) -> None:
        """Register with the local agent, with an HTTP check on ``health_url``."""
        consul = _py_consul()
        accepted = self._client.agent.service.register(
            registration.service,
            service_id=registration.instance_id,
            address=registration.address,
            port=registration.port,
            tags=list(registration.tags),
            meta=dict(registration.meta),
            check=consul.Check.http(registration.health_url, **self._check),
        )
        if not accepted:
            raise consul.ConsulException(f"consul refused to register {registration.instance_id}")

    def deregister(self, instance_id: str) -> None:
        """Withdraw ``instance_id`` from the local agent (nothing if it is not there)."""
        self._client.agent.service.deregister(instance_id)

    def problems(self) -> list[str]:
        watches = list(self._watches.values())
        # Each watch's state read once: its thread may change it meanwhile.
        states = [(watch, watch.error, watch.failing_since) for watch in watches]
        failing = [(error, since) for _, error, since in states if error is not None]
        problems = []
        if failing:
            since = min(since or datetime.now(UTC) for _, since in failing)
            error = failing[-1][0]
            state = "unreachable" if isinstance(error, OSError) else "failing"
            known = ", ".join(
                f"{watch.service}: {len(watch.instances) if watch.answered else 'none yet'}"
                for watch in watches
            )
            problems.append(
                f"consul at {self._address} {state} since {since:%Y-%m-%dT%H:%M:%SZ}"
                f" ({_root_cause(error)}); serving the last known instances ({known})"
            )
        pending = [watch.service for watch, error, _ in states if not watch.answered and not error]
        if pending:
            problems.append(
                f"no answer from consul at {self._address} yet about {', '.join(pending)}"
            )
        return problems

    def close(self) -> None:
        """Stop watching: each watch ends once its query in flight returns."""
        self._closed.set()


def create_discovery(
    backend: str,
    *,
    static_map: str = "",
    settings: DiscoverySettings | None = None,
    watch: Iterable[str] = (),
) -> Discovery:
    """The discovery backend named by configuration.

    ``consul`` and ``dns`` read their knobs from ``settings`` (the environment when
    none are given); ``watch`` names services ``consul`` watches from the start.
    """
    if backend == "static":
        return StaticDiscovery(parse_static_map(static_map))
    if backend not in ("consul", "dns"):
        raise ValueError(f"Unknown discovery backend {backend!r}; supported: static, consul, dns")
    settings = settings or DiscoverySettings()
    if backend == "dns":
        return DnsDiscovery(
            port=settings.discovery_dns_port,
            suffix=settings.discovery_dns_suffix,
            ttl_seconds=settings.discovery_dns_ttl_seconds,
        )
    token = settings.consul_token.get_secret_value() if settings.consul_token else None
    return ConsulDiscovery(
        consul_client(settings.consul_http_addr, token),
        address=settings.consul_http_addr,
        watch=watch,
        wait_seconds=settings.consul_wait_seconds,
        retry_max_seconds=settings.consul_retry_max_seconds,
        check_interval=settings.consul_check_interval,
        check_timeout=settings.consul_check_timeout,
        deregister_critical_after=settings.consul_deregister_critical_after,
    )


def discovery_from_settings(settings: DiscoverySettings, *, watch: Iterable[str] = ()) -> Discovery:
    """The discovery ``settings`` configure (``DISCOVERY`` and its backend's knobs)."""
    return create_discovery(
        settings.discovery, static_map=settings.discovery_static, settings=settings, watch=watch
    )
