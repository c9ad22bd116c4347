"""What every contract test shares: the app schemathesis calls, its checks, the document's routes.

Each ``tests/contract/test_<service>_contract.py`` loads its document with
:func:`late_bound_schema`, binds the app its fixture builds with
:meth:`LateBoundApp.serving`, runs every operation with :data:`CHECKS` and the
documented links with :func:`run_linked_workflows`, and compares the
document's routes and parameters with the app's and models' own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)
from schemathesis.config import OperationsConfig, ProjectConfig
from schemathesis.specs.openapi.schemas import OpenApiSchema

#: Every check schemathesis has for one response, "schema-valid requests are accepted" included.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    ignored_auth,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
]
#: Checks that follow links: a created resource can be read, a deleted one cannot.
LINK_CHECKS = [ensure_resource_availability, use_after_free]
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


class LateBoundApp:
    """A WSGI app forwarding to the app a fixture builds later.

    Schemathesis needs the app when the module is imported (to generate the tests),
    but the app needs a database that only a fixture can make; the lazy
    ``schemathesis.pytest.from_fixture`` loader fails under pytest 9.
    """

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "the contract_app fixture is not active"
        return self.app(environ, start_response)

    @contextmanager
    def serving(self, app: Flask) -> Iterator[Flask]:
        """Forward to ``app`` for the length of the block."""
        self.app = app
        try:
            yield app
        finally:
            self.app = None


def late_bound_schema(
    openapi_path: Path, *, max_examples: int
) -> tuple[OpenApiSchema, LateBoundApp]:
    """The document at ``openapi_path``, sent to a :class:`LateBoundApp`.

    Loaded from the file (what the app serves, as each contract test proves) and
    sent to the app, as ``schemathesis.openapi.from_wsgi`` would do with a ready app.
    """
    app = LateBoundApp()
    schema = schemathesis.openapi.from_path(openapi_path)
    schema.app = app
    schema.config.generation.update(max_examples=max_examples)
    return schema, app


def valid_requests_may_get(*rules: tuple[Sequence[str], Sequence[str]]) -> OperationsConfig:
    """Per ``(operation ids, statuses)``: what a schema-valid request to those may be answered.

    For what no JSON Schema can say (an opaque cursor, a current ETag, a state
    that allows the request) the document names a refusal; everywhere else a
    schema-valid request must be accepted.
    """
    operations = [
        {
            "include-operation-id": list(operation_ids),
            "checks": {"positive_data_acceptance": {"expected-statuses": list(statuses)}},
        }
        for operation_ids, statuses in rules
    ]
    return ProjectConfig.from_dict({"operations": operations}).operations


def run_linked_workflows(
    schema: OpenApiSchema,
    *,
    headers: dict[str, str],
    checks: Sequence[Callable[..., Any]],
    max_examples: int,
    step_count: int,
    before_each: Callable[[], object] = lambda: None,
) -> None:
    """Follow the document's links in stateful runs; every call with ``headers``, checked.

    ``before_each`` runs before each scenario (to empty the tables, so replaying
    a scenario gives the same answers).
    """

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            before_each()

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Case[Any], **kwargs: Any) -> None:
            case.validate_response(
                response, checks=list(checks), headers=headers, transport_kwargs=kwargs
            )

    Workflow.run(
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=step_count,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )


def document_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    """Every ``(METHOD, path)`` the document declares."""
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }


def app_routes(app: Flask) -> set[tuple[str, str]]:
    """Every ``(METHOD, path)`` the app serves, its paths written as OpenAPI writes them."""
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        # Werkzeug writes /customers/<uuid:customer_id>; OpenAPI writes /customers/{customer_id}.
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes.update(
            (method, path) for method in rule.methods or () if method.lower() in HTTP_METHODS
        )
    return routes


def query_parameters(document: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    """The query parameters of ``GET path`` by name, each ``$ref`` resolved."""
    declared = document["paths"][path]["get"].get("parameters", [])
    resolved = [
        document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        if "$ref" in parameter
        else parameter
        for parameter in declared
    ]
    return {parameter["name"]: parameter for parameter in resolved if parameter["in"] == "query"}
