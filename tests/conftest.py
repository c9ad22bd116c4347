"""Fixtures every test package can use: databases, Redis prefixes, processes.

Also marks every test with its height (``unit``, ``integration`` or ``e2e``) so
``make test-unit`` and friends can pick one; see ``pytest_collection_modifyitems``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.support import broker, platform
from tests.support.databases import drop_database, migrated_database
from tests.support.processes import ServiceProcess, WorkerProcess
from tests.support.tokens import TestIssuer

os.environ.setdefault("LOG_LEVEL", "WARNING")

TESTS = Path(__file__).resolve().parent
HEIGHTS = ("unit", "integration", "e2e")
#: Fixtures that reach a real server (PostgreSQL, Redis) or start a process. A test
#: using one, itself or through another fixture, is an integration test.
INFRASTRUCTURE_FIXTURES = frozenset(
    {
        "make_database",
        "start_service",
        "redis_prefix",
        "events_exchange",
        "start_worker",
        # tests/shared/test_health.py: clients of the real PostgreSQL and Redis
        "live_database",
        "live_redis",
    }
)
#: Modules whose tests all talk to a real server without one of those fixtures.
INFRASTRUCTURE_MODULES = frozenset(
    {
        "shared/test_database.py",  # creates and drops its own PostgreSQL database
    }
)


def _height(item: pytest.Item) -> str:
    path = item.path.resolve()
    if TESTS / "e2e" in path.parents:
        return "e2e"
    module = path.relative_to(TESTS).as_posix() if path.is_relative_to(TESTS) else ""
    if (
        INFRASTRUCTURE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        or module in INFRASTRUCTURE_MODULES
    ):
        return "integration"
    return "unit"


def pytest_configure(config: pytest.Config) -> None:
    """Name the folder of this run's shared e2e platform, before any xdist worker starts."""
    if not hasattr(config, "workerinput"):
        platform.create_folder()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Once every test has run (on every worker), stop the shared platform.

    Innermost of the wrappers, so its processes have ended (and written their
    coverage data) before pytest-cov combines them.
    """
    try:
        return (yield)
    finally:
        if not hasattr(session.config, "workerinput"):
            platform.stop_shared_platform()


#: Folders whose tests drive the platform's processes (measured in those processes) or
#: generate cases by the thousand: under coverage's tracer their own process's work (HTTP
#: clients, Playwright, Hypothesis, matplotlib) took the suite from 9.6 to 15.2 minutes.
UNMEASURED_FOLDERS = frozenset({"e2e", "browser", "contract", "deploy"})


def _folder(item: pytest.Item) -> str:
    """The folder under tests/ that holds ``item``'s module."""
    parts = item.path.resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test ``e2e`` (tests/e2e/), ``integration`` (real servers or processes) or ``unit``.

    A test already marked with one of the three by its module keeps that one
    alone, so ``-m unit``, ``-m integration`` and ``-m e2e`` split the suite.
    Tests in :data:`UNMEASURED_FOLDERS` are ``no_cover`` (pytest-cov).
    """
    for item in items:
        if not any(item.get_closest_marker(height) for height in HEIGHTS):
            item.add_marker(_height(item))
        if _folder(item) in UNMEASURED_FOLDERS:
            item.add_marker(pytest.mark.no_cover)


@pytest.fixture(scope="session")
def worker_name(request: pytest.FixtureRequest) -> str:
    """The xdist worker id (``gw0``...) or ``main``, for unique resource names."""
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


@pytest.fixture(scope="session")
def make_database(worker_name: str) -> Iterator[Callable[[str], str]]:
    """Factory: a fresh migrated database for a service package; dropped at the end."""
    created: list[str] = []

    def make(package: str) -> str:
        url = migrated_database(package, worker_name)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_database(url)


@pytest.fixture
def redis_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"clientele-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder where started processes write their output."""
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="session")
def start_service(process_logs: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory: start a service package under gunicorn on a free port; stopped at the end."""
    started: list[ServiceProcess] = []

    def start(package: str, env: dict[str, str], **options: int) -> ServiceProcess:
        service = ServiceProcess(package, env, **options).start(process_logs)
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()


@pytest.fixture
def events_exchange() -> Iterator[str]:
    """A RabbitMQ exchange (and consumer queues) of this test's own; deleted after."""
    exchange = broker.unique_exchange()
    yield exchange
    broker.delete_exchange(exchange)


@pytest.fixture(scope="session")
def start_worker(process_logs: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start a worker module (relay, consumer); stopped at the end."""
    started: list[WorkerProcess] = []

    def start(module: str, env: dict[str, str], *, ready: bool = True) -> WorkerProcess:
        worker = WorkerProcess(module, env).start(process_logs, ready=ready)
        started.append(worker)
        return worker

    yield start
    for worker in reversed(started):
        worker.stop()


@pytest.fixture
def service_for_test(
    start_service: Callable[..., ServiceProcess],
) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory: ``start_service`` for one test; what it starts is stopped when the test ends.

    Processes are stopped where their test or module ends, not with the session:
    each holds PostgreSQL connections, and PostgreSQL's 100 are shared by the suite.
    """
    started: list[ServiceProcess] = []

    def start(package: str, env: dict[str, str], **options: int) -> ServiceProcess:
        started.append(start_service(package, env, **options))
        return started[-1]

    yield start
    for service in reversed(started):
        service.stop()


@pytest.fixture
def worker_for_test(
    start_worker: Callable[..., WorkerProcess],
) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: ``start_worker`` for one test; what it starts is stopped when the test ends."""
    started: list[WorkerProcess] = []

    def start(module: str, env: dict[str, str], *, ready: bool = True) -> WorkerProcess:
        started.append(start_worker(module, env, ready=ready))
        return started[-1]

    yield start
    for worker in reversed(started):
        worker.stop()


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    """Signs tokens the services' apps trust, as the gateway's JWKS would."""
    return TestIssuer()
