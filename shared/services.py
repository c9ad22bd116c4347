"""The service declaration (``services.toml``): every service, its processes, database and route.

Everything that lists services (the Makefile, the Procfile, test fixtures, the
gateway's route and role tables, compose, Kubernetes) reads this module or is
checked against it, so a new service is one entry in ``services.toml``. Only the
standard library is used: the Makefile calls ``python -m shared.services``
before any dependency is installed.

    python -m shared.services packages     every package, gateway first
    python -m shared.services procfile     the Procfile `make run` starts
"""

from __future__ import annotations

import argparse
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DECLARATION = ROOT / "services.toml"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
#: The process kind served by gunicorn from ``<package>.app:create_app()``.
WEB = "web"
GUNICORN = "gunicorn"
PROCFILE_HEADER = (
    "# Generated from services.toml by `python -m shared.services procfile`; do not edit.\n"
)


@dataclass(frozen=True)
class Route:
    """Public paths under ``public`` are the service's paths under ``upstream``."""

    public: str
    upstream: str


@dataclass(frozen=True)
class Process:
    """One long-running process of a service."""

    service: str
    name: str
    #: ``gunicorn`` for the web process, else the module run with ``python -m``.
    target: str
    #: A worker's own listener for ``/metrics``, ``/healthz`` and ``/readyz``
    #: (the web process uses its service's ``metrics_port``).
    metrics_port: int | None = None
    #: For an event consumer: the routing-key patterns its queue is bound to.
    events: tuple[str, ...] = ()

    @property
    def procfile_name(self) -> str:
        """Its name in the Procfile: the service's name for the web process."""
        return self.service if self.name == WEB else f"{self.service}-{self.name}"

    @property
    def metrics_bind_variable(self) -> str:
        """The variable overriding a worker's listener (``CUSTOMER_RELAY_METRICS_BIND``)."""
        return f"{self.procfile_name.upper().replace('-', '_')}_METRICS_BIND"


@dataclass(frozen=True)
class Service:
    """One service as ``services.toml`` declares it."""

    name: str
    package: str
    port: int
    metrics_port: int
    database: str
    route: Route | None
    processes: tuple[Process, ...]
    #: role -> scopes of this service's contract that the role holds.
    grants: dict[str, tuple[str, ...]]
    #: Gunicorn workers of the web process, when the service fixes it (else WEB_CONCURRENCY).
    web_workers: int | None = None

    @property
    def web_concurrency_variable(self) -> str:
        """The variable overriding its fixed worker count (``NLP_WEB_CONCURRENCY``)."""
        return f"{self.env_prefix}_WEB_CONCURRENCY"

    @property
    def env_prefix(self) -> str:
        """Prefix of this service's own environment variables (``CUSTOMER``)."""
        return self.name.upper().replace("-", "_")

    @property
    def database_url_variable(self) -> str:
        """The one variable naming this service's database (``CUSTOMER_DATABASE_URL``)."""
        return f"{self.env_prefix}_DATABASE_URL"

    @property
    def bind_variable(self) -> str:
        """The variable overriding where ``make run`` serves it (``CUSTOMER_BIND``)."""
        return f"{self.env_prefix}_BIND"

    @property
    def metrics_bind_variable(self) -> str:
        """The variable overriding where its metrics listener binds (``CUSTOMER_METRICS_BIND``)."""
        return f"{self.env_prefix}_METRICS_BIND"

    @property
    def local_database_url(self) -> str:
        """The database URL on a developer machine."""
        return f"{LOCAL_POSTGRES}/{self.database}"

    @property
    def local_url(self) -> str:
        """Where ``make run`` serves its web process."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def contract_path(self) -> Path:
        """Its OpenAPI document, served at ``/openapi.json``."""
        return ROOT / self.package / "openapi.yaml"

    def command(self, process: Process) -> str:
        """The shell command that runs ``process`` locally (honcho)."""
        if process.target == GUNICORN:
            workers = (
                f"WEB_CONCURRENCY=${{{self.web_concurrency_variable}:-{self.web_workers}}} "
                if self.web_workers
                else ""
            )
            return (
                f"{workers}PROMETHEUS_MULTIPROC_DIR=var/metrics/{self.package}"
                f" METRICS_BIND=${{{self.metrics_bind_variable}:-127.0.0.1:{self.metrics_port}}}"
                " gunicorn -c shared/gunicorn_conf.py"
                f" --bind ${{{self.bind_variable}:-127.0.0.1:{self.port}}}"
                f" '{self.package}.app:create_app()'"
            )
        return (
            f"METRICS_BIND=${{{process.metrics_bind_variable}:-127.0.0.1:{process.metrics_port}}}"
            f" python -m {process.target}"
        )

    @property
    def workers(self) -> tuple[Process, ...]:
        """Its processes other than the web one (relay, consumers)."""
        return tuple(process for process in self.processes if process.target != GUNICORN)


def _process(service: str, name: str, entry: object) -> Process:
    """``web = "gunicorn"``, or ``relay = { module = "...", metrics_port = 9111 }``.

    A consumer adds ``events = ["customer.#", ...]``: the routing-key patterns of
    the events it takes.
    """
    if isinstance(entry, str) and entry == GUNICORN:
        return Process(service, name, GUNICORN)
    if isinstance(entry, dict) and "module" in entry and "metrics_port" in entry:
        events = entry.get("events", [])
        if not isinstance(events, list):
            raise ValueError(f"{service}: events of process {name!r} must be a list")
        return Process(
            service,
            name,
            str(entry["module"]),
            int(str(entry["metrics_port"])),
            tuple(str(pattern) for pattern in events),
        )
    raise ValueError(
        f'{service}: process {name!r} must be "gunicorn" or {{ module, metrics_port }}'
    )


def _service(name: str, entry: dict[str, object]) -> Service:
    processes = entry.get("processes") or {WEB: GUNICORN}
    route = entry.get("route")
    grants = entry.get("grants") or {}
    if not (isinstance(processes, dict) and isinstance(grants, dict)):
        raise ValueError(f"{name}: processes and grants must be tables")
    return Service(
        name=name,
        package=str(entry["package"]),
        port=int(str(entry["port"])),
        metrics_port=int(str(entry["metrics_port"])),
        database=str(entry["database"]),
        route=Route(str(route["public"]), str(route["upstream"]))
        if isinstance(route, dict)
        else None,
        processes=tuple(_process(name, process, entry) for process, entry in processes.items()),
        grants={role: tuple(scopes) for role, scopes in grants.items()},
        web_workers=int(str(entry["web_workers"])) if "web_workers" in entry else None,
    )


@functools.cache
def load_services(path: Path = DECLARATION) -> tuple[Service, ...]:
    """Every declared service, in the file's order."""
    with path.open("rb") as file:
        document = tomllib.load(file)
    return tuple(_service(name, entry) for name, entry in document["services"].items())


def service_named(name: str) -> Service:
    """The declared service called ``name`` (or whose package is ``name``)."""
    for service in load_services():
        if name in (service.name, service.package):
            return service
    raise KeyError(f"No service {name!r} in {DECLARATION.name}")


def routed_services() -> tuple[Service, ...]:
    """The services the gateway forwards to, in declaration order."""
    return tuple(service for service in load_services() if service.route is not None)


def role_scopes() -> dict[str, tuple[str, ...]]:
    """Each role's scopes over every service, in declaration order."""
    table: dict[str, list[str]] = {}
    for service in load_services():
        for role, scopes in service.grants.items():
            table.setdefault(role, []).extend(s for s in scopes if s not in table[role])
    return {role: tuple(scopes) for role, scopes in table.items()}


def local_discovery_map() -> str:
    """``DISCOVERY_STATIC`` for ``make run``: each routed service at its local port."""
    return ",".join(f"{service.package}={service.local_url}" for service in routed_services())


#: The Procfile's last entry: Prometheus scraping every process above (deploy/prometheus/local.py).
PROMETHEUS_ENTRY = "prometheus: python -m deploy.prometheus.local"


def procfile() -> str:
    """The Procfile: every process of every service, then Prometheus scraping them."""
    lines = [
        f"{process.procfile_name}: {service.command(process)}"
        for service in load_services()
        for process in service.processes
    ]
    return PROCFILE_HEADER + "\n".join([*lines, PROMETHEUS_ENTRY]) + "\n"


def main() -> None:
    """Print what the Makefile and the Procfile need from the declaration."""
    parser = argparse.ArgumentParser(prog="python -m shared.services", description=__doc__)
    parser.add_argument("what", choices=("packages", "procfile", "discovery"))
    args = parser.parse_args()
    if args.what == "packages":
        print(" ".join(service.package for service in load_services()))
    elif args.what == "procfile":
        print(procfile(), end="")
    else:
        print(local_discovery_map())


if __name__ == "__main__":
    main()
