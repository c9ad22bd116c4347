"""HTTP resources of the search API: read the request, call the service, shape the answer.

Who may call what is not written here: the contract (``openapi.yaml``) names each
operation's scope and ``shared.web.auth`` checks it before a resource runs.
"""

from __future__ import annotations

from uuid import UUID

import flask_restful
from flask import Flask, Response

from search_service.schemas import SearchQuery, SuggestQuery
from search_service.service import ReindexService, SearchService
from shared.web.app import ProblemApi
from shared.web.auth import bearer_token
from shared.web.responses import json_response, page_response
from shared.web.validation import parse_query


class SearchResource(flask_restful.Resource):  # type: ignore[misc]
    """``/search``: full text, semantic or hybrid, filters, facets, sort and pages."""

    def __init__(self, search: SearchService) -> None:
        self.search = search

    def get(self) -> Response:
        """A page of hits; ``Link: rel="next"`` when there is more.

        A semantic or hybrid query is embedded by the NLP service with the caller's own token.
        """
        page = self.search.search(parse_query(SearchQuery), bearer_token())
        return page_response(page.model_dump(mode="json"))


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
