"""The consul backend against a fake agent that speaks Consul's HTTP API (fake_consul.py).

Instances here are small HTTP servers whose ``/healthz`` a test can turn bad;
the fake really polls them, as a Consul agent would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY

from gateway.app import auth_components, create_app
from gateway.settings import Settings as GatewaySettings
from shared.discovery import (
    DISCOVERY_EXTENSION,
    ConsulDiscovery,
    Instance,
    Registration,
    ServiceNotFound,
    consul_client,
    discovery_from_settings,
)
from shared.settings import DiscoverySettings
from tests.support.fake_consul import FakeConsul
from tests.support.processes import free_port

T = TypeVar("T")


def eventually(
    probe: Callable[[], T], timeout: float = 10.0, explain: Callable[[], str] = lambda: ""
) -> T:
    """``probe()`` once it is truthy; fails with its last value after ``timeout`` seconds
    (and what ``explain()`` then says)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, f"still {value!r} after {timeout} s\n{explain()}"
            return value
        time.sleep(0.02)


class InstanceServer:
    """A stand-in service instance: ``/healthz`` answers ``status`` (200 until told otherwise)."""

    def __init__(self) -> None:
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"ok" if owner.status == 200 else b"unwell"
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def registration(self, service: str) -> Registration:
        return Registration(
            service=service,
            instance_id=f"{service}-127.0.0.1-{self.port}-{uuid.uuid4().hex[:6]}",
            address="127.0.0.1",
            port=self.port,
            tags=("clientele", "test"),
            meta={"version": "9.9.9"},
            health_url=f"{self.url}/healthz",
        )

    def instance(self, registration: Registration) -> Instance:
        return Instance(registration.service, registration.instance_id, self.url)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeConsul]:
    """A fake Consul agent on a free port."""
    with FakeConsul() as consul:
        yield consul


@pytest.fixture
def instances() -> Iterator[Callable[[], InstanceServer]]:
    """Factory: a running stand-in instance; closed after the test."""
    started: list[InstanceServer] = []

    def start() -> InstanceServer:
        started.append(InstanceServer())
        return started[-1]

    yield start
    for server in started:
        server.close()


def consul_settings(address: str, **overrides: Any) -> DiscoverySettings:
    """Consul discovery at ``address`` with checks and retries fast enough for tests."""
    values: dict[str, Any] = {
        "discovery": "consul",
        "consul_http_addr": address,
        "consul_wait_seconds": 30,
        "consul_retry_max_seconds": 0.2,
        "consul_check_interval": "100ms",
        "consul_check_timeout": "1s",
        "consul_deregister_critical_after": "1m",
        **overrides,
    }
    return DiscoverySettings(**values)


@pytest.fixture
def make_discovery(fake: FakeConsul) -> Iterator[Callable[..., ConsulDiscovery]]:
    """Factory: consul discovery against the fake (or ``address``); closed after the test."""
    made: list[ConsulDiscovery] = []

    def make(address: str | None = None, **overrides: Any) -> ConsulDiscovery:
        discovery = discovery_from_settings(consul_settings(address or fake.url, **overrides))
        assert isinstance(discovery, ConsulDiscovery)
        made.append(discovery)
        return discovery

    yield make
    for discovery in made:
        discovery.close()


def consul_up(service: str) -> float | None:
    return REGISTRY.get_sample_value("discovery_consul_up", {"service": service})


def known_instances(service: str) -> float | None:
    return REGISTRY.get_sample_value("discovery_instances", {"service": service})


def test_the_fake_answers_blocking_queries_as_consul_documents(fake, instances, service_name):
    client = consul_client(fake.url)
    index, entries = client.health.service(service_name)

    started = time.monotonic()
    same_index, unchanged = client.health.service(service_name, index=index, wait="1s")
    waited = time.monotonic() - started
    server = instances()
    threading.Timer(
        0.3,
        lambda: client.agent.service.register(service_name, service_id="late", port=server.port),
    ).start()
    started = time.monotonic()
    new_index, changed = client.health.service(service_name, index=index, wait="20s")
    woke_after = time.monotonic() - started

    assert entries == unchanged == []
    assert same_index == index
    assert 1.0 <= waited < 3  # the wait, its jitter (up to wait/16), and a slow machine
    assert int(new_index) > int(index)
    assert [entry["Service"]["ID"] for entry in changed] == ["late"]
    assert changed[0]["Checks"][0]["CheckID"] == "serfHealth"
    assert woke_after < 5


def test_a_registered_instance_is_handed_out_once_its_check_passes(
    fake, make_discovery, instances, service_name
):
    discovery = make_discovery()
    server = instances()
    registration = server.registration(service_name)

    discovery.register(registration)
    found = eventually(lambda: discovery.instances(service_name))

    assert found == [server.instance(registration)]
    assert discovery.resolve(service_name) == server.url
    assert fake.definition(registration.instance_id) == {
        "name": service_name,
        "id": registration.instance_id,
        "address": "127.0.0.1",
        "port": server.port,
        "tags": ["clientele", "test"],
        "meta": {"version": "9.9.9"},
        "checks": [
            {
                "http": f"{server.url}/healthz",
                "interval": "100ms",
                "timeout": "1s",
                "DeregisterCriticalServiceAfter": "1m",
            }
        ],
    }
    [entry] = fake.entries(service_name, passing=True)
    assert entry["Checks"][1]["Status"] == "passing"
    assert entry["Checks"][1]["Output"].startswith(f"HTTP GET {server.url}/healthz: 200 OK")
    assert discovery.problems() == []
    assert consul_up(service_name) == 1
    assert known_instances(service_name) == 1


def test_a_failing_health_check_takes_the_instance_out_until_it_passes_again(
    make_discovery, instances, service_name
):
    discovery = make_discovery()
    healthy, unwell = instances(), instances()
    kept, dropped = healthy.registration(service_name), unwell.registration(service_name)
    discovery.register(kept)
    discovery.register(dropped)
    both = sorted([healthy.instance(kept), unwell.instance(dropped)], key=lambda i: i.id)
    eventually(lambda: discovery.instances(service_name) == both)

    unwell.status = 500
    eventually(lambda: discovery.instances(service_name) == [healthy.instance(kept)])
    served = {discovery.resolve(service_name) for _ in range(4)}
    unwell.status = 200
    eventually(lambda: discovery.instances(service_name) == both)

    assert served == {healthy.url}
    assert discovery.problems() == []


def test_a_new_instance_appears_without_restarting_the_watch(
    make_discovery, instances, service_name
):
    # The watch blocks for up to 30 s: seeing the change sooner means Consul's index woke it.
    gateway_view = make_discovery(consul_wait_seconds=30)
    another_process = make_discovery()
    first, second = instances(), instances()
    registration = first.registration(service_name)
    another_process.register(registration)
    eventually(lambda: gateway_view.instances(service_name) == [first.instance(registration)])

    newcomer = second.registration(service_name)
    started = time.monotonic()
    another_process.register(newcomer)
    eventually(lambda: second.instance(newcomer) in gateway_view.instances(service_name))
    took = time.monotonic() - started
    another_process.deregister(registration.instance_id)
    eventually(lambda: gateway_view.instances(service_name) == [second.instance(newcomer)])

    assert took < 10


def test_a_deregistered_instance_leaves_the_catalogue_and_the_set(
    fake, make_discovery, instances, service_name
):
    discovery = make_discovery()
    server = instances()
    registration = server.registration(service_name)
    discovery.register(registration)
    eventually(lambda: discovery.instances(service_name))

    discovery.deregister(registration.instance_id)
    discovery.deregister(registration.instance_id)  # again: nothing left to withdraw

    assert fake.service_ids(service_name) == []
    eventually(lambda: discovery.instances(service_name) == [])
    with pytest.raises(ServiceNotFound):
        discovery.resolve(service_name)


def test_an_instance_critical_for_too_long_is_deregistered_by_consul(
    fake, make_discovery, instances, service_name
):
    discovery = make_discovery(consul_deregister_critical_after="1s")
    server = instances()
    registration = server.registration(service_name)
    discovery.register(registration)
    eventually(lambda: discovery.instances(service_name))

    server.status = 503
    eventually(lambda: discovery.instances(service_name) == [])
    still_registered = fake.service_ids(service_name)
    eventually(lambda: fake.service_ids(service_name) == [], timeout=5)

    assert still_registered == [registration.instance_id]


def test_consul_going_away_keeps_the_last_known_instances_and_says_so(
    fake, make_discovery, instances, service_name
):
    discovery = make_discovery()
    server = instances()
    registration = server.registration(service_name)
    discovery.register(registration)
    known = eventually(lambda: discovery.instances(service_name))

    fake.stop()
    problems = eventually(discovery.problems)
    during = discovery.instances(service_name)
    resolved = discovery.resolve(service_name)
    up_during = consul_up(service_name)
    fake.start()
    eventually(lambda: discovery.problems() == [])

    assert during == known
    assert resolved == server.url
    [problem] = problems
    assert problem.startswith(f"consul at {fake.url} unreachable since ")
    assert problem.endswith(f"serving the last known instances ({service_name}: 1)")
    assert up_during == 0
    assert consul_up(service_name) == 1
    assert known_instances(service_name) == 1


def test_changes_made_while_consul_was_away_are_picked_up_when_it_returns(
    fake, make_discovery, instances, service_name
):
    discovery = make_discovery()
    old, new = instances(), instances()
    gone, arrived = old.registration(service_name), new.registration(service_name)
    discovery.register(gone)
    eventually(lambda: discovery.instances(service_name) == [old.instance(gone)])

    fake.stop()
    eventually(discovery.problems)
    # Another agent of the cluster would have seen these while this one was away.
    fake.register(
        {
            "Name": service_name,
            "ID": arrived.instance_id,
            "Address": "127.0.0.1",
            "Port": new.port,
            "Check": {"HTTP": f"{new.url}/healthz", "Interval": "100ms", "Status": "passing"},
        }
    )
    fake.deregister(gone.instance_id)
    still = discovery.instances(service_name)
    fake.start()

    eventually(lambda: discovery.instances(service_name) == [new.instance(arrived)])
    assert still == [old.instance(gone)]
    assert discovery.problems() == []


def test_an_agent_that_comes_back_without_its_state_is_followed_from_scratch(
    fake, make_discovery, instances, service_name
):
    discovery = make_discovery()
    old, new = instances(), instances()
    forgotten = old.registration(service_name)
    discovery.register(forgotten)
    for _ in range(3):  # move this agent's index well past where a fresh one starts
        old.status = 500
        eventually(lambda: discovery.instances(service_name) == [])
        old.status = 200
        eventually(lambda: discovery.instances(service_name))

    fake.stop()
    eventually(discovery.problems)
    with FakeConsul(port=fake.port):  # same address, empty catalogue, index from 1
        fresh_registration = new.registration(service_name)
        make_discovery().register(fresh_registration)
        eventually(lambda: discovery.instances(service_name) == [new.instance(fresh_registration)])
        problems = discovery.problems()

    assert problems == []


def test_a_discovery_that_never_reached_consul_knows_nothing_and_says_so(
    make_discovery, service_name
):
    address = f"http://127.0.0.1:{free_port()}"
    discovery = make_discovery(address)

    assert discovery.instances(service_name) == []
    with pytest.raises(ServiceNotFound):
        discovery.resolve(service_name)
    [problem] = discovery.problems()
    assert problem.startswith(f"consul at {address} unreachable since ")
    assert problem.endswith(f"serving the last known instances ({service_name}: none yet)")
    assert consul_up(service_name) == 0


def test_an_acl_token_is_sent_and_a_missing_one_is_reported():
    with FakeConsul(token="the-token") as fake:
        service = f"svc-{uuid.uuid4().hex[:10]}"
        allowed = discovery_from_settings(consul_settings(fake.url, CONSUL_HTTP_TOKEN="the-token"))
        refused = discovery_from_settings(consul_settings(fake.url))
        try:
            allowed_view = allowed.instances(service)
            refused_view = refused.instances(service)
            [problem] = refused.problems()
        finally:
            allowed.close()
            refused.close()

    assert allowed_view == []
    assert allowed.problems() == []
    assert refused_view == []
    assert "failing since" in problem
    assert "ACLPermissionDenied: ACL not found" in problem


# -- the gateway's readiness ------------------------------------------------------------


@pytest.fixture
def gateway_with_consul(
    make_database: Callable[[str], str],
) -> Iterator[Callable[[str], Any]]:
    """Factory: a gateway app whose discovery is Consul at the given address."""
    apps = []
    database = make_database("gateway")

    def make(address: str) -> Any:
        settings = GatewaySettings(
            GATEWAY_DATABASE_URL=database,
            redis_url="redis://127.0.0.1:6379/0",
            rate_limit_key_prefix=f"clientele-test-{uuid.uuid4().hex[:12]}",
            jwt_key_activation_delay_seconds=0,
            discovery="consul",
            consul_http_addr=address,
            consul_retry_max_seconds=0.2,
        )
        app = create_app(settings)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions[DISCOVERY_EXTENSION].close()
        auth_components(app).database.close()


def test_the_gateway_is_not_ready_while_consul_has_never_answered(gateway_with_consul):
    address = f"http://127.0.0.1:{free_port()}"
    client = gateway_with_consul(address)

    response = eventually(lambda: (r := client.get("/readyz")).status_code == 503 and r)

    checks = response.get_json(force=True)["checks"]
    assert checks["postgres"] == checks["redis"] == "ok"
    assert checks["discovery"].startswith(
        f"unreachable: DiscoveryUnavailable: consul at {address} unreachable since "
    )
    assert "customer_service: none yet" in checks["discovery"]


def test_the_gateway_stays_ready_on_its_last_known_instances_while_consul_is_away(
    fake, gateway_with_consul, make_discovery, instances
):
    customer = instances()
    make_discovery().register(customer.registration("customer_service"))
    client = gateway_with_consul(fake.url)
    ready = eventually(lambda: (r := client.get("/readyz")).status_code == 200 and r)
    gateway_discovery = client.application.extensions[DISCOVERY_EXTENSION]
    eventually(lambda: gateway_discovery.instances("customer_service"))

    fake.stop()
    degraded = eventually(
        lambda: (r := client.get("/readyz")).get_json()["checks"]["discovery"] != "ok" and r
    )
    fake.start()
    recovered = eventually(
        lambda: (r := client.get("/readyz")).get_json()["checks"]["discovery"] == "ok" and r
    )

    assert ready.get_json()["checks"] == {"postgres": "ok", "redis": "ok", "discovery": "ok"}
    assert degraded.status_code == 200
    assert degraded.get_json()["status"] == "ready"
    detail = degraded.get_json()["checks"]["discovery"]
    assert detail.startswith(f"degraded: consul at {fake.url} unreachable since ")
    assert "serving the last known instances (customer_service: 1, " in detail
    assert [instance.url for instance in gateway_discovery.instances("customer_service")] == [
        customer.url
    ]
    assert recovered.status_code == 200
