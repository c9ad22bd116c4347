"""Two instances of a service behind the gateway, and one or both of them dying under reads.

A client reads one customer steadily through the gateway while the instances are
killed with ``kill -9`` (master and workers, as a dying machine): with one left
no read fails (retries go to the other instance, whose breaker stays closed);
with none left every read is a quick 503, far under the read timeout; when they
come back, traffic returns without restarting the gateway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Stack, create_customer, wait_for
from tests.support.processes import ServiceProcess, free_port

READ_TIMEOUT_SECONDS = 10.0


@dataclass
class Reader:
    """Reads one customer through the gateway in a loop, recording every answer."""

    stack: Stack
    customer_id: str
    answers: list[tuple[float, int, float]] = field(default_factory=list)
    #: What each failed read answered (its start, status and body), to say why.
    failures: list[tuple[float, int, str]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        url = f"{self.stack.api}/customers/{self.customer_id}"
        headers = self.stack.headers("viewer")
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                response = session.get(url, headers=headers, timeout=30)
                status = response.status_code
                if status != 200:
                    self.failures.append((started, status, response.text[:300]))
            except requests.RequestException as error:
                status = 0
                self.failures.append((started, status, repr(error)))
            self.answers.append((started, status, time.monotonic() - started))
            time.sleep(0.005)

    def since(self, moment: float) -> list[tuple[float, int, float]]:
        """The answers to reads started after ``moment``."""
        return [answer for answer in self.answers if answer[0] >= moment]

    def served_since(self, moment: float) -> int:
        """How many reads started after ``moment`` were answered 200."""
        return sum(1 for _, status, _ in self.since(moment) if status == 200)


@pytest.fixture
def two_instances(
    stack_for_test: Callable[..., Stack],
    make_database: Callable[[str], str],
    process_logs: Path,
) -> Iterator[tuple[Stack, list[ServiceProcess]]]:
    """A gateway whose discovery lists two customer-service instances on one database."""
    ports = [free_port(), free_port()]
    urls = "|".join(f"http://127.0.0.1:{port}" for port in ports)
    stack = stack_for_test(
        {
            "DISCOVERY_STATIC": f"customer_service={urls}",
            "UPSTREAM_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
            "UPSTREAM_BREAKER_RESET_SECONDS": "1",
        },
        gateway_workers=1,
        only=(),
    )
    env = {
        "CUSTOMER_DATABASE_URL": make_database("customer_service"),
        "JWT_JWKS_URL": f"{stack.gateway.url}/.well-known/jwks.json",
        "LOG_LEVEL": "INFO",
    }
    instances = [ServiceProcess("customer_service", env, workers=1, port=port) for port in ports]
    try:
        for instance in instances:
            instance.start(process_logs)
            instance.wait_for("/readyz")
        yield stack, instances
    finally:
        for instance in instances:
            instance.stop()


def test_an_instance_killed_under_reads_costs_nothing_and_both_killed_fail_fast(
    two_instances: tuple[Stack, list[ServiceProcess]],
) -> None:
    stack, (first, second) = two_instances
    customer = create_customer(stack, name="Failover Reader")
    reader = Reader(stack, customer["id"])
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        one_down = time.monotonic()
        first.kill()
        time.sleep(2.0)
        both_down = time.monotonic()
        second.kill()
        time.sleep(2.0)
        back = time.monotonic()
        first.restart()
        second.restart()
        recovered = wait_for(lambda: reader.served_since(back) >= 20, 15.0)
    finally:
        reader.stopping.set()
        thread.join(30)

    before = [a for a in reader.answers if a[0] < one_down]
    # Reads started with one instance down and answered before the other one died.
    single = [a for a in reader.answers if one_down <= a[0] and a[0] + a[2] < both_down]
    none = [a for a in reader.answers if both_down <= a[0] < back]
    assert before
    assert all(status == 200 for _, status, _ in before)
    print(f"one instance killed: {len(single)} reads, statuses {sorted({s for _, s, _ in single})}")
    assert len(single) > 20
    assert [a for a in single if a[1] != 200] == [], [
        failure for failure in reader.failures if one_down <= failure[0] < both_down
    ]
    # Both gone: 503 at once (refused connections, then open circuits), never a wait.
    settled = none[3:]
    assert settled
    assert {status for _, status, _ in settled} == {503}
    slowest = max(elapsed for _, _, elapsed in none)
    print(f"both killed: {len(none)} reads, slowest {slowest * 1000:.0f} ms")
    assert slowest < READ_TIMEOUT_SECONDS / 10
    assert recovered, f"no traffic after the restart: {reader.since(back)[-5:]}"
