"""The gateway and every declared service as real processes on fresh databases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
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
        (and CPU) the rest of the suite needs.
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


@pytest.fixture(scope="session")
def start_stack(
    make_database: Callable[[str], str],
    start_service: Callable[..., ServiceProcess],
    start_worker: Callable[..., WorkerProcess],
) -> Iterator[Callable[..., Stack]]:
    """Factory: the gateway, every routed service and every worker, one user per role logged in.

    Services start in declaration order, each told (``DISCOVERY_STATIC``) where
    the ones before it are, so a service may call those it depends on. ``only``
    names the services (and their workers) a test needs, when not all of them.
    """
    exchanges: list[str] = []
    stacks: list[Stack] = []

    def start(
        gateway_env: dict[str, str] | None = None,
        gateway_workers: int = 2,
        amqp_url: str = broker.AMQP_URL,
        only: tuple[str, ...] | None = None,
    ) -> Stack:
        gateway_declared = service_named("gateway")
        gateway_database = make_database(gateway_declared.package)
        gateway_port = free_port()
        jwks = f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json"
        exchange = broker.unique_exchange()
        exchanges.append(exchange)
        services: dict[str, ServiceProcess] = {}
        workers: dict[str, WorkerProcess] = {}
        databases: dict[str, str] = {}
        discovery = ""
        for service in load_services():
            if service.name == gateway_declared.name or (
                only is not None and service.name not in only
            ):
                continue
            databases[service.name] = make_database(service.package)
            env = {
                service.database_url_variable: databases[service.name],
                "JWT_JWKS_URL": jwks,
                "LOG_LEVEL": "INFO",
                "AMQP_URL": amqp_url,
                "EVENTS_EXCHANGE": exchange,
                "DISCOVERY": "static",
                "DISCOVERY_STATIC": discovery,
            }
            if service.route is not None:
                # The system of record gets two workers, as the gateway's tests need; the
                # read services one each, to keep a stack's PostgreSQL connections few.
                web_workers = 2 if service.name == "customer" else 1
                services[service.name] = start_service(service.package, env, workers=web_workers)
                url = services[service.name].url
                discovery = ",".join(filter(None, [discovery, f"{service.package}={url}"]))
            for process in service.workers:
                workers[process.procfile_name] = start_worker(process.target, env)
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
            **(gateway_env or {}),
        }
        gateway = start_service(
            gateway_declared.package, env, port=gateway_port, workers=gateway_workers
        )
        # Ready needs the gateway's keys (so only now) and, for the NLP service, its model.
        for service_process in services.values():
            service_process.wait_for("/readyz", timeout=90)
        stack = Stack(
            gateway=gateway,
            services=services,
            gateway_database=gateway_database,
            workers=workers,
            databases=databases,
            events_exchange=exchange,
        )
        stacks.append(stack)
        for role in ROLES:
            username = f"{role}-{uuid.uuid4().hex[:6]}"
            password = create_user_with_cli(gateway_database, username, role)
            stack.users[role] = (username, password)
            stack.tokens[role] = stack.login(username, password)["access_token"]
        return stack

    yield start
    # Workers first (``Stack.stop``): one still running would declare its queues again.
    for stack in stacks:
        stack.stop()
    for exchange in exchanges:
        broker.delete_exchange(exchange)


@pytest.fixture
def stack_for_test(start_stack: Callable[..., Stack]) -> Iterator[Callable[..., Stack]]:
    """Factory: ``start_stack`` for one test; what it starts is stopped when the test ends."""
    started: list[Stack] = []

    def start(*args: Any, **options: Any) -> Stack:
        started.append(start_stack(*args, **options))
        return started[-1]

    yield start
    for stack in started:
        stack.stop()


@pytest.fixture(scope="session")
def stack(start_stack: Callable[..., Stack]) -> Stack:
    """The shared stack most end-to-end tests use (generous rate limits)."""
    return start_stack()


def create_customer(stack: Stack, **fields: Any) -> dict[str, Any]:
    """Create a customer through the gateway and return it."""
    body = {"name": "Ada Lovelace", "email": f"ada-{uuid.uuid4().hex[:10]}@example.com", **fields}
    response = requests.post(
        f"{stack.api}/customers", json=body, headers=stack.headers(), timeout=10
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def wait_for(check: Callable[[], Any], timeout: float) -> Any:
    """Poll ``check`` until it returns something truthy; its last answer at the deadline.

    Changes travel outbox -> relay -> broker -> consumer before a service shows
    them: tests wait for them with a deadline, never a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)
