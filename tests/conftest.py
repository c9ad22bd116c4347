"""Fixtures every test package can use: databases, Redis prefixes, processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.databases import drop_database, migrated_database
from tests.support.processes import ServiceProcess

os.environ.setdefault("LOG_LEVEL", "WARNING")


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
