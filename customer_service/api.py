"""HTTP resources of the customer API: read the request, call the service, shape the answer.

Who may call what is not written here: the contract (``openapi.yaml``) names each
operation's scope and ``shared.web.auth`` checks it before a resource runs.
HTTP details stay here too: versions travel as ``ETag``/``If-Match``, a stale
version is a 412 carrying the current ``ETag``, a created customer has a ``Location``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import flask_restful
from flask import Flask, Response, request

from customer_service.csv_files import export_chunks
from customer_service.import_schemas import ImportCreate, ImportRowQuery
from customer_service.imports import ImportService
from customer_service.schemas import (
    CustomerCreate,
    CustomerExportQuery,
    CustomerQuery,
    CustomerRead,
    CustomerUpdate,
    NoteCreate,
    NoteQuery,
)
from customer_service.service import (
    CustomerService,
    ExpectedVersion,
    IdempotencyKey,
    VersionMismatch,
    fingerprint_of,
)
from shared.errors import BadRequest, PreconditionRequired
from shared.web.app import ProblemApi
from shared.web.auth import current_principal
from shared.web.errors import problem_response
from shared.web.responses import json_response, page_response
from shared.web.validation import json_body, parse_body, parse_query

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_VERSION_TAG = re.compile(r'(?P<quote>"?)(?P<version>[0-9]{1,9})(?P=quote)')


def etag_of(version: int) -> str:
    """The strong entity tag of a customer version: ``"<version>"``."""
    return f'"{version}"'


def version_mismatch_response(error: VersionMismatch) -> Response:
    """412 naming the customer's current ``ETag``, in the header and as ``current_etag``."""
    etag = etag_of(error.current_version)
    problem = {
        **error.to_problem(),
        "detail": f"The customer has changed; its current version is {etag}",
        "current_etag": etag,
    }
    return problem_response(problem, {**error.headers, "ETag": etag})


def customer_response(
    customer: CustomerRead, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A customer with its ``ETag``."""
    return json_response(
        customer.model_dump(mode="json"),
        status,
        {"ETag": etag_of(customer.version), **(headers or {})},
    )


def expected_version() -> ExpectedVersion | None:
    """The versions ``If-Match`` allows, or None when the header is absent."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = [tag.strip() for tag in header.split(",")]
    if tags == ["*"]:
        return ExpectedVersion(versions=frozenset(), any_version=True)
    # Our tags are "<version>" (a bare number is accepted too); weak tags and anything
    # else never match, so they make the request stale (412).
    matches = (_VERSION_TAG.fullmatch(tag) for tag in tags)
    versions = frozenset(int(match.group("version")) for match in matches if match)
    return ExpectedVersion(versions=versions)


def required_version() -> ExpectedVersion:
    """Like :func:`expected_version`, but a missing ``If-Match`` is 428."""
    expected = expected_version()
    if expected is None:
        raise PreconditionRequired(
            'This request needs an If-Match header with the ETag you last read, e.g. "3"'
        )
    return expected


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header, if sent; 400 unless 1-255 printable ASCII characters."""
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None or _IDEMPOTENCY_KEY.fullmatch(value):
        return value
    message = "must be 1 to 255 printable ASCII characters"
    raise BadRequest(
        f"{IDEMPOTENCY_HEADER} {message}",
        errors=[{"field": IDEMPOTENCY_HEADER, "message": message, "code": "invalid_header"}],
    )


class _ServiceResource(flask_restful.Resource):  # type: ignore[misc]
    """A resource holding the service it delegates to."""

    def __init__(self, service: CustomerService) -> None:
        self.service = service


class CustomerCollection(_ServiceResource):
    """``/customers``: list and create."""

    def get(self) -> Response:
        """A page of customers; ``Link: rel="next"`` when there is more."""
        page = self.service.list_customers(parse_query(CustomerQuery))
        return page_response(page.model_dump(mode="json"))

    def post(self) -> Response:
        """Create a customer, at most once per ``Idempotency-Key``."""
        key = idempotency_key()
        data = parse_body(CustomerCreate)
        idempotency = None
        if key is not None:
            subject = current_principal().subject
            idempotency = IdempotencyKey(subject, key, fingerprint_of(json_body()))
        creation = self.service.create_customer(data, idempotency=idempotency)
        headers = {"Location": f"/customers/{creation.customer.id}"}
        if creation.replayed:
            headers["Idempotent-Replayed"] = "true"
        return customer_response(creation.customer, 201, headers)


class CustomerItem(_ServiceResource):
    """``/customers/{id}``: read, patch, delete."""

    def get(self, customer_id: UUID) -> Response:
        """The customer, or 304 when ``If-None-Match`` names its current version."""
        customer = self.service.get_customer(customer_id)
        etag = etag_of(customer.version)
        if request.if_none_match.contains_weak(str(customer.version)):
            return Response(status=304, headers={"ETag": etag})
        return customer_response(customer)

    def patch(self, customer_id: UUID) -> Response:
        """Apply a JSON merge patch to the version named by ``If-Match``."""
        expected = required_version()
        patch = parse_body(CustomerUpdate)
        return customer_response(
            self.service.update_customer(customer_id, patch, expected=expected)
        )

    def delete(self, customer_id: UUID) -> Response:
        """Soft-delete the customer."""
        self.service.delete_customer(customer_id, expected=expected_version())
        response = Response(status=204)
        response.headers.remove("Content-Type")  # no body, so nothing to describe
        return response


class CustomerRestore(_ServiceResource):
    """``/customers/{id}/restore``: undo a soft delete."""

    def post(self, customer_id: UUID) -> Response:
        """Restore a deleted customer."""
        expected = expected_version()
        return customer_response(self.service.restore_customer(customer_id, expected=expected))


class CustomerNotes(_ServiceResource):
    """``/customers/{id}/notes``: add and list notes."""

    def get(self, customer_id: UUID) -> Response:
        """A page of the customer's notes, newest first."""
        page = self.service.list_notes(customer_id, parse_query(NoteQuery))
        return page_response(page.model_dump(mode="json"))

    def post(self, customer_id: UUID) -> Response:
        """Add a note signed with the caller's name."""
        data = parse_body(NoteCreate)
        note = self.service.add_note(customer_id, data, author=current_principal().name)
        return json_response(note.model_dump(mode="json"), 201)


class CustomerExport(_ServiceResource):
    """``/customers/export``: the filtered list as a CSV download."""

    def get(self) -> Response:
        """Every matching customer as CSV, streamed a page at a time."""
        pages = self.service.export_customers(parse_query(CustomerExportQuery))
        # The first page is read before answering: a database that is away is a 503,
        # not a 200 cut short.
        first = next(pages, [])
        today = datetime.now(UTC).date().isoformat()
        return Response(
            export_chunks(_prepend(first, pages)),
            status=200,
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename=customers-{today}.csv"},
        )


def _prepend(
    first: list[CustomerRead], rest: Iterator[list[CustomerRead]]
) -> Iterator[list[CustomerRead]]:
    """The pages again, the first one already read put back in front."""
    if first:
        yield first
    yield from rest


class _ImportResource(flask_restful.Resource):  # type: ignore[misc]
    """A resource holding the import service it delegates to."""

    def __init__(self, imports: ImportService) -> None:
        self.imports = imports


class ImportCollection(_ImportResource):
    """``/customers/imports``: queue a CSV import."""

    def post(self) -> Response:
        """Check the file and its mapping, queue the job: 202 with the job and its ``Location``."""
        job = self.imports.submit(
            parse_body(ImportCreate), submitted_by=current_principal().subject
        )
        return json_response(
            job.model_dump(mode="json"), 202, {"Location": f"/customers/imports/{job.id}"}
        )


class ImportItem(_ImportResource):
    """``/customers/imports/{id}``: a job and its progress."""

    def get(self, import_id: UUID) -> Response:
        """The job."""
        return json_response(self.imports.get_job(import_id).model_dump(mode="json"))


class ImportRows(_ImportResource):
    """``/customers/imports/{id}/rows``: what became of each row."""

    def get(self, import_id: UUID) -> Response:
        """A page of the job's rows in line order."""
        page = self.imports.list_rows(import_id, parse_query(ImportRowQuery))
        return page_response(page.model_dump(mode="json"))


def register_api(app: Flask, service: CustomerService, imports: ImportService) -> None:
    """Serve the customer and import resources on ``app``."""
    app.register_error_handler(VersionMismatch, version_mismatch_response)
    api = ProblemApi(app)
    resources: list[tuple[type[_ServiceResource], str]] = [
        (CustomerCollection, "/customers"),
        (CustomerExport, "/customers/export"),
        (CustomerItem, "/customers/<uuid:customer_id>"),
        (CustomerRestore, "/customers/<uuid:customer_id>/restore"),
        (CustomerNotes, "/customers/<uuid:customer_id>/notes"),
    ]
    for resource, path in resources:
        api.add_resource(resource, path, resource_class_kwargs={"service": service})
    import_resources: list[tuple[type[_ImportResource], str]] = [
        (ImportCollection, "/customers/imports"),
        (ImportItem, "/customers/imports/<uuid:import_id>"),
        (ImportRows, "/customers/imports/<uuid:import_id>/rows"),
    ]
    for import_resource, path in import_resources:
        api.add_resource(import_resource, path, resource_class_kwargs={"imports": imports})
