"""Request and response models of CSV imports: the upload, the job, each row's outcome.

Which customer fields a column may feed, and what a cell becomes, is
``csv_files``' business; the field rules of the customer each row describes are
``schemas.CustomerCreate``'s, exactly as for ``POST /customers``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from customer_service.csv_files import check_mapped_field
from customer_service.schemas import DEFAULT_PAGE_SIZE, PageSize
from shared.cursors import Cursor
from shared.text import StorableText, check_text, clean_label

#: Most columns a mapping may name.
MAX_MAPPED_COLUMNS = 100

JobStatus = Literal["queued", "running", "succeeded", "failed"]
RowOutcome = Literal["created", "existing", "failed"]

Filename = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(clean_label),
]
#: A column as the file's header names it (compared as written, spaces included).
ColumnName = Annotated[str, BeforeValidator(check_text), StringConstraints(max_length=200)]
#: A customer field a column feeds: ``name``, ``email``... or ``attributes.<key>``.
MappedField = Annotated[str, BeforeValidator(check_text), AfterValidator(check_mapped_field)]


class _Request(BaseModel):
    """A request model: unknown fields are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ImportCreate(_Request):
    """Body of ``POST /customers/imports``: the file, and which column feeds which field."""

    filename: Filename
    #: CSV column (as its header names it) -> customer field. Unmapped columns are ignored.
    mapping: dict[ColumnName, MappedField] = Field(min_length=1, max_length=MAX_MAPPED_COLUMNS)
    #: The CSV text: a header row, then one customer per row.
    content: StorableText


class ImportJobRead(BaseModel):
    """An import job and its progress, as the API returns it."""

    id: UUID
    filename: str
    status: JobStatus
    #: Data rows in the file (blank rows are not counted).
    total: int
    processed: int
    created: int
    existing: int
    failed: int
    #: Why the job failed as a whole (null unless ``status`` is ``failed``).
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class RowError(BaseModel):
    """Why a row was not imported: a field as ``POST /customers`` names it, and its column."""

    field: str
    #: The CSV column the field came from (null when the problem is the row's as a whole).
    column: str | None
    detail: str
    code: str


class ImportRowRead(BaseModel):
    """What became of one data row."""

    #: The row's line number in the file (the header is line 1).
    line: int
    outcome: RowOutcome
    #: The customer the row created (``created``), or created earlier (``existing``).
    customer_id: UUID | None
    errors: list[RowError]


class ImportRowPage(BaseModel):
    """One page of a job's rows in line order, and the cursor of the next, if any."""

    items: list[ImportRowRead]
    next_cursor: str | None


class ImportRowQuery(_Request):
    """Query string of ``GET /customers/imports/{import_id}/rows``."""

    outcome: RowOutcome | None = None
    limit: PageSize = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None
