"""A stack: the gateway in front of every declared service (and their workers), as processes.

:func:`launch_stack` starts one through a :class:`Launcher`, which says where its
databases and processes come from and so who stops them: the e2e fixtures
(``tests/e2e/conftest.py``) for stacks of a module or a test, and
:mod:`tests.support.platform` for the one platform every e2e test shares.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from shared.services import load_services, service_named
from tests.support import broker
from tests.support.processes import ROOT, ServiceProcess, WorkerProcess, free_port

ROLES = ("admin", "agent", "viewer")


@dataclass
class Stack:
    """A running gateway in front of every service ``services.toml`` routes to."""

    gateway: ServiceProcess
    #: declared service name -> its running web process.
    services: dict[str, ServiceProcess]
    gateway_database: str
    #: "<service>-<process>" (Procfile names) -> its running worker (relay, consumers).
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    #: declared service name -> its database URL (the gateway's is ``gateway_database``).
    databases: dict[str, str] = field(default_factory=dict)
    #: The exchange this stack's events travel on (its own, so stacks don't mix).
    events_exchange: str = ""
    #: role -> (username, password) of a user holding that role.
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def customer(self) -> ServiceProcess:
        """The customer service's web process."""
        return self.services["customer"]

    @property
    def api(self) -> str:
        """Base URL of the public API."""
        return f"{self.gateway.url}/api/v1"

    def stop(self) -> None:
        """Stop its workers, then its services, then the gateway (a second call does nothing).

        A stack a module or a test starts is stopped when that module or test ends:
        stacks left running until the session ends would hold PostgreSQL connections
        (and CPU) the rest of the suite needs. A stack read from a manifest
        (:meth:`from_manifest`) holds no process handles: its owner stops it.
        """
        # Each tier stopped at once (SIGTERM to all, then wait): one by one, a stack's
        # graceful stops add up to more than a test's timeout on a loaded machine.
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda worker: worker.stop(), self.workers.values()))
            list(pool.map(lambda service: service.stop(), [*self.services.values(), self.gateway]))

    def headers(self, role: str = "admin") -> dict[str, str]:
        """Authorization header for a user holding ``role``."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Token response for these credentials (asserts success)."""
        response = requests.post(
            f"{self.api}/auth/token", json={"username": username, "password": password}, timeout=10
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def to_manifest(self) -> dict[str, Any]:
        """Everything another process needs to use this stack, and to stop it (pids)."""

        def web(process: ServiceProcess) -> dict[str, Any]:
            assert process.process is not None
            return {
                "package": process.package,
                "port": process.port,
                "metrics_port": process.metrics_port,
                "log_path": str(process.log_path),
                "pid": process.process.pid,
            }

        def worker(process: WorkerProcess) -> dict[str, Any]:
            assert process.process is not None
            return {
                "module": process.module,
                "metrics_port": process.metrics_port,
                "log_path": str(process.log_path),
                "pid": process.process.pid,
            }

        return {
            "gateway": web(self.gateway),
            "services": {name: web(process) for name, process in self.services.items()},
            "workers": {name: worker(process) for name, process in self.workers.items()},
            "gateway_database": self.gateway_database,
            "databases": self.databases,
            "events_exchange": self.events_exchange,
            "users": self.users,
            "tokens": self.tokens,
        }

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Stack:
        """The stack :meth:`to_manifest` described, without process handles."""

        def web(entry: dict[str, Any]) -> ServiceProcess:
            return ServiceProcess(
                entry["package"],
                {},
                port=entry["port"],
                metrics_port=entry["metrics_port"],
                log_path=Path(entry["log_path"]),
            )

        def worker(entry: dict[str, Any]) -> WorkerProcess:
            return WorkerProcess(
                entry["module"],
                {},
                metrics_port=entry["metrics_port"],
                log_path=Path(entry["log_path"]),
            )

        return cls(
            gateway=web(manifest["gateway"]),
            services={name: web(entry) for name, entry in manifest["services"].items()},
            gateway_database=manifest["gateway_database"],
            workers={name: worker(entry) for name, entry in manifest["workers"].items()},
            databases=manifest["databases"],
            events_exchange=manifest["events_exchange"],
            users={role: (user[0], user[1]) for role, user in manifest["users"].items()},
            tokens=manifest["tokens"],
        )


@dataclass(frozen=True)
class Launcher:
    """Where a stack's databases and processes come from (and so who removes them)."""

    make_database: Callable[[str], str]
    start_service: Callable[..., ServiceProcess]
    start_worker: Callable[..., WorkerProcess]


def create_user_with_cli(database_url: str, username: str, role: str) -> str:
    """Create a user through the gateway's CLI; returns the password."""
    password = f"pw-{uuid.uuid4().hex}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "create-user",
            username,
            "--role",
            role,
            "--password-env",
            "CLIENTELE_TEST_PASSWORD",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "GATEWAY_DATABASE_URL": database_url,
            "CLIENTELE_TEST_PASSWORD": password,
        },
        check=True,
        capture_output=True,
    )
    return password


def launch_stack(
    launcher: Launcher,
    exchange: str,
    gateway_env: dict[str, str] | None = None,
    gateway_workers: int = 2,
    amqp_url: str = broker.AMQP_URL,
    only: tuple[str, ...] | None = None,
    every_env: dict[str, str] | None = None,
) -> Stack:
    """The gateway, every routed service and every worker, one user per role logged in.

    Services start in declaration order, each told (``DISCOVERY_STATIC``) where
    every routed service of the stack listens, so a service may call any other. ``only``
    names the services (and their workers) wanted, when not all of them;
    ``every_env`` is set in every process. Events travel on ``exchange``, the
    stack's own (:func:`broker.unique_exchange`), which its owner deletes.
    """
    common = every_env or {}
    gateway_declared = service_named("gateway")
    gateway_database = launcher.make_database(gateway_declared.package)
    gateway_port = free_port()
    jwks = f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json"
    services: dict[str, ServiceProcess] = {}
    workers: dict[str, WorkerProcess] = {}
    databases: dict[str, str] = {}
    wanted = [
        service
        for service in load_services()
        if service.name != gateway_declared.name and (only is None or service.name in only)
    ]
    # Ports chosen up front, so every service knows where every other one is
    # (search calls the NLP service, declared after it).
    ports = {service.name: free_port() for service in wanted if service.route is not None}
    discovery = ",".join(
        f"{service.package}=http://127.0.0.1:{ports[service.name]}"
        for service in wanted
        if service.route is not None
    )
    for service in wanted:
        databases[service.name] = launcher.make_database(service.package)
        env = {
            service.database_url_variable: databases[service.name],
            "JWT_JWKS_URL": jwks,
            "LOG_LEVEL": "INFO",
            "AMQP_URL": amqp_url,
            "EVENTS_EXCHANGE": exchange,
            # The NLP service's batch jobs: a queue of this stack's own, deleted with it.
            "NLP_JOBS_QUEUE": broker.jobs_queue(exchange),
            "DISCOVERY": "static",
            "DISCOVERY_STATIC": discovery,
            **common,
        }
        if service.route is not None:
            # The system of record gets two workers, as the gateway's tests need; the
            # read services one each, to keep a stack's PostgreSQL connections few.
            web_workers = 2 if service.name == "customer" else 1
            services[service.name] = launcher.start_service(
                service.package, env, workers=web_workers, port=ports[service.name]
            )
        for process in service.workers:
            # Started side by side; those that load a model are ready together, below.
            workers[process.procfile_name] = launcher.start_worker(process.target, env, ready=False)
    env = {
        gateway_declared.database_url_variable: gateway_database,
        "JWT_JWKS_URL": jwks,
        "DISCOVERY": "static",
        "DISCOVERY_STATIC": discovery,
        "RATE_LIMIT_KEY_PREFIX": f"clientele-test-{uuid.uuid4().hex[:12]}",
        "RATE_LIMIT_API": "100000/minute",
        "RATE_LIMIT_AUTH": "100000/minute",
        "RATE_LIMIT_PUBLIC": "100000/minute",
        "JWT_KEY_ACTIVATION_DELAY_SECONDS": "0",
        # The roles' tokens are minted once, when the stack starts, and serve the whole
        # run: on a loaded machine a run outlasts the default 15 minutes.
        "ACCESS_TOKEN_TTL_SECONDS": "7200",
        **common,
        **(gateway_env or {}),
    }
    gateway = launcher.start_service(
        gateway_declared.package, env, port=gateway_port, workers=gateway_workers
    )
    # Ready needs the gateway's keys (so only now) and, for the NLP service, its model.
    for service_process in services.values():
        service_process.wait_for("/readyz", timeout=90)
    for worker in workers.values():
        worker.wait_for("/readyz", timeout=90)
    stack = Stack(
        gateway=gateway,
        services=services,
        gateway_database=gateway_database,
        workers=workers,
        databases=databases,
        events_exchange=exchange,
    )
    for role in ROLES:
        username = f"{role}-{uuid.uuid4().hex[:6]}"
        password = create_user_with_cli(gateway_database, username, role)
        stack.users[role] = (username, password)
        stack.tokens[role] = stack.login(username, password)["access_token"]
    return stack
