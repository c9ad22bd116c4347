"""Request and response models of the customer API: the source of every field rule.

``openapi.yaml`` states the same rules for clients; ``tests/contract`` keeps the two
in step.
"""

from __future__ import annotations

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
    field_validator,
    model_validator,
)

from customer_service.fields import (
    check_attributes,
    check_country,
    normalise_email,
    unique_in_order,
)
from shared.cursors import Cursor
from shared.query_parameters import Timestamp, parse_query_integer
from shared.text import check_text, clean_label, clean_text

PHONE_PATTERN = r"^\+?[0-9][0-9 ()\-.]{4,31}$"
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
MAX_TAGS = 50
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

Status = Literal["lead", "active", "churned"]
CustomerSort = Literal["created_at", "-created_at", "name", "-name"]


# Labels: the length rule applies to the value as sent; controls and bidi overrides
# are refused, surrounding whitespace and invisible characters go, something visible
# must remain (shared.text.clean_label).
Name = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(clean_label),
]
Company = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(clean_label),
]
City = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=120),
    AfterValidator(clean_label),
]
Segment = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(clean_label),
]
Tag = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(clean_label),
]
Email = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=3, max_length=254),
    AfterValidator(normalise_email),
]
Phone = Annotated[str, BeforeValidator(check_text), StringConstraints(pattern=PHONE_PATTERN)]
Country = Annotated[str, StringConstraints(pattern=COUNTRY_PATTERN), AfterValidator(check_country)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(unique_in_order)]
Attributes = Annotated[dict[str, Any], AfterValidator(check_attributes)]
NoteBody = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=10_000),
    AfterValidator(clean_text),
]
PageSize = Annotated[int, BeforeValidator(parse_query_integer), Field(ge=1, le=MAX_PAGE_SIZE)]


class _Request(BaseModel):
    """A request model: unknown fields are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class CustomerCreate(_Request):
    """Body of ``POST /customers``."""

    name: Name
    email: Email
    phone: Phone | None = None
    company: Company | None = None
    country: Country | None = None
    city: City | None = None
    segment: Segment | None = None
    status: Status = "lead"
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)


#: Fields a PATCH may set but never clear.
REQUIRED_ON_UPDATE = ("name", "email", "status", "tags", "attributes")


class CustomerUpdate(_Request):
    """Body of ``PATCH /customers/{id}``: a JSON merge patch; only fields sent change."""

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: Company | None = None
    country: Country | None = None
    city: City | None = None
    segment: Segment | None = None
    status: Status | None = None
    tags: Tags | None = None
    #: Merged into the stored object key by key; a ``null`` value removes that key.
    attributes: Attributes | None = None

    @field_validator(*REQUIRED_ON_UPDATE, mode="before")
    @classmethod
    def _refuse_null(cls, value: Any) -> Any:
        # Defaults are not validated, so this only sees fields the client sent.
        if value is None:
            raise ValueError("may not be null")
        return value

    @model_validator(mode="after")
    def _require_a_field(self) -> CustomerUpdate:
        if not self.model_fields_set:
            raise ValueError("a patch must set at least one field")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with their validated values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class CustomerRead(BaseModel):
    """A customer as the API returns it."""

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
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int


class CustomerPage(BaseModel):
    """One page of customers and the cursor of the next, if any."""

    items: list[CustomerRead]
    next_cursor: str | None


class CustomerQuery(_Request):
    """Query string of ``GET /customers``."""

    limit: PageSize = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None
    sort: CustomerSort = "-created_at"
    status: Status | None = None
    country: Country | None = None
    segment: Segment | None = None
    #: Every tag listed must be present on the customer.
    # Plain ``list[...] | None`` so shared.web.validation.parse_query sees a repeatable field.
    tag: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None


class CustomerExportQuery(_Request):
    """Query string of ``GET /customers/export``: the list's filters and sort, no page."""

    sort: CustomerSort = "-created_at"
    status: Status | None = None
    country: Country | None = None
    segment: Segment | None = None
    tag: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None

    def page_query(self, limit: int) -> CustomerQuery:
        """The list query for pages of ``limit`` customers with these filters."""
        return CustomerQuery(limit=limit, **self.model_dump(exclude_none=True))


class NoteCreate(_Request):
    """Body of ``POST /customers/{id}/notes``."""

    body: NoteBody


class NoteSentiment(BaseModel):
    """A note's sentiment as the NLP service scored it (``nlp.note_analysed``)."""

    label: Literal["positive", "negative", "neutral"]
    #: The confidence in ``label``, 0 to 1.
    score: float
    method: str


class NoteRead(BaseModel):
    """A note as the API returns it; ``sentiment`` is null until the NLP service scores it."""

    id: UUID
    customer_id: UUID
    author: str
    body: str
    created_at: datetime
    sentiment: NoteSentiment | None = None


class NotePage(BaseModel):
    """One page of notes, newest first, and the cursor of the next, if any."""

    items: list[NoteRead]
    next_cursor: str | None


class NoteQuery(_Request):
    """Query string of ``GET /customers/{id}/notes``."""

    limit: PageSize = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None
