"""The dashboards and alert rules against the real platform: every query shows data.

The files first (unit): the provisioned JSON is what ``deploy.grafana.dashboards``
builds, and the provisioning points at the paths compose mounts. Then, live (e2e):
a real Prometheus scrapes every process of the shared e2e platform, and of a small
stack of the test's own that is made to fail (its gateway's breaker opens on a
service that is not there; its analytics consumer dead-letters a message that is
not an event), every second, evaluating ``rules.yml``. After a short load through
the gateway, every dashboard panel's every query must return data, every alert
rule must evaluate, every metric an alert names must exist with the labels it
tests, and the two alerts the incident calls for must fire. The panels are drawn
to PNG on the way (``tests/deploy/plot_dashboards.py``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from deploy.grafana.dashboards import DASHBOARDS, DATASOURCE, FOLDER, Dashboard, render
from deploy.prometheus.config import RULES, Target, target
from shared.services import ROOT, load_services
from tests.deploy.platform_load import cause_incident, put_load, wait_until
from tests.deploy.plot_dashboards import pictures_folder, plot_dashboard
from tests.deploy.prometheus_server import PrometheusServer
from tests.deploy.promql import selectors
from tests.support import broker, platform
from tests.support.processes import ServiceProcess, WorkerProcess, free_port
from tests.support.stack import Launcher, Stack, launch_stack

#: The first live test starts the shared platform (the NLP model loads), a stack of its own,
#: Prometheus, and the load: more than the suite's default timeout.
LIVE_TIMEOUT = 400
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
#: Where compose mounts deploy/grafana/dashboards.
GRAFANA_DASHBOARDS = "/var/lib/grafana/dashboards"


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


# --- the files ----------------------------------------------------------------------------


def test_the_dashboard_files_are_the_ones_the_module_builds() -> None:
    files = {path.name for path in FOLDER.glob("*.json")}
    assert files == {f"{dashboard.name}.json" for dashboard in DASHBOARDS}
    for dashboard in DASHBOARDS:
        assert (FOLDER / f"{dashboard.name}.json").read_text() == render(dashboard), (
            f"{dashboard.name}.json is stale: python -m deploy.grafana.dashboards"
        )


def test_every_panel_queries_the_provisioned_prometheus() -> None:
    uids = [json.loads((FOLDER / f"{d.name}.json").read_text())["uid"] for d in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert (source["uid"], source["type"]) == (DATASOURCE["uid"], DATASOURCE["type"])
    assert source["url"] == "http://prometheus:9090"
    for dashboard in DASHBOARDS:
        model = json.loads((FOLDER / f"{dashboard.name}.json").read_text())
        for panel in model["panels"]:
            assert panel["targets"], f"{dashboard.name}: {panel['title']} has no query"
            for query in panel["targets"]:
                assert query["datasource"] == DATASOURCE


def test_grafana_loads_the_dashboards_from_where_compose_mounts_them() -> None:
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "clientele.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == GRAFANA_DASHBOARDS


def test_the_selectors_of_an_expression_are_found_with_their_matchers() -> None:
    expression = (
        'sum by (service, le) (rate(x_bucket{a="}{", b!~"5.."}[5m])) / on() group_left '
        "sum(increase(y_total[1h] offset 5m)) or vector(0) > bool 1 unless up"
    )
    found = [(selector.metric, selector.matchers) for selector in selectors(expression)]
    assert found == [
        ("x_bucket", (("a", "=", "}{"), ("b", "!~", "5.."))),
        ("y_total", ()),
        ("up", ()),
    ]


# --- live ---------------------------------------------------------------------------------


def _targets(stack: Stack, prefix: str = "") -> list[Target]:
    """The scrape target of every process of ``stack`` (job names prefixed with ``prefix``)."""
    found: list[Target] = []
    webs: dict[str, ServiceProcess] = {"gateway": stack.gateway, **stack.services}
    for service in load_services():
        for process in service.processes:
            running: ServiceProcess | WorkerProcess | None = (
                webs.get(service.name)
                if process.metrics_port is None
                else stack.workers.get(process.procfile_name)
            )
            if running is not None:
                each = target(service, process, f"127.0.0.1:{running.metrics_port}")
                found.append(Target(prefix + each.job, each.address, each.labels))
    return found


@dataclass
class Observation:
    """A Prometheus that watched the platform under load and the incident, and when."""

    server: PrometheusServer
    start: float
    end: float


@pytest.fixture(scope="module")
def incident(
    make_database: Callable[[str], str],
    start_service: Callable[..., ServiceProcess],
    start_worker: Callable[..., WorkerProcess],
) -> Iterator[Stack]:
    """A gateway whose customer routes lead nowhere, with the analytics service behind it."""
    exchange = broker.unique_exchange()
    nowhere = f"http://127.0.0.1:{free_port()}"
    stack: Stack | None = None
    try:
        stack = launch_stack(
            Launcher(make_database, start_service, start_worker),
            exchange,
            {"DISCOVERY_STATIC": f"customer_service={nowhere}", "UPSTREAM_BREAKER_FAIL_MAX": "2"},
            gateway_workers=1,
            only=("analytics",),
        )
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        broker.delete_exchange(exchange)


@pytest.fixture(scope="module")
def observed(incident: Stack) -> Iterator[Observation]:
    """Prometheus over the shared platform and the incident stack, after load and incident."""
    shared = platform.shared_stack()
    server = PrometheusServer([*_targets(shared), *_targets(incident, "incident-")])
    try:
        server.start()
        server.wait_for_targets()
        start = time.time()
        put_load(shared)
        cause_incident(incident)
        # A few more scrapes, so the last of it is in Prometheus too.
        time.sleep(3)
        yield Observation(server, start - 5, time.time())
    finally:
        server.stop()


def _shows_data(server: PrometheusServer, expression: str, start: float, end: float) -> bool:
    return any(
        math.isfinite(float(value))
        for series in server.query_range(expression, start, end, 1)
        for _, value in series["values"]
    )


def _panel_queries() -> list[tuple[Dashboard, str, str]]:
    return [
        (dashboard, panel.title, query.expr)
        for dashboard in DASHBOARDS
        for panel in dashboard.panels
        for query in panel.queries
    ]


@pytest.mark.e2e
@pytest.mark.timeout(LIVE_TIMEOUT)
def test_every_panel_shows_data_from_the_running_platform(observed: Observation) -> None:
    server = observed.server
    empty = [
        f"{dashboard.name} / {title}: {expression}"
        for dashboard, title, expression in _panel_queries()
        if not _shows_data(server, expression, observed.start, observed.end)
    ]
    assert empty == [], "panels without data:\n" + "\n".join(empty)


@pytest.mark.e2e
@pytest.mark.timeout(LIVE_TIMEOUT)
def test_the_dashboards_are_drawn_with_every_panel(observed: Observation) -> None:
    folder = pictures_folder()
    for dashboard in DASHBOARDS:
        drawn = plot_dashboard(observed.server, dashboard, observed.start, observed.end, folder)
        assert set(drawn) == {panel.title for panel in dashboard.panels}
        assert [title for title, series in drawn.items() if series == 0] == [], dashboard.name
        assert (folder / f"{dashboard.name}.png").stat().st_size > 10_000


@pytest.mark.e2e
@pytest.mark.timeout(LIVE_TIMEOUT)
def test_every_alert_rule_evaluates_in_prometheus(observed: Observation) -> None:
    groups = observed.server.api("rules", type="alert")["groups"]
    loaded = {(rule["name"], rule["query"]): rule for group in groups for rule in group["rules"]}
    assert len(loaded) == len(_rules())
    broken = {
        name: rule["lastError"] for (name, _), rule in loaded.items() if rule["health"] != "ok"
    }
    assert broken == {}


@pytest.mark.e2e
@pytest.mark.timeout(LIVE_TIMEOUT)
def test_every_metric_an_alert_names_exists_with_the_labels_it_tests(
    observed: Observation,
) -> None:
    server = observed.server
    missing: list[str] = []
    for rule in _rules():
        server.query(rule["expr"])  # valid, whatever it returns right now
        for selector in selectors(rule["expr"]):
            if not server.query(selector.metric):
                missing.append(f"{rule['alert']}: no series of {selector.metric}")
                continue
            for label in sorted(selector.label_names):
                if not server.query(f'count by ({label}) ({selector.metric}{{{label}!=""}})'):
                    missing.append(f"{rule['alert']}: {selector.metric} has no label {label}")
    assert missing == []


@pytest.mark.e2e
@pytest.mark.timeout(LIVE_TIMEOUT)
def test_the_incident_fires_its_alerts_with_their_runbooks(observed: Observation) -> None:
    expected = {
        ("CircuitBreakerOpen", "service", "customer_service"),
        ("DeadLetterQueueNotEmpty", "consumer", "analytics_service"),
    }

    def firing() -> set[tuple[str, str, str]]:
        found = set()
        for alert in observed.server.api("alerts")["alerts"]:
            if alert["state"] != "firing" or not alert["annotations"].get("runbook"):
                continue
            for name, label, value in expected:
                if alert["labels"]["alertname"] == name and alert["labels"].get(label) == value:
                    found.add((name, label, value))
        return found

    wait_until(lambda: firing() == expected, 30, f"firing with a runbook: {sorted(expected)}")
