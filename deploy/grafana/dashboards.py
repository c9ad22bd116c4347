"""Clientele's Grafana dashboards, written as Python and saved as the JSON Grafana provisions.

    python -m deploy.grafana.dashboards     # rewrites deploy/grafana/dashboards/*.json

Every query uses only metrics the platform exports (``tests/deploy/test_dashboards.py``
runs each one against a Prometheus scraping the running platform). Rates use
Grafana's ``$__rate_interval``; no other variable is used, so a query runs as
written anywhere once that one is replaced by a window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "dashboards"
#: The provisioned data source's uid (provisioning/datasources/prometheus.yml).
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and the legend of its series."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A time series panel: its title, what it shows, its unit and its queries."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: a file name (``<name>.json``), a uid, a title and its panels."""

    name: str
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def quantiles(metric: str, by: str, selector: str = "", *levels: float) -> tuple[Query, ...]:
    """``histogram_quantile`` of ``metric`` at each level, one series per ``by`` value."""
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(",") if label.strip())
    return tuple(
        Query(
            f"histogram_quantile({level}, sum by ({by}, le) "
            f"(rate({metric}_bucket{selector}[{RATE}])))",
            f"{legend} p{round(level * 100)}".strip(),
        )
        for level in levels or (0.5, 0.99)
    )


def failed_share(metric: str, by: str, good: str) -> Query:
    """The share of ``metric``'s events not matching ``good``, per ``by``: 0 when all are good."""
    return Query(
        f"1 - sum by ({by}) (rate({metric}{{{good}}}[{RATE}]))"
        f" / sum by ({by}) (rate({metric}[{RATE}]))",
        f"{{{{{by}}}}}",
    )


OVERVIEW = Dashboard(
    name="platform-overview",
    uid="clientele-overview",
    title="Clientele / Platform overview",
    description="Rate, errors and duration of every service, as clients see them through the "
    "gateway, and of each service's own web process; which processes answer; CSV imports.",
    panels=(
        Panel(
            "Requests through the gateway, by service",
            "Calls the gateway forwarded to each service, per second.",
            "reqps",
            (
                Query(
                    f"sum by (service) (rate(gateway_upstream_requests_total[{RATE}]))",
                    "{{service}}",
                ),
            ),
        ),
        Panel(
            "Failed forwards, by service",
            "Share of forwarded calls answered 5xx, unanswered (unreachable, timeout), broken, "
            "or refused by an open circuit breaker. 4xx are the client's and not counted.",
            "percentunit",
            (failed_share("gateway_upstream_requests_total", "service", 'outcome=~"[234]xx"'),),
        ),
        Panel(
            "Forward latency, by service",
            "Time for the service to answer one forwarded attempt, p50 and p99.",
            "s",
            quantiles("gateway_upstream_request_duration_seconds", "service"),
        ),
        Panel(
            "Forwards by outcome",
            "Each outcome of the gateway's forwards: status class, unreachable, timeout, "
            "bad_response, circuit_open.",
            "reqps",
            (
                Query(
                    f"sum by (outcome) (rate(gateway_upstream_requests_total[{RATE}]))",
                    "{{outcome}}",
                ),
            ),
        ),
        Panel(
            "5xx share, by web process",
            "Share of each web process's requests answered 5xx (the gateway's own included).",
            "percentunit",
            (failed_share("http_requests_total", "service", 'status!~"5.."'),),
        ),
        Panel(
            "Request latency p99, by web process",
            "Each web process's own time to serve a request, from first byte read to response "
            "built.",
            "s",
            quantiles("http_request_duration_seconds", "service", "", 0.99),
        ),
        Panel(
            "Processes answering Prometheus",
            "1 while Prometheus scrapes the process, 0 when it is down or hung.",
            "none",
            (Query('up{job!="prometheus"}', "{{job}}"),),
        ),
        Panel(
            "Web processes ready",
            "What each service's last readiness probe (/readyz) said: 1 ready, 0 a dependency "
            "away (the lowest over its workers).",
            "none",
            (Query("min by (service) (service_ready)", "{{service}}"),),
        ),
        Panel(
            "Gateway breakers open",
            "1 while the gateway's breaker of a service instance refuses calls.",
            "none",
            (
                Query(
                    "max by (service, exported_instance) (gateway_upstream_breaker_open)",
                    "{{service}} {{exported_instance}}",
                ),
            ),
        ),
        Panel(
            "Workers ready",
            "1 while a worker's dependencies (RabbitMQ, PostgreSQL, the model) answer.",
            "none",
            (Query("worker_ready", "{{job}}"),),
        ),
        Panel(
            "Customer imports waiting or running",
            "CSV import jobs the customer importer has yet to finish, by status.",
            "none",
            (Query("sum by (status) (customer_import_jobs)", "{{status}}"),),
        ),
        Panel(
            "Customer import rows",
            "CSV rows imported per second: created, already there (sent before), or failed.",
            "ops",
            (
                Query(
                    f"sum by (outcome) (rate(customer_import_rows_total[{RATE}]))",
                    "{{outcome}}",
                ),
            ),
        ),
    ),
)

EVENTS = Dashboard(
    name="events-pipeline",
    uid="clientele-events",
    title="Clientele / Events pipeline",
    description="Customer changes on their way: outbox, relay, RabbitMQ, each consumer; "
    "how far behind each read model is; what was dead-lettered.",
    panels=(
        Panel(
            "Outbox backlog",
            "Outbox rows written but not yet published (refreshed every 5 s by the relay).",
            "none",
            (Query("sum by (job) (outbox_backlog)", "{{job}}"),),
        ),
        Panel(
            "Published per second",
            "Events the relay published and the broker confirmed.",
            "ops",
            (Query(f"sum by (job) (rate(outbox_published_total[{RATE}]))", "{{job}}"),),
        ),
        Panel(
            "Broker confirm time",
            "From publishing a batch to the broker's last confirm, p50 and p99.",
            "s",
            quantiles("outbox_confirm_seconds", "job"),
        ),
        Panel(
            "Consumed and applied per second, by consumer",
            "Messages taken from each consumer's queue, and events that changed its state "
            "(the rest were duplicates or older versions).",
            "ops",
            (
                Query(
                    f"sum by (consumer) (rate(events_consumed_total[{RATE}]))",
                    "{{consumer}} consumed",
                ),
                Query(
                    f"sum by (consumer) (rate(events_applied_total[{RATE}]))",
                    "{{consumer}} applied",
                ),
            ),
        ),
        Panel(
            "Consumer lag, by consumer",
            "From the event's time to the commit that applied it, p50 and p99.",
            "s",
            quantiles("event_lag_seconds", "consumer"),
        ),
        Panel(
            "Waiting in each consumer's queues",
            "Events not delivered yet (main) and kept for a human (dead), read from RabbitMQ "
            "by each consumer every 5 s.",
            "none",
            (
                Query(
                    "max by (consumer, queue) (events_queue_messages)",
                    "{{consumer}} {{queue}}",
                ),
            ),
        ),
        Panel(
            "Dead-lettered, by consumer and reason",
            "Events each consumer put in its dead-letter queue since it started: invalid "
            "envelopes, or events that failed every retry.",
            "none",
            (
                Query(
                    "sum by (consumer, reason) (events_dead_lettered_total)",
                    "{{consumer}} {{reason}}",
                ),
            ),
        ),
    ),
)

SEARCH_ANALYTICS = Dashboard(
    name="search-analytics",
    uid="clientele-search-analytics",
    title="Clientele / Search and analytics",
    description="The two read models: their API traffic and latency by route, and how fresh "
    "their data is (their consumers).",
    panels=(
        *(
            panel
            for service, label in (("search_service", "Search"), ("analytics_service", "Analytics"))
            for panel in (
                Panel(
                    f"{label}: requests by route",
                    f"Requests the {label.lower()} service served, per route and status.",
                    "reqps",
                    (
                        Query(
                            f"sum by (route, status) "
                            f'(rate(http_requests_total{{service="{service}"}}[{RATE}]))',
                            "{{route}} {{status}}",
                        ),
                    ),
                ),
                Panel(
                    f"{label}: latency by route",
                    f"The {label.lower()} service's own time to answer, per route.",
                    "s",
                    quantiles("http_request_duration_seconds", "route", f'{{service="{service}"}}'),
                ),
            )
        ),
        Panel(
            "Read model lag",
            "How long a customer change takes to reach the search index and the rollups, "
            "p50 and p99.",
            "s",
            quantiles(
                "event_lag_seconds", "consumer", '{consumer=~"search_service|analytics_service"}'
            ),
        ),
        Panel(
            "Events applied and skipped",
            "Events that changed the read model, and those skipped as duplicates or older "
            "versions.",
            "ops",
            (
                Query(
                    f"sum by (consumer) (rate(events_applied_total"
                    f'{{consumer=~"search_service|analytics_service"}}[{RATE}]))',
                    "{{consumer}} applied",
                ),
                Query(
                    f"sum by (consumer) (rate(events_skipped_total"
                    f'{{consumer=~"search_service|analytics_service"}}[{RATE}]))',
                    "{{consumer}} skipped",
                ),
            ),
        ),
    ),
)

NLP = Dashboard(
    name="nlp",
    uid="clientele-nlp",
    title="Clientele / NLP",
    description="The model at work: API latency, micro-batches (size, wait, forward pass), "
    "texts by task, the prediction cache, and batch jobs.",
    panels=(
        Panel(
            "NLP API latency by route",
            "The NLP service's time to answer, p50 and p99, per route.",
            "s",
            quantiles("http_request_duration_seconds", "route", '{service="nlp_service"}'),
        ),
        Panel(
            "Forward pass time",
            "One forward pass of the model (a micro-batch), p50 and p99, per process.",
            "s",
            quantiles("nlp_inference_seconds", "job"),
        ),
        Panel(
            "Texts per forward pass",
            "Micro-batch size: texts of concurrent requests scored together, p50 and p99.",
            "none",
            quantiles("nlp_batch_texts", "job"),
        ),
        Panel(
            "Texts waiting for the model",
            "Texts submitted and not answered yet, waiting for or in a forward pass.",
            "none",
            (Query("sum by (job) (nlp_pending_texts)", "{{job}}"),),
        ),
        Panel(
            "Queue wait",
            "How long the oldest request of a batch waited for its forward pass, p99.",
            "s",
            quantiles("nlp_queue_wait_seconds", "job", "", 0.99),
        ),
        Panel(
            "Texts per second, by task",
            "Texts answered (sentiment, classify, embed...), from the cache or the model.",
            "ops",
            (Query(f"sum by (task) (rate(nlp_texts_total[{RATE}]))", "{{task}}"),),
        ),
        Panel(
            "Prediction cache",
            "Cache lookups by task and outcome (hit or miss).",
            "ops",
            (
                Query(
                    f"sum by (task, outcome) (rate(nlp_cache_total[{RATE}]))",
                    "{{task}} {{outcome}}",
                ),
            ),
        ),
        Panel(
            "Batch job rows",
            "Rows the batch worker scored, by task and outcome, per second.",
            "ops",
            (
                Query(
                    f"sum by (task, outcome) (rate(nlp_job_rows_total[{RATE}]))",
                    "{{task}} {{outcome}}",
                ),
            ),
        ),
        Panel(
            "Batch jobs finished",
            "Jobs that ended since the worker started, by how they ended.",
            "none",
            (Query("sum by (status) (nlp_jobs_finished_total)", "{{status}}"),),
        ),
        Panel(
            "Batch job chunk time",
            "Time to score and store one chunk of a job, p50 and p99.",
            "s",
            quantiles("nlp_job_chunk_seconds", "job"),
        ),
        Panel(
            "Model ready",
            "1 once a process has loaded and warmed up its model.",
            "none",
            (Query("max by (job) (nlp_model_ready)", "{{job}}"),),
        ),
    ),
)

DASHBOARDS = (OVERVIEW, EVENTS, SEARCH_ANALYTICS, NLP)


def panel_json(panel: Panel, number: int) -> dict[str, Any]:
    """Grafana's model of one time series panel, placed two to a row."""
    return {
        "id": number + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": (number % 2) * 12, "y": (number // 2) * 8},
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "custom": {"lineWidth": 1, "fillOpacity": 10}},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
                "range": True,
            }
            for index, query in enumerate(panel.queries)
        ],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana's model of a whole dashboard (provisioned, so read-only in the UI)."""
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["clientele"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [],
        "panels": [panel_json(panel, number) for number, panel in enumerate(dashboard.panels)],
    }


def render(dashboard: Dashboard) -> str:
    """The dashboard's JSON file, as written in ``deploy/grafana/dashboards/``."""
    return json.dumps(dashboard_json(dashboard), indent=2) + "\n"


def main() -> None:
    """Write every dashboard's JSON file."""
    FOLDER.mkdir(exist_ok=True)
    for dashboard in DASHBOARDS:
        (FOLDER / f"{dashboard.name}.json").write_text(render(dashboard))
        print(f"wrote {FOLDER / dashboard.name}.json")


if __name__ == "__main__":
    main()
