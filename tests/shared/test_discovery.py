"""Static discovery: the configured map, taken in turn."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from shared.discovery import (
    ServiceNotFound,
    StaticDiscovery,
    create_discovery,
    parse_static_map,
)
from shared.errors import ServiceUnavailable


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

    with pytest.raises(ServiceNotFound):
        discovery.resolve("customers")


def test_register_and_deregister_leave_the_static_map_as_configured():
    discovery = StaticDiscovery({"customers": ["http://a"]})

    discovery.register("customers", "customers-2", "http://b")
    assert [discovery.resolve("customers") for _ in range(2)] == ["http://a", "http://a"]
    discovery.deregister("customers-2")
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
