"""The NLP service's API as the embedder of search queries (``POST /nlp/embed``).

A semantic or hybrid search sends its ``q`` with the caller's own bearer token
to an instance found through discovery (``nlp_service``), as the reindex reads
the customer service: plain ``http.client``, one request, a short timeout, no
retry (the user is waiting). When the NLP
service cannot be reached or fails (5xx) the search is 503 saying semantic
search needs it; a 401 or 403 from it is passed on as it is, as it judged the
caller's own token, and a 422 (a text it cannot read) is a 422 naming ``q``.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from search_service.vectors import Vector, unit_vector
from shared.discovery import Discovery
from shared.errors import (
    BadGateway,
    Forbidden,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from shared.service_calls import NoHttpUrl, call_service, problem_detail

#: The NLP service's name in discovery.
NLP_SERVICE = "nlp_service"
EMBED_PATH = "/nlp/embed"
TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class QueryVector:
    """A query's embedding, and the model that made it (only its vectors are compared)."""

    model_name: str
    model_version: str
    vector: Vector


class NlpServiceUnavailable(ServiceUnavailable):
    """The NLP service, which semantic and hybrid search need, cannot embed the query now."""

    slug = "nlp-service-unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Semantic and hybrid search need the NLP service to embed the query, and it {reason}."
            " Text search (mode=text) still works.",
            headers={"Retry-After": "5"},
        )


class QueryEmbedder:
    """Embeds a query text through the NLP service, with the caller's token."""

    def __init__(
        self,
        discovery: Discovery,
        *,
        service: str = NLP_SERVICE,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._discovery = discovery
        self._service = service
        self._timeout = timeout

    def embed(self, text: str, token: str | None) -> QueryVector:
        """The unit vector of ``text`` (cut to the model's length by the NLP service)."""
        body = json.dumps({"texts": [text], "truncate": True}).encode("utf-8")
        try:
            status, answer = self._post(body, token)
        except ServiceUnavailable as error:  # discovery knows no instance
            raise NlpServiceUnavailable(f"cannot be found ({error.detail})") from None
        except (OSError, http.client.HTTPException) as error:
            raise NlpServiceUnavailable(f"cannot be reached ({error!r})") from None
        if status == 200:
            return _query_vector(answer)
        detail = problem_detail(answer)
        if status == 401:
            raise Unauthorized(f"The NLP service refused the token: {detail}")
        if status == 403:
            raise Forbidden(f"The NLP service refused the token: {detail}")
        if status == 422:
            raise ValidationFailed(
                [{"field": "q", "message": f"cannot be embedded: {detail}", "code": "embedding"}]
            )
        if status >= 500:
            raise NlpServiceUnavailable(f"answered {status} ({detail})")
        raise BadGateway(f"The NLP service answered {status} to a query embedding: {detail}")

    def _post(self, body: bytes, token: str | None) -> tuple[int, bytes]:
        try:
            return call_service(
                self._discovery,
                self._service,
                "POST",
                EMBED_PATH,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    **({"Authorization": f"Bearer {token}"} if token else {}),
                },
                timeout=self._timeout,
            )
        except NoHttpUrl as error:
            raise ServiceUnavailable(str(error)) from None


def _query_vector(answer: bytes) -> QueryVector:
    """The one vector of an ``/nlp/embed`` answer; 502 unless it is one."""
    try:
        document: Any = json.loads(answer)
        model = document["model"]
        (values,) = document["vectors"]
        if not isinstance(values, list) or len(values) != document["dimensions"]:
            raise ValueError("the vector's length is not the dimensions announced")
        return QueryVector(
            model_name=str(model["name"]),
            model_version=str(model["version"]),
            vector=unit_vector(values),
        )
    except (ValueError, TypeError, KeyError) as error:
        raise BadGateway(f"The NLP service sent no usable embedding: {error}") from None
