"""Customers as CSV: reading an uploaded file row by row, and writing the export.

Reading: RFC 4180 CSV as Python's ``csv`` module reads it, strictly (a stray
quote is an error, not a guess), with an optional UTF-8 byte order mark (Excel
writes one). The first row is the header; rows whose cells are all empty are
skipped and not counted. Every row keeps the line it starts on in the file (the
header is line 1), also when a quoted cell spans several lines.

A mapped cell becomes a field of the create body: an empty cell is a field not
given (so its default applies); ``tags`` is split on ``;``; a column mapped to
``attributes.<key>`` sets that key of ``attributes`` to the cell's text.

Writing: cells that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) are written with a leading
``'``, which spreadsheets show as text (CSV injection, OWASP). Reading takes
that ``'`` off again, so an exported file imports back as it was.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from customer_service.schemas import CustomerRead

#: Customer fields a column may feed directly.
IMPORTABLE_FIELDS = ("name", "email", "phone", "company", "country", "city", "segment", "status")
#: The field fed from a ``;``-separated list.
TAGS_FIELD = "tags"
TAG_SEPARATOR = ";"
#: ``attributes.<key>``: the cell's text under ``<key>`` in ``attributes``.
ATTRIBUTES_PREFIX = "attributes."
MAX_ATTRIBUTE_KEY_LENGTH = 100
#: Fields every row needs; a mapping must name a column for each.
REQUIRED_FIELDS = ("name", "email")

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Written before such a cell: spreadsheets show the rest as text.
TEXT_MARK = "'"

#: Columns of the export, in order: a customer as ``GET /customers/{id}`` shows it.
EXPORT_COLUMNS = tuple(CustomerRead.model_fields)


class InvalidCsv(ValueError):
    """The content cannot be read as CSV; the message says where and why."""


@dataclass(frozen=True)
class CsvRecord:
    """One non-blank row of the file and the line it starts on."""

    line: int
    cells: list[str]


@dataclass(frozen=True)
class CsvSummary:
    """What the server checks before a job is queued: the header and how many rows follow."""

    header: list[str]
    rows: int


def check_mapped_field(value: str) -> str:
    """A field a column may feed: :data:`IMPORTABLE_FIELDS`, ``tags``, ``attributes.<key>``."""
    if value in IMPORTABLE_FIELDS or value == TAGS_FIELD:
        return value
    if value.startswith(ATTRIBUTES_PREFIX):
        key = value[len(ATTRIBUTES_PREFIX) :]
        if key and len(key) <= MAX_ATTRIBUTE_KEY_LENGTH:
            return value
        raise ValueError(
            f"attributes.<key> needs a key of 1 to {MAX_ATTRIBUTE_KEY_LENGTH} characters"
        )
    known = ", ".join([*IMPORTABLE_FIELDS, TAGS_FIELD, ATTRIBUTES_PREFIX + "<key>"])
    raise ValueError(f"{value!r} is not a customer field; one of {known}")


def records(content: str) -> Iterator[CsvRecord]:
    """Every non-blank row of ``content``, the header first; :class:`InvalidCsv` when unreadable."""
    text = content.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    lines_read = 0
    try:
        for cells in reader:
            line = lines_read + 1
            lines_read = reader.line_num
            if any(cells):
                yield CsvRecord(line, cells)
    except csv.Error as error:
        raise InvalidCsv(f"the row starting on line {lines_read + 1}: {error}") from None


def read_file(content: str) -> tuple[list[str], Iterator[CsvRecord]]:
    """The header, and the data rows after it (read as they are taken)."""
    rows = records(content)
    first = next(rows, None)
    if first is None:
        raise InvalidCsv("the file is empty: it needs a header row and at least one data row")
    return list(first.cells), rows


def summarise(content: str) -> CsvSummary:
    """The header and the number of data rows; :class:`InvalidCsv` unless both are sound."""
    header, rows = read_file(content)
    named = [column for column in header if column]
    repeated = sorted({column for column in named if named.count(column) > 1})
    if repeated:
        raise InvalidCsv(f"the header names {', '.join(map(repr, repeated))} more than once")
    count = sum(1 for _ in rows)
    if count == 0:
        raise InvalidCsv("the file has a header row but no data rows")
    return CsvSummary(header, count)


def unmark(cell: str) -> str:
    """The cell without the ``'`` the export puts before formula-like text."""
    if cell.startswith(TEXT_MARK) and cell[1:].startswith(FORMULA_PREFIXES):
        return cell[1:]
    return cell


@dataclass(frozen=True)
class RowProblem:
    """Why a row could not even become a create body."""

    field: str
    column: str | None
    detail: str
    code: str


class RowMapper:
    """Turns a row's cells into a ``POST /customers`` body, as the job's mapping says."""

    def __init__(self, header: list[str], mapping: Mapping[str, str]) -> None:
        self._columns = {column: header.index(column) for column in mapping}
        self._mapping = dict(mapping)
        self._width = len(header)
        # The first column of each field, to name it when the field is refused.
        self._column_of: dict[str, str] = {}
        for column, field in mapping.items():
            self._column_of.setdefault(field, column)
            if field.startswith(ATTRIBUTES_PREFIX):
                self._column_of.setdefault("attributes", column)

    def column_of(self, field: str) -> str | None:
        """The column a refused field (``tags.2``, ``attributes``...) came from, if one did."""
        if field in self._column_of:
            return self._column_of[field]
        return self._column_of.get(field.split(".", 1)[0])

    def values(self, cells: list[str]) -> tuple[dict[str, Any], list[RowProblem]]:
        """The create body of a row, or the problems that keep it from being one."""
        extra = [cell for cell in cells[self._width :] if cell]
        if extra:
            detail = f"has {len(cells)} cells but the header names {self._width} columns"
            return {}, [RowProblem("row", None, detail, "too_many_cells")]
        body: dict[str, Any] = {}
        attributes: dict[str, str] = {}
        for column, field in self._mapping.items():
            index = self._columns[column]
            cell = unmark(cells[index]) if index < len(cells) else ""
            if cell == "":
                continue
            if field == TAGS_FIELD:
                body[field] = [tag for tag in cell.split(TAG_SEPARATOR) if tag.strip()]
            elif field.startswith(ATTRIBUTES_PREFIX):
                attributes[field[len(ATTRIBUTES_PREFIX) :]] = cell
            else:
                body[field] = cell
        if attributes:
            body["attributes"] = attributes
        return body, []


def export_cell(value: Any) -> str:
    """One customer value as a CSV cell, formula-like text marked as text."""
    if value is None:
        text = ""
    elif isinstance(value, list):
        text = TAG_SEPARATOR.join(value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    else:
        text = str(value)
    return TEXT_MARK + text if text.startswith(FORMULA_PREFIXES) else text


def export_chunks(pages: Iterable[list[CustomerRead]]) -> Iterator[bytes]:
    """The export as UTF-8 CSV: the header, then one chunk per page of customers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> bytes:
        chunk = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return chunk

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    for page in pages:
        for customer in page:
            row = customer.model_dump(mode="json")
            writer.writerow([export_cell(row[column]) for column in EXPORT_COLUMNS])
        yield flush()
