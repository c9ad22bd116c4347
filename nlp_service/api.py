"""HTTP resources of the NLP API: read the request, call the service, shape the answer.

Who may call what is not written here: the contract (``openapi.yaml``) names each
operation's scope and ``shared.web.auth`` checks it before a resource runs.
"""

from __future__ import annotations

import flask_restful
from flask import Flask, Response

from nlp_service.schemas import ClassifyRequest, EmbedRequest, SentimentRequest, SimilarityRequest
from nlp_service.service import NlpService
from shared.web.app import ProblemApi
from shared.web.responses import json_response
from shared.web.validation import parse_body


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


def register_api(app: Flask, nlp: NlpService) -> None:
    """Serve the NLP resources on ``app`` (a model still loading is 503 with Retry-After)."""
    api = ProblemApi(app)
    kwargs = {"nlp": nlp}
    api.add_resource(EmbedResource, "/nlp/embed", resource_class_kwargs=kwargs)
    api.add_resource(SentimentResource, "/nlp/sentiment", resource_class_kwargs=kwargs)
    api.add_resource(ClassifyResource, "/nlp/classify", resource_class_kwargs=kwargs)
    api.add_resource(SimilarityResource, "/nlp/similarity", resource_class_kwargs=kwargs)
