"""Request and response models of the search API: the source of every parameter rule.

``openapi.yaml`` states the same rules for clients; ``tests/contract`` keeps the two
in step. Filters only narrow a search, so a value that matches nothing (an unknown
country, a tag nobody has) is an empty result, not an error; what cannot be
stored or compared at all (control characters, lone surrogates, a time without an
offset) is 422.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from shared.cursors import Cursor
from shared.query_parameters import Timestamp, parse_query_integer
from shared.text import check_text

Status = Literal["lead", "active", "churned"]
SearchSort = Literal["relevance", "name", "created", "-created"]
#: ``text``: words, prefixes and typos; ``semantic``: what ``q`` means, by the cosine of
#: embeddings; ``hybrid``: both rankings blended.
SearchMode = Literal["text", "semantic", "hybrid"]
JobStatus = Literal["running", "succeeded", "failed"]
SuggestionField = Literal["name", "company"]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 200
MAX_TAG_FILTERS = 20
DEFAULT_SUGGESTIONS = 5
MAX_SUGGESTIONS = 10
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"


def refuse_controls(value: Any) -> Any:
    """Text a client types in a search box: storable, and without control characters."""
    value = check_text(value)
    if isinstance(value, str) and any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters")
    return value


QueryText = Annotated[
    str, BeforeValidator(refuse_controls), StringConstraints(max_length=MAX_QUERY_LENGTH)
]
Label = Annotated[
    str, BeforeValidator(refuse_controls), StringConstraints(min_length=1, max_length=64)
]
Country = Annotated[
    str, StringConstraints(pattern=COUNTRY_PATTERN), AfterValidator(lambda code: code.upper())
]
PageSize = Annotated[int, BeforeValidator(parse_query_integer), Field(ge=1, le=MAX_PAGE_SIZE)]
SuggestionCount = Annotated[
    int, BeforeValidator(parse_query_integer), Field(ge=1, le=MAX_SUGGESTIONS)
]


class _Request(BaseModel):
    """A request model: unknown parameters are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class SearchQuery(_Request):
    """Query string of ``GET /search``."""

    #: Words to find; empty or absent lists every customer the filters let through.
    q: QueryText | None = None
    #: How ``q`` finds customers; semantic and hybrid need the NLP service.
    mode: SearchMode = "text"
    status: Status | None = None
    country: Country | None = None
    segment: Label | None = None
    #: Every tag listed must be present on the customer.
    # Plain ``list[...] | None`` so shared.web.validation.parse_query sees a repeatable field.
    tag: list[Label] | None = Field(default=None, max_length=MAX_TAG_FILTERS)
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    #: ``relevance`` when ``q`` has words, else ``-created``.
    sort: SearchSort | None = None
    limit: PageSize = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None


class SuggestQuery(_Request):
    """Query string of ``GET /search/suggest``."""

    q: Annotated[
        str, BeforeValidator(refuse_controls), StringConstraints(min_length=1, max_length=100)
    ]
    limit: SuggestionCount = DEFAULT_SUGGESTIONS


class Highlights(BaseModel):
    """Fields of a hit where query words were found, as HTML: text escaped, words in ``<mark>``."""

    name: str | None = None
    company: str | None = None
    #: A passage of the note that matches best.
    notes: str | None = None


class Hit(BaseModel):
    """One customer found, with why it ranks where it does."""

    id: UUID
    name: str
    email: str
    phone: str | None
    company: str | None
    country: str | None
    city: str | None
    segment: str | None
    status: Status
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    #: Higher ranks first; null when the search had no words. In semantic mode the cosine
    #: similarity of the query to the customer's closest vector (profile or note).
    score: float | None
    highlights: Highlights


class FacetValue(BaseModel):
    """A value of a field and how many hits carry it."""

    value: str
    count: int


class Facets(BaseModel):
    """The most frequent values of each field over every hit (not only this page)."""

    status: list[FacetValue]
    country: list[FacetValue]
    segment: list[FacetValue]
    tag: list[FacetValue]


class SearchPage(BaseModel):
    """One page of hits, the facets and total of the whole result, and the next cursor."""

    items: list[Hit]
    total: int
    facets: Facets
    next_cursor: str | None


class Suggestion(BaseModel):
    """A name or company that starts with, or has a word starting with, what was typed."""

    text: str
    field: SuggestionField


class SuggestionList(BaseModel):
    """Suggestions, best first."""

    items: list[Suggestion]


class ReindexJob(BaseModel):
    """A rebuild of the index from the customer service, and how far it got."""

    id: UUID
    status: JobStatus
    started_at: datetime
    finished_at: datetime | None
    #: Customers listed by the customer service so far.
    seen: int
    #: Documents the listing made newer (or added).
    upserted: int
    #: Documents of customers the listing no longer has, removed at the end.
    removed: int
    #: Why the job failed; null otherwise.
    error: str | None
