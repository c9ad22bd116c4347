"""HTTP resources of the search API: read the request, call the service, shape the answer.

Who may call what is not written here: the contract (``openapi.yaml``) names each
operation's scope and ``shared.web.auth`` checks it before a resource runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import flask_restful
from flask import Flask, Response, current_app, request

from search_service.schemas import SearchQuery, SuggestQuery
from search_service.service import ReindexService, SearchService
from shared.web.app import ProblemApi
from shared.web.auth import bearer_token
from shared.web.validation import parse_query


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response with the app's serialiser (field order kept)."""
    return Response(
        current_app.json.dumps(payload),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def next_link(cursor: str) -> str:
    """``Link`` header for the next page, relative to this request's own URL."""
    params = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    return f'<?{urlencode([*params, ("cursor", cursor)])}>; rel="next"'


class SearchResource(flask_restful.Resource):  # type: ignore[misc]
    """``/search``: full text, filters, facets, sort and pages."""

    def __init__(self, search: SearchService) -> None:
        self.search = search

    def get(self) -> Response:
        """A page of hits; ``Link: rel="next"`` when there is more."""
        page = self.search.search(parse_query(SearchQuery))
        response = json_response(page.model_dump(mode="json"))
        if page.next_cursor:
            response.headers["Link"] = next_link(page.next_cursor)
        return response


class SuggestResource(flask_restful.Resource):  # type: ignore[misc]
    """``/search/suggest``: names and companies as the user types."""

    def __init__(self, search: SearchService) -> None:
        self.search = search

    def get(self) -> Response:
        """A few suggestions, best first."""
        return json_response(self.search.suggest(parse_query(SuggestQuery)).model_dump(mode="json"))


class ReindexCollection(flask_restful.Resource):  # type: ignore[misc]
    """``/search/reindex``: start a rebuild."""

    def __init__(self, reindex: ReindexService) -> None:
        self.reindex = reindex

    def post(self) -> Response:
        """202 with the running job; it lists customers with the caller's own token."""
        job = self.reindex.start(bearer_token())
        return json_response(
            job.model_dump(mode="json"), 202, {"Location": f"/search/reindex/{job.id}"}
        )


class ReindexItem(flask_restful.Resource):  # type: ignore[misc]
    """``/search/reindex/{id}``: how a rebuild is going."""

    def __init__(self, reindex: ReindexService) -> None:
        self.reindex = reindex

    def get(self, job_id: UUID) -> Response:
        """The job's status and counts."""
        return json_response(self.reindex.job(job_id).model_dump(mode="json"))


def register_api(app: Flask, search: SearchService, reindex: ReindexService) -> None:
    """Serve the search resources on ``app``."""
    api = ProblemApi(app)
    api.add_resource(SearchResource, "/search", resource_class_kwargs={"search": search})
    api.add_resource(SuggestResource, "/search/suggest", resource_class_kwargs={"search": search})
    api.add_resource(
        ReindexCollection, "/search/reindex", resource_class_kwargs={"reindex": reindex}
    )
    api.add_resource(
        ReindexItem, "/search/reindex/<uuid:job_id>", resource_class_kwargs={"reindex": reindex}
    )
