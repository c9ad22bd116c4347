"""The gateway and every declared service as real processes on fresh databases.

``stack`` is the platform every e2e test shares; ``start_stack`` and
``stack_for_test`` start one of a module's or a test's own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.support import broker, platform
from tests.support.processes import ServiceProcess, WorkerProcess
from tests.support.stack import ROLES, Launcher, Stack, launch_stack

__all__ = ["ROLES", "Stack", "create_customer", "wait_for"]


@pytest.fixture(scope="session")
def start_stack(
    make_database: Callable[[str], str],
    start_service: Callable[..., ServiceProcess],
    start_worker: Callable[..., WorkerProcess],
) -> Iterator[Callable[..., Stack]]:
    """Factory: a stack of a test's own (:func:`launch_stack`'s options), stopped at the end.

    For a platform configured otherwise than the shared one (low rate limits, a
    broker behind a proxy, a gateway in front of a broken upstream); ``only``
    names the services (and their workers) a test needs, when not all of them.
    """
    launcher = Launcher(make_database, start_service, start_worker)
    exchanges: list[str] = []
    stacks: list[Stack] = []

    def start(*args: Any, **options: Any) -> Stack:
        exchanges.append(broker.unique_exchange())
        stacks.append(launch_stack(launcher, exchanges[-1], *args, **options))
        return stacks[-1]

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
def stack() -> Stack:
    """The platform every end-to-end test shares, one per run (generous rate limits).

    See :mod:`tests.support.platform`: started once whatever the xdist workers,
    stopped when the whole run ends.
    """
    return platform.shared_stack()


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
