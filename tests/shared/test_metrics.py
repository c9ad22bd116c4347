"""Request metrics: one series per route template, method and status."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from shared.errors import Conflict
from shared.web.metrics import metrics_payload


@pytest.fixture
def app(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = make_app()

    @app.get("/items/<int:item_id>")
    def get_item(item_id: int):
        return {"id": item_id}

    @app.post("/items")
    def create_item():
        raise Conflict("Item exists")

    return app


def samples(app: Flask, name: str, service: str) -> dict[tuple[str, str, str], float]:
    """``{(route, method, status): value}`` for one sample name and service."""
    found: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(metrics_payload().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("service") == service:
                labels = sample.labels
                found[(labels["route"], labels["method"], labels["status"])] = sample.value
    return found


def test_the_api_listener_serves_no_metrics(app):
    # Metrics are served apart from the API (shared.gunicorn_conf): not to the public.
    assert app.test_client().get("/metrics").status_code == 404


def test_requests_are_counted_by_route_template(app, service_name):
    client = app.test_client()
    for item_id in (1, 2, 3):
        assert client.get(f"/items/{item_id}").status_code == 200

    counts = samples(app, "http_requests_total", service_name)

    assert counts[("/items/<int:item_id>", "GET", "200")] == 3
    assert not any(route.startswith("/items/1") for route, _, _ in counts)


def test_error_statuses_have_their_own_series(app, service_name):
    client = app.test_client()
    client.post("/items")
    client.post("/items")
    client.get("/no/such/path")

    counts = samples(app, "http_requests_total", service_name)

    assert counts[("/items", "POST", "409")] == 2
    assert counts[("unmatched", "GET", "404")] == 1
    assert ("/no/such/path", "GET", "404") not in counts


def test_wrong_method_is_counted_as_unmatched(app, service_name):
    app.test_client().delete("/items/1")

    counts = samples(app, "http_requests_total", service_name)

    assert counts[("unmatched", "DELETE", "405")] == 1


def test_request_durations_are_observed(app, service_name):
    client = app.test_client()
    client.get("/items/1")
    client.get("/items/2")

    counts = samples(app, "http_request_duration_seconds_count", service_name)
    sums = samples(app, "http_request_duration_seconds_sum", service_name)

    key = ("/items/<int:item_id>", "GET", "200")
    assert counts[key] == 2
    assert sums[key] > 0


def test_duration_buckets_are_cumulative(app, service_name):
    app.test_client().get("/items/1")
    response = metrics_payload().decode()

    buckets = []
    for family in text_string_to_metric_families(response):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "http_request_duration_seconds_bucket"
                and labels.get("service") == service_name
                and labels.get("route") == "/items/<int:item_id>"
            ):
                buckets.append((float(labels["le"]), sample.value))

    buckets.sort()
    assert buckets[-1] == (float("inf"), 1)
    values = [value for _, value in buckets]
    assert values == sorted(values)


def test_metrics_of_one_service_are_labelled_with_its_name(app, service_name, make_app):
    other = make_app(service_name=f"{service_name}-other")
    other.test_client().get("/healthz")
    app.test_client().get("/healthz")

    counts = samples(app, "http_requests_total", service_name)

    assert counts[("/healthz", "GET", "200")] == 1


def test_invented_methods_share_one_series(make_app, service_name):
    app = make_app()
    client = app.test_client()
    for index in range(25):
        client.open("/healthz", method=f"BREW{index}")

    series = [
        line
        for line in metrics_payload().decode().splitlines()
        if line.startswith("http_requests_total{") and f'service="{service_name}"' in line
    ]
    methods = {line.split('method="')[1].split('"')[0] for line in series}
    assert "other" in methods
    assert not any(method.startswith("BREW") for method in methods)
