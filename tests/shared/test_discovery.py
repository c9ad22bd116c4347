"""Discovery's static and dns backends, the factory and the settings that choose them."""

from __future__ import annotations

import socket
import threading
from collections import Counter

import pytest
from pydantic import ValidationError

from analytics_service.settings import Settings as AnalyticsSettings
from shared.discovery import (
    ConsulDiscovery,
    DnsDiscovery,
    Instance,
    Registration,
    ServiceNotFound,
    StaticDiscovery,
    create_discovery,
    discovery_from_settings,
    dns_name,
    parse_static_map,
)
from shared.errors import ServiceUnavailable
from shared.settings import DiscoverySettings, ServiceSettings

REGISTRATION = Registration(
    service="customers",
    instance_id="customers-2",
    address="10.0.0.9",
    port=8001,
    tags=("clientele",),
    meta={"version": "1"},
    health_url="http://10.0.0.9:8001/healthz",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("  ,  ,", {}),
        ("customers=http://127.0.0.1:8001", {"customers": ["http://127.0.0.1:8001"]}),
        (
            " customers = http://a:1/ | http://b:2 , nlp=http://c:3/api/ ",
            {"customers": ["http://a:1", "http://b:2"], "nlp": ["http://c:3/api"]},
        ),
        ("search=http://s:9|", {"search": ["http://s:9"]}),
        ("search=http://s:9/?region=eu", {"search": ["http://s:9/?region=eu"]}),
    ],
    ids=["empty", "only-separators", "one", "spaces-slashes-many", "trailing-bar", "equals-in-url"],
)
def test_parse_static_map_reads_valid_maps(text, expected):
    assert parse_static_map(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "customers",
        "http://a:1",
        "=http://a:1",
        " =http://a:1",
        "customers=",
        "customers= | ",
        "a=x,b",
    ],
    ids=["no-equals", "url-only", "no-name", "blank-name", "no-url", "only-bars", "second-bad"],
)
def test_parse_static_map_refuses_invalid_entries(text):
    with pytest.raises(ValueError, match="Discovery entry"):
        parse_static_map(text)


# -- static -----------------------------------------------------------------------------


def test_static_discovery_takes_instances_in_turn():
    discovery = StaticDiscovery({"customers": ["http://a", "http://b", "http://c"]})

    picked = [discovery.resolve("customers") for _ in range(7)]

    assert picked == [
        "http://a",
        "http://b",
        "http://c",
        "http://a",
        "http://b",
        "http://c",
        "http://a",
    ]


def test_static_instances_list_every_configured_url_once():
    discovery = create_discovery(
        "static", static_map="customers=http://a:1/|http://b:2|http://a:1,nlp=http://n:3"
    )

    assert discovery.instances("customers") == [
        Instance("customers", "http://a:1", "http://a:1"),
        Instance("customers", "http://b:2", "http://b:2"),
    ]
    assert discovery.instances("nlp") == [Instance("nlp", "http://n:3", "http://n:3")]
    assert discovery.instances("billing") == []
    assert discovery.problems() == []


def test_round_robin_is_fair_across_threads():
    discovery = StaticDiscovery({"customers": ["http://a", "http://b"]})
    picked: list[str] = []
    lock = threading.Lock()

    def resolve_many() -> None:
        for _ in range(500):
            url = discovery.resolve("customers")
            with lock:
                picked.append(url)

    threads = [threading.Thread(target=resolve_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(picked) == {"http://a": 1000, "http://b": 1000}


def test_services_rotate_independently():
    discovery = StaticDiscovery({"customers": ["http://a", "http://b"], "nlp": ["http://n"]})

    assert discovery.resolve("customers") == "http://a"
    assert discovery.resolve("nlp") == "http://n"
    assert discovery.resolve("customers") == "http://b"


def test_unknown_service_is_service_not_found_503():
    discovery = StaticDiscovery({"customers": ["http://a"]})

    with pytest.raises(ServiceNotFound) as caught:
        discovery.resolve("billing")

    error = caught.value
    assert isinstance(error, ServiceUnavailable)
    assert error.status == 503
    assert error.to_problem()["type"] == "urn:clientele:problem:service-not-found"
    assert "billing" in error.detail


def test_service_with_no_instances_is_service_not_found():
    discovery = StaticDiscovery({"customers": []})

    assert discovery.instances("customers") == []
    with pytest.raises(ServiceNotFound):
        discovery.resolve("customers")


def test_register_and_deregister_leave_the_static_map_as_configured():
    discovery = StaticDiscovery({"customers": ["http://a"]})

    discovery.register(REGISTRATION)
    assert [discovery.resolve("customers") for _ in range(2)] == ["http://a", "http://a"]
    discovery.deregister("customers-2")
    assert discovery.instances("customers") == [Instance("customers", "http://a", "http://a")]
    discovery.close()
    assert discovery.resolve("customers") == "http://a"


def test_create_discovery_builds_the_static_backend():
    discovery = create_discovery("static", static_map="customers=http://a|http://b")

    assert [discovery.resolve("customers") for _ in range(3)] == [
        "http://a",
        "http://b",
        "http://a",
    ]


def test_create_discovery_refuses_a_bad_static_map():
    with pytest.raises(ValueError, match="Discovery entry"):
        create_discovery("static", static_map="customers")


@pytest.mark.parametrize("backend", ["zookeeper", "etcd", ""])
def test_create_discovery_refuses_an_unknown_backend(backend):
    with pytest.raises(ValueError, match="Unknown discovery backend"):
        create_discovery(backend)


# -- dns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "suffix", "expected"),
    [
        ("customer_service", "", "customer"),
        ("customer", "", "customer"),
        ("search_service", ".clientele.svc.cluster.local", "search.clientele.svc.cluster.local"),
        ("analytics_service", "clientele.svc", "analytics.clientele.svc"),
        ("localhost", "", "localhost"),
    ],
    ids=["package", "declared-name", "dotted-suffix", "suffix-without-dot", "undeclared"],
)
def test_a_service_is_found_under_its_declared_name_plus_the_suffix(service, suffix, expected):
    assert dns_name(service, suffix) == expected


def test_dns_gives_one_instance_per_address_at_the_configured_port():
    discovery = DnsDiscovery(port=8123)

    instances = discovery.instances("localhost")

    # /etc/hosts maps localhost to 127.0.0.1 (and, on some machines, ::1 too).
    assert Instance("localhost", "127.0.0.1", "http://127.0.0.1:8123") in instances
    assert {instance.url for instance in instances} <= {
        "http://127.0.0.1:8123",
        "http://[::1]:8123",
    }
    assert discovery.resolve("localhost") in {instance.url for instance in instances}
    assert discovery.problems() == []


def test_a_name_that_does_not_resolve_gives_no_instance_and_says_so():
    # RFC 6761: nothing under .invalid ever resolves.
    discovery = DnsDiscovery(port=8000, suffix=".invalid")

    assert discovery.instances("customer_service") == []
    with pytest.raises(ServiceNotFound, match="customer_service"):
        discovery.resolve("customer_service")
    assert discovery.problems() == ["dns: customer.invalid does not resolve"]


class CountingResolver:
    """The system resolver, counting lookups; told to, it fails as a DNS server that timed out."""

    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.failing = False

    def __call__(self, host, port, family=0, kind=0):
        self.lookups.append(host)
        if self.failing:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return socket.getaddrinfo(host, port, family, kind)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_dns_answers_are_reused_for_their_ttl():
    resolver, clock = CountingResolver(), Clock()
    discovery = DnsDiscovery(port=8000, ttl_seconds=5, resolver=resolver, clock=clock)

    first = discovery.instances("localhost")
    clock.now += 4.9
    again = discovery.instances("localhost")
    assert resolver.lookups == ["localhost"]
    clock.now += 0.2
    later = discovery.instances("localhost")

    assert first == again == later
    assert resolver.lookups == ["localhost", "localhost"]


def test_a_resolver_failing_for_a_while_keeps_the_last_addresses():
    resolver, clock = CountingResolver(), Clock()
    discovery = DnsDiscovery(port=8000, ttl_seconds=5, resolver=resolver, clock=clock)
    known = discovery.instances("localhost")

    resolver.failing = True
    clock.now += 6
    during = discovery.instances("localhost")
    problems = discovery.problems()
    resolver.failing = False
    clock.now += 6
    after = discovery.instances("localhost")

    assert known
    assert during == known
    assert len(problems) == 1
    assert problems[0].startswith("dns: cannot resolve localhost (Temporary failure")
    assert problems[0].endswith(f"serving the last known addresses ({len(known)})")
    assert after == known
    assert discovery.problems() == []


def test_dns_registration_is_kubernetes_business():
    discovery = DnsDiscovery(port=8000)

    discovery.register(REGISTRATION)
    discovery.deregister(REGISTRATION.instance_id)
    discovery.close()

    assert discovery.problems() == []


# -- settings and the factory -----------------------------------------------------------


def test_discovery_from_settings_builds_each_backend():
    static = discovery_from_settings(
        DiscoverySettings(discovery="static", discovery_static="customer_service=http://a:1")
    )
    dns = discovery_from_settings(
        DiscoverySettings(discovery="dns", discovery_dns_port=9001, discovery_dns_suffix="")
    )
    consul = discovery_from_settings(
        DiscoverySettings(discovery="consul", consul_http_addr="http://127.0.0.1:1")
    )

    assert static.instances("customer_service") == [
        Instance("customer_service", "http://a:1", "http://a:1")
    ]
    assert Instance("localhost", "127.0.0.1", "http://127.0.0.1:9001") in dns.instances("localhost")
    assert isinstance(consul, ConsulDiscovery)
    assert consul.problems() == []  # watches nothing until asked
    consul.close()


def test_every_service_reads_the_discovery_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("DISCOVERY", "consul")
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "https://consul.internal:8501")
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "s3cret-token")
    monkeypatch.setenv("SERVICE_ADDRESS", "10.1.2.3")
    monkeypatch.setenv("DISCOVERY_DNS_PORT", "8080")

    base = ServiceSettings()
    # A service that redefines ``discovery`` still reads DISCOVERY and inherits the rest.
    analytics = AnalyticsSettings()

    for settings in (base, analytics):
        assert settings.discovery == "consul"
        assert settings.consul_http_addr == "https://consul.internal:8501"
        assert settings.consul_token is not None
        assert settings.consul_token.get_secret_value() == "s3cret-token"
        assert "s3cret-token" not in repr(settings)
        assert settings.service_address == "10.1.2.3"
        assert settings.discovery_dns_port == 8080


@pytest.mark.parametrize(
    "overrides",
    [
        {"discovery": "zookeeper"},
        {"consul_http_addr": "ftp://consul:8500"},
        {"consul_check_interval": "5 seconds"},
        {"consul_deregister_critical_after": "1"},
    ],
    ids=["backend", "consul-address", "check-interval", "deregister-after"],
)
def test_discovery_settings_refuse_what_consul_or_the_factory_could_not_use(overrides):
    with pytest.raises(ValidationError):
        DiscoverySettings(**overrides)
