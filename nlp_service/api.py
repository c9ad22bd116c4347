"""HTTP resources of the NLP API: read the request, call the service, shape the answer.

Who may call what is not written here: the contract (``openapi.yaml``) names each
operation's scope and ``shared.web.auth`` checks it before a resource runs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import flask_restful
from flask import Flask, Response, request
from pydantic import ValidationError

from nlp_service.job_service import JobService, result_item, results_csv
from nlp_service.jobs import line_after, read_texts, read_upload, results_cursor
from nlp_service.schemas import (
    ClassifyRequest,
    EmbedRequest,
    JobOptions,
    JobsQuery,
    JobTask,
    JobTextsRequest,
    ResultsQuery,
    SentimentRequest,
    SimilarityRequest,
)
from nlp_service.service import NlpService
from shared.errors import ValidationFailed
from shared.web.app import ProblemApi
from shared.web.auth import current_principal
from shared.web.responses import json_response, page_response
from shared.web.validation import parse_body, parse_query


class NlpResource(flask_restful.Resource):  # type: ignore[misc]
    """A resource over the process's NLP service."""

    def __init__(self, nlp: NlpService) -> None:
        self.nlp = nlp


class EmbedResource(NlpResource):
    """``/nlp/embed``: L2-normalised vectors."""

    def post(self) -> Response:
        request = parse_body(EmbedRequest)
        return json_response(self.nlp.embed(request.texts).model_dump(mode="json"))


class SentimentResource(NlpResource):
    """``/nlp/sentiment``: positive, negative or neutral, with a score and the method."""

    def post(self) -> Response:
        request = parse_body(SentimentRequest)
        return json_response(self.nlp.sentiment(request.texts).model_dump(mode="json"))


class ClassifyResource(NlpResource):
    """``/nlp/classify``: the caller's labels ranked per text."""

    def post(self) -> Response:
        request = parse_body(ClassifyRequest)
        answer = self.nlp.classify(request.texts, request.labels)
        return json_response(answer.model_dump(mode="json"))


class SimilarityResource(NlpResource):
    """``/nlp/similarity``: cosine similarity of each pair."""

    def post(self) -> Response:
        request = parse_body(SimilarityRequest)
        answer = self.nlp.similarity([(pair.a, pair.b) for pair in request.pairs])
        return json_response(answer.model_dump(mode="json"))


def _form_options() -> JobOptions:
    """A multipart upload's fields as :class:`JobOptions` (``labels`` a JSON array)."""
    form = request.form
    values: dict[str, Any] = {key: form[key] for key in form if key != "file"}
    if "labels" in values:
        try:
            values["labels"] = json.loads(values["labels"])
        except ValueError:
            raise ValidationFailed(
                [{"field": "labels", "message": "a JSON array of labels", "code": "json_invalid"}]
            ) from None
    if "truncate" in values:
        flag = values["truncate"].strip().lower()
        if flag not in ("true", "false"):
            raise ValidationFailed(
                [{"field": "truncate", "message": "true or false", "code": "bool_parsing"}]
            )
        values["truncate"] = flag == "true"
    try:
        return JobOptions.model_validate(values)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from None


class JobsResource(flask_restful.Resource):  # type: ignore[misc]
    """``/nlp/jobs``: submit a batch job (a CSV or JSON file, or texts), list one's own."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def post(self) -> Response:
        options: JobTask
        if request.mimetype == "multipart/form-data":
            form = _form_options()
            upload = request.files.get("file")
            if upload is None:
                raise ValidationFailed(
                    [{"field": "file", "message": "a CSV or JSON file", "code": "missing"}]
                )
            rows = read_upload(
                upload.read(),
                filename=upload.filename or "",
                content_type=upload.mimetype or "",
                column=form.column,
                truncate=form.truncate,
            )
            options = form
        else:
            body = parse_body(JobTextsRequest)
            options, rows = body, read_texts(body.texts, truncate=body.truncate)
        job = self.jobs.submit(current_principal(), options, rows)
        return json_response(job.as_json(), 202, {"Location": f"/nlp/jobs/{job.id}"})

    def get(self) -> Response:
        query = parse_query(JobsQuery)
        jobs = self.jobs.store.list_for(current_principal().subject, query.limit)
        return json_response({"items": [job.as_json() for job in jobs]})


class JobResource(flask_restful.Resource):  # type: ignore[misc]
    """``/nlp/jobs/{id}``: a job's status, progress and statistics; DELETE cancels it."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def get(self, job_id: uuid.UUID) -> Response:
        return json_response(self.jobs.visible(current_principal(), job_id).as_json())

    def delete(self, job_id: uuid.UUID) -> Response:
        job = self.jobs.visible(current_principal(), job_id)
        return json_response(self.jobs.store.cancel(job).as_json())


class JobResultsResource(flask_restful.Resource):  # type: ignore[misc]
    """``/nlp/jobs/{id}/results``: the rows with their results, a page of JSON or a CSV file."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def get(self, job_id: uuid.UUID) -> Response:
        query = parse_query(ResultsQuery)
        job = self.jobs.visible(current_principal(), job_id)
        wants_csv = query.format == "csv" or request.accept_mimetypes.best == "text/csv"
        if wants_csv:
            return Response(
                results_csv(self.jobs.store.all_results(job.id)),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="job-{job.id}.csv"'},
            )
        rows = self.jobs.store.results(
            job.id, after=line_after(query.cursor, job.id), limit=query.limit + 1
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        page = {
            "job": job.as_json(),
            "items": [result_item(row) for row in rows],
            "next_cursor": results_cursor(job.id, rows[-1]["line"]) if more else None,
        }
        return page_response(page)


def register_api(app: Flask, nlp: NlpService, jobs: JobService) -> None:
    """Serve the NLP resources on ``app`` (a model still loading is 503 with Retry-After)."""
    api = ProblemApi(app)
    kwargs = {"nlp": nlp}
    api.add_resource(EmbedResource, "/nlp/embed", resource_class_kwargs=kwargs)
    api.add_resource(SentimentResource, "/nlp/sentiment", resource_class_kwargs=kwargs)
    api.add_resource(ClassifyResource, "/nlp/classify", resource_class_kwargs=kwargs)
    api.add_resource(SimilarityResource, "/nlp/similarity", resource_class_kwargs=kwargs)
    job_kwargs = {"jobs": jobs}
    api.add_resource(JobsResource, "/nlp/jobs", resource_class_kwargs=job_kwargs)
    api.add_resource(JobResource, "/nlp/jobs/<uuid:job_id>", resource_class_kwargs=job_kwargs)
    api.add_resource(
        JobResultsResource, "/nlp/jobs/<uuid:job_id>/results", resource_class_kwargs=job_kwargs
    )
