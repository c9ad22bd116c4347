"""Registration: what a process group announces, and gunicorn announcing it under consul."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from shared.discovery import ConsulDiscovery, Instance, discovery_from_settings
from shared.registration import (
    PACKAGE_VARIABLE,
    advertised_address,
    bound_address,
    package_of,
    register_process_group,
    register_until_accepted,
    registration_for,
)
from shared.settings import DiscoverySettings
from tests.shared.test_consul_discovery import consul_settings, eventually
from tests.support.fake_consul import FakeConsul
from tests.support.processes import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeConsul]:
    """A fake Consul agent on a free port."""
    with FakeConsul() as consul:
        yield consul


# -- what is announced ------------------------------------------------------------------


def test_the_package_comes_from_the_app_argument_unless_the_environment_names_it(monkeypatch):
    monkeypatch.delenv(PACKAGE_VARIABLE, raising=False)
    from_argument = package_of("customer_service.app:create_app()")
    nothing = package_of(None)
    monkeypatch.setenv(PACKAGE_VARIABLE, "nlp_service")

    assert from_argument == "customer_service"
    assert nothing is None
    assert package_of("customer_service.app:create_app()") == "nlp_service"


@pytest.mark.parametrize(
    ("bind_host", "configured", "expected"),
    [
        ("127.0.0.1", None, "127.0.0.1"),
        ("10.0.0.5", None, "10.0.0.5"),
        ("::1", None, "::1"),
        ("0.0.0.0", None, socket.gethostname()),
        ("::", None, socket.gethostname()),
        ("0.0.0.0", "customer.internal", "customer.internal"),
    ],
    ids=["loopback", "one-interface", "ipv6", "every-interface", "every-ipv6", "configured"],
)
def test_an_instance_announces_where_others_can_reach_it(bind_host, configured, expected):
    assert advertised_address(bind_host, configured) == expected


def test_the_bound_port_is_read_from_the_listener():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        # A bind on port 0 gets its port from the kernel: the listener knows it.
        assert bound_address([listener], [("127.0.0.1", 0)]) == ("127.0.0.1", port)
    assert bound_address([], ["/run/app.sock", ("0.0.0.0", 8000)]) == ("0.0.0.0", 8000)
    assert bound_address([], ["/run/app.sock"]) is None


def test_a_registration_names_the_service_its_check_and_version():
    settings = DiscoverySettings(service_version="1.4.2")

    first = registration_for("customer_service", "10.0.0.5", 8001, settings)
    second = registration_for("customer_service", "10.0.0.5", 8001, settings)
    ipv6 = registration_for("search_service", "fd00::5", 8002, settings)

    assert first.service == "customer_service"
    assert first.instance_id.startswith("customer_service-10.0.0.5-8001-")
    assert first.instance_id != second.instance_id
    assert (first.address, first.port) == ("10.0.0.5", 8001)
    assert first.tags == ("clientele", "customer")
    assert first.meta == {"version": "1.4.2"}
    assert first.health_url == "http://10.0.0.5:8001/healthz"
    assert ipv6.health_url == "http://[fd00::5]:8002/healthz"


def test_static_and_dns_register_nothing():
    for backend in ("static", "dns"):
        assert register_process_group(object(), DiscoverySettings(discovery=backend)) is None


# -- registering ------------------------------------------------------------------------


def test_registration_waits_for_consul_to_come_up(service_name):
    consul = FakeConsul(port=free_port())
    discovery = discovery_from_settings(consul_settings(consul.url))
    registration = registration_for(service_name, "127.0.0.1", 9, DiscoverySettings())
    logged: list[str] = []

    class Log:
        def info(self, message: str, *args: Any) -> None:
            logged.append(message % args)

        def warning(self, message: str, *args: Any) -> None:
            logged.append(message % args)

    outcome: list[bool] = []
    attempt = threading.Thread(
        target=lambda: outcome.append(
            register_until_accepted(discovery, registration, Log(), retry_initial_seconds=0.1)
        )
    )
    attempt.start()
    eventually(lambda: logged)
    consul.start()
    try:
        attempt.join(timeout=10)
        registered = consul.service_ids(service_name)
    finally:
        consul.stop()

    assert outcome == [True]
    assert registered == [registration.instance_id]
    assert logged[0].startswith(f"could not register {registration.instance_id} in discovery")
    assert logged[-1].startswith(f"registered {registration.instance_id}")


def test_registration_gives_up_when_told_to_stop(service_name):
    discovery = discovery_from_settings(consul_settings(f"http://127.0.0.1:{free_port()}"))
    registration = registration_for(service_name, "127.0.0.1", 9, DiscoverySettings())
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()

    class Quiet:
        def info(self, message: str, *args: Any) -> None:
            """Nothing to see."""

        def warning(self, message: str, *args: Any) -> None:
            """Nothing to see."""

    assert not register_until_accepted(
        discovery, registration, Quiet(), stop=stop, retry_initial_seconds=0.05
    )


def test_the_registration_command_registers_and_deregisters(fake, service_name):
    registration = registration_for(service_name, "127.0.0.1", 9, DiscoverySettings())
    environment = {**os.environ, "DISCOVERY": "consul", "CONSUL_HTTP_ADDR": fake.url}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.registration", *arguments],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    registered = run("register", json.dumps(asdict(registration)))
    listed = fake.service_ids(service_name)
    definition = fake.definition(registration.instance_id)
    deregistered = run("deregister", registration.instance_id)

    assert registered.returncode == 0, registered.stderr
    assert listed == [registration.instance_id]
    assert definition is not None
    assert definition["checks"][0]["http"] == "http://127.0.0.1:9/healthz"
    assert deregistered.returncode == 0, deregistered.stderr
    assert f"deregistered {registration.instance_id}" in deregistered.stderr
    assert fake.service_ids(service_name) == []


# -- a real service under gunicorn ------------------------------------------------------


@pytest.fixture
def consul_service(
    fake: FakeConsul,
    service_for_test: Callable[..., ServiceProcess],
    make_database: Callable[[str], str],
) -> Callable[..., ServiceProcess]:
    """Factory: the customer service under gunicorn (two workers) with ``DISCOVERY=consul``."""
    database = make_database("customer_service")

    def start(**overrides: str) -> ServiceProcess:
        return service_for_test(
            "customer_service",
            {
                "CUSTOMER_DATABASE_URL": database,
                "JWT_JWKS_URL": f"http://127.0.0.1:{free_port()}/.well-known/jwks.json",
                "DISCOVERY": "consul",
                "CONSUL_HTTP_ADDR": fake.url,
                "CONSUL_CHECK_INTERVAL": "200ms",
                # A loaded machine can keep /healthz waiting a second or more.
                "CONSUL_CHECK_TIMEOUT": "5s",
                "CONSUL_DEREGISTER_CRITICAL_AFTER": "2s",
                "SERVICE_VERSION": "7.0.1",
                **overrides,
            },
            workers=2,
        )

    return start


@pytest.fixture
def watcher(fake: FakeConsul) -> Iterator[ConsulDiscovery]:
    """What the gateway would see: consul discovery against the fake."""
    discovery = discovery_from_settings(consul_settings(fake.url))
    assert isinstance(discovery, ConsulDiscovery)
    yield discovery
    discovery.close()


def test_a_service_registers_on_start_and_deregisters_on_sigterm(fake, consul_service, watcher):
    # A new check is critical until it first passes; on a loaded machine that can take
    # over 2 s, and the registry would drop the instance before the test saw it.
    service = consul_service(CONSUL_DEREGISTER_CRITICAL_AFTER="60s")
    # The master's registering child is a Python process of its own: slow to start on a
    # loaded machine, and it tries again 1, 2, 4, 8 ... s after a failure (said in the log).
    [instance_id] = eventually(
        lambda: fake.service_ids("customer_service"), timeout=60, explain=service.output
    )
    seen = eventually(lambda: watcher.instances("customer_service"))
    definition = fake.definition(instance_id)
    [entry] = fake.entries("customer_service", passing=True)
    time.sleep(0.5)
    registrations_after_workers_booted = fake.service_ids("customer_service")

    service.stop()  # SIGTERM: the master deregisters before it exits
    left = fake.service_ids("customer_service")
    eventually(lambda: watcher.instances("customer_service") == [])

    # One registration for the process group, however many workers it runs.
    assert registrations_after_workers_booted == [instance_id]
    assert instance_id.startswith(f"customer_service-127.0.0.1-{service.port}-")
    assert seen == [Instance("customer_service", instance_id, service.url)]
    assert definition is not None
    assert definition["address"] == "127.0.0.1"
    assert definition["port"] == service.port
    assert definition["tags"] == ["clientele", "customer"]
    assert definition["meta"] == {"version": "7.0.1"}
    assert definition["checks"] == [
        {
            "http": f"{service.url}/healthz",
            "interval": "200ms",
            "timeout": "5s",
            "DeregisterCriticalServiceAfter": "60s",
        }
    ]
    assert entry["Checks"][1]["Output"].startswith(f"HTTP GET {service.url}/healthz: 200 OK")
    assert left == []
    assert "registered " + instance_id in service.output()


def test_a_killed_service_drops_out_on_its_failing_check_then_out_of_the_catalogue(
    fake, consul_service, watcher
):
    service = consul_service()
    [instance_id] = eventually(lambda: fake.service_ids("customer_service"))
    eventually(lambda: watcher.instances("customer_service"))

    service.kill()  # kill -9: nobody deregisters
    eventually(lambda: watcher.instances("customer_service") == [])
    still_in_catalogue = fake.service_ids("customer_service")
    [entry] = fake.entries("customer_service")
    eventually(lambda: fake.service_ids("customer_service") == [], timeout=5)

    assert still_in_catalogue == [instance_id]
    assert entry["Checks"][1]["Status"] == "critical"
