"""Reading uploaded CSV (lines, blanks, quoting, cells to fields) and writing the export."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest

from customer_service.csv_files import (
    EXPORT_COLUMNS,
    InvalidCsv,
    RowMapper,
    check_mapped_field,
    export_cell,
    export_chunks,
    read_file,
    summarise,
)
from customer_service.schemas import CustomerRead


def test_rows_keep_the_line_they_start_on_across_blank_rows_and_quoted_line_breaks() -> None:
    content = (
        "\ufeffname,email,notes\r\n"
        "Ada,ada@example.com,plain\r\n"
        "\r\n"
        ",,\r\n"
        'Grace,grace@example.com,"two\r\nlines"\r\n'
        "Alan,alan@example.com,last"
    )

    _, data = read_file(content)
    rows = list(data)
    summary = summarise(content)

    assert [(row.line, row.cells[0]) for row in rows] == [(2, "Ada"), (5, "Grace"), (7, "Alan")]
    assert rows[1].cells[2] == "two\r\nlines"
    # The byte order mark is not part of the first column's name; blank rows are not counted.
    assert summary.header == ["name", "email", "notes"]
    assert summary.rows == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "empty"),
        ("\r\n\r\n", "empty"),
        ("name,email\r\n", "no data rows"),
        ("name,email,name\r\nAda,ada@example.com,Ada\r\n", "'name' more than once"),
        ('name,email\r\nAda,"ada@example.com\r\n', "row starting on line 2"),
        ('name,email\r\nAda,x\r\n"Bob"x,bob@example.com\r\n', "row starting on line 3"),
    ],
)
def test_a_file_that_is_not_importable_csv_says_why(content: str, reason: str) -> None:
    with pytest.raises(InvalidCsv, match=reason):
        summarise(content)


def test_cells_become_the_create_body_the_mapping_describes() -> None:
    mapper = RowMapper(
        ["Full name", "E-mail", "Labels", "Plan", "Ignored", "Phone"],
        {
            "Full name": "name",
            "E-mail": "email",
            "Labels": "tags",
            "Plan": "attributes.plan",
            "Phone": "phone",
        },
    )

    body, problems = mapper.values(
        ["Ada", "ada@example.com", "vip; beta ;;", "gold", "whatever", "'+44 20 7946 0000"]
    )
    sparse, _ = mapper.values(["Ada", "ada@example.com", "", "", ""])

    assert problems == []
    assert body == {
        "name": "Ada",
        "email": "ada@example.com",
        "tags": ["vip", " beta "],
        "attributes": {"plan": "gold"},
        # The mark the export puts before formula-like text is taken off.
        "phone": "+44 20 7946 0000",
    }
    # Empty and missing cells are fields not given.
    assert sparse == {"name": "Ada", "email": "ada@example.com"}
    assert mapper.column_of("tags.1") == "Labels"
    assert mapper.column_of("attributes") == "Plan"


def test_a_row_with_more_filled_cells_than_the_header_is_refused() -> None:
    mapper = RowMapper(["name", "email"], {"name": "name", "email": "email"})

    trailing_empty, fine = mapper.values(["Ada", "ada@example.com", "", ""])
    _, problems = mapper.values(["Ada", "ada@example.com", "surprise"])

    assert fine == []
    assert trailing_empty["name"] == "Ada"
    assert [(p.field, p.column, p.code) for p in problems] == [("row", None, "too_many_cells")]
    assert "3 cells" in problems[0].detail


@pytest.mark.parametrize("field", ["name", "tags", "attributes.plan", "status"])
def test_mappable_fields(field: str) -> None:
    assert check_mapped_field(field) == field


@pytest.mark.parametrize("field", ["id", "attributes", "attributes.", "version", "Name"])
def test_unmappable_fields_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=r"customer field|key"):
        check_mapped_field(field)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Ada = genius", "Ada = genius"),
        (None, ""),
        (["vip", "=x"], "vip;=x"),
        (["-x"], "'-x"),
        ({"b": 1, "a": "é"}, '{"a":"é","b":1}'),
        (3, "3"),
    ],
)
def test_export_cells_that_a_spreadsheet_would_run_are_marked_as_text(value, cell) -> None:
    assert export_cell(value) == cell


def test_the_export_is_a_header_then_a_chunk_per_page_that_reads_back() -> None:
    def customer(name: str, phone: str | None) -> CustomerRead:
        now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        return CustomerRead(
            id=uuid.uuid4(),
            name=name,
            email=f"{uuid.uuid4().hex[:6]}@example.com",
            phone=phone,
            company=None,
            country="GB",
            city=None,
            segment=None,
            status="lead",
            tags=["a", "b"],
            attributes={},
            created_at=now,
            updated_at=now,
            version=1,
        )

    pages = [
        [customer("Ada, Countess", "+44 1"), customer('Say "hi"', None)],
        [customer("A", None)],
    ]

    chunks = list(export_chunks(iter(pages)))
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"), newline="")))

    assert len(chunks) == 3
    assert chunks[0] == (",".join(EXPORT_COLUMNS) + "\r\n").encode()
    assert rows[0] == list(EXPORT_COLUMNS)
    assert [row[1] for row in rows[1:]] == ["Ada, Countess", 'Say "hi"', "A"]
    assert rows[1][EXPORT_COLUMNS.index("phone")] == "'+44 1"
    assert rows[1][EXPORT_COLUMNS.index("tags")] == "a;b"
    assert rows[1][EXPORT_COLUMNS.index("created_at")] == "2026-01-02T03:04:05Z"
