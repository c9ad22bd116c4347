"""HTTP resources of the analytics API: read the query, call the service, shape the answer.

Who may call what is not written here: the contract (``openapi.yaml``) names each
operation's scope and ``shared.web.auth`` checks it before a resource runs.
"""

from __future__ import annotations

from collections.abc import Callable

import flask_restful
from flask import Flask, Response, g

from analytics_service.reconcile import CustomerDirectory, Reconciler
from analytics_service.schemas import BreakdownQuery, SentimentQuery, SummaryQuery, TimeseriesQuery
from analytics_service.service import AnalyticsService
from shared.web.app import ProblemApi
from shared.web.auth import bearer_token
from shared.web.responses import json_response
from shared.web.validation import parse_query

#: Builds the customer service's directory for one caller: (token, request id) -> directory.
DirectoryFactory = Callable[[str, str], CustomerDirectory]


class _ServiceResource(flask_restful.Resource):  # type: ignore[misc]
    """A resource holding the service it delegates to."""

    def __init__(self, service: AnalyticsService) -> None:
        self.service = service


class SummaryResource(_ServiceResource):
    """``/analytics/summary``."""

    def get(self) -> Response:
        """Live customers by status, and the last 30 days' activity."""
        parse_query(SummaryQuery)
        return json_response(self.service.summary().model_dump(mode="json"))


class TimeseriesResource(_ServiceResource):
    """``/analytics/timeseries``."""

    def get(self) -> Response:
        """One metric per day, week or month, zero-filled."""
        series = self.service.timeseries(parse_query(TimeseriesQuery))
        return json_response(series.model_dump(mode="json"))


class BreakdownResource(_ServiceResource):
    """``/analytics/breakdown``."""

    def get(self) -> Response:
        """Live customers by one dimension, optionally filtered by others."""
        breakdown = self.service.breakdown(parse_query(BreakdownQuery))
        return json_response(breakdown.model_dump(mode="json"))


class SentimentResource(_ServiceResource):
    """``/analytics/sentiment``."""

    def get(self) -> Response:
        """Note sentiment of live customers, overall and per segment or per customer."""
        sentiment = self.service.sentiment(parse_query(SentimentQuery))
        return json_response(sentiment.model_dump(mode="json"))


class ReconcileResource(flask_restful.Resource):  # type: ignore[misc]
    """``/analytics/reconcile``."""

    def __init__(self, reconciler: Reconciler, directory_for: DirectoryFactory) -> None:
        self.reconciler = reconciler
        self.directory_for = directory_for

    def post(self) -> Response:
        """Recompute the rollups from the customer service, with the caller's own token."""
        directory = self.directory_for(bearer_token(), g.get("request_id", "-"))
        report = self.reconciler.reconcile(directory)
        return json_response(report.model_dump(mode="json"))


def register_api(
    app: Flask,
    service: AnalyticsService,
    reconciler: Reconciler,
    directory_for: DirectoryFactory,
) -> None:
    """Serve the analytics resources on ``app``."""
    api = ProblemApi(app)
    for resource, path in (
        (SummaryResource, "/analytics/summary"),
        (TimeseriesResource, "/analytics/timeseries"),
        (BreakdownResource, "/analytics/breakdown"),
        (SentimentResource, "/analytics/sentiment"),
    ):
        api.add_resource(resource, path, resource_class_kwargs={"service": service})
    api.add_resource(
        ReconcileResource,
        "/analytics/reconcile",
        resource_class_kwargs={"reconciler": reconciler, "directory_for": directory_for},
    )
