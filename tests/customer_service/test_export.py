"""The CSV export: the list's filters and sort, formula-like cells marked, streamed page by page."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest

from customer_service.csv_files import EXPORT_COLUMNS
from customer_service.schemas import MAX_PAGE_SIZE
from tests.customer_service.api_client import CustomerApi, problem, unique_tag
from tests.support.databases import Query


def exported_rows(text: str) -> list[dict[str, str]]:
    """The CSV's rows as dicts by column."""
    return list(csv.DictReader(io.StringIO(text, newline="")))


def listed_ids(api: CustomerApi, query: str) -> list[str]:
    """The ids the list gives for ``query``, walking every page."""
    ids: list[str] = []
    cursor = ""
    while True:
        page = api.list_customers(f"{query}&limit=7{cursor}").get_json()
        ids += [customer["id"] for customer in page["items"]]
        if page["next_cursor"] is None:
            return ids
        cursor = f"&cursor={page['next_cursor']}"


@pytest.fixture(scope="module")
def tagged(app, issuer) -> str:
    """A tag on a dozen customers of varied status, country, segment and names."""
    tag = unique_tag()
    api = CustomerApi(app.test_client(), issuer)
    for n in range(12):
        api.create_ok(
            name=["=SUM(A1:A9)", "Zoë", "ada", "Bob, Jr.", '"Quoted"', "+1 caller"][n % 6],
            status=["lead", "active", "churned"][n % 3],
            country=["GB", "FR", None][(n // 2) % 3],
            segment=["smb", "enterprise"][n % 2],
            tags=[tag, "even"] if n % 2 == 0 else [tag],
            attributes={"n": n},
        )
    return tag


@pytest.mark.parametrize(
    "filters",
    [
        "",
        "&sort=name",
        "&sort=-name",
        "&sort=created_at",
        "&status=active",
        "&country=gb",
        "&segment=smb&sort=name",
        "&tag=even",
        "&status=lead&tag=even&sort=-name",
        "&created_after=2000-01-01T00:00:00Z&created_before=2999-01-01T00:00:00%2B02:00",
        "&created_before=2000-01-01T00:00:00Z",
    ],
)
def test_the_export_holds_what_the_list_shows_in_its_order(
    api: CustomerApi, tagged: str, filters: str
) -> None:
    query = f"tag={tagged}{filters}"

    response = api.export(query)

    assert response.status_code == 200
    rows = exported_rows(response.get_data(as_text=True))
    assert [row["id"] for row in rows] == listed_ids(api, query)


def test_the_export_is_a_csv_download_of_every_customer_field(
    api: CustomerApi, tagged: str
) -> None:
    response = api.export(f"tag={tagged}&sort=name", role="viewer")

    today = datetime.now(UTC).date().isoformat()
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f"attachment; filename=customers-{today}.csv"
    assert "Content-Length" not in response.headers
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    assert text.endswith("\r\n")
    rows = exported_rows(text)
    assert len(rows) == 12
    first = api.get(rows[0]["id"]).get_json()
    assert rows[0]["email"] == first["email"]
    assert rows[0]["version"] == "1"
    assert rows[0]["attributes"] == f'{{"n":{first["attributes"]["n"]}}}'
    assert {row["name"] for row in rows} >= {"Zoë", "Bob, Jr.", '"Quoted"'}


def test_cells_a_spreadsheet_would_run_as_formulas_are_exported_as_text(
    api: CustomerApi, tagged: str
) -> None:
    rows = exported_rows(api.export(f"tag={tagged}").get_data(as_text=True))

    names = {row["name"] for row in rows}
    assert "'=SUM(A1:A9)" in names
    assert "'+1 caller" in names
    assert "=SUM(A1:A9)" not in names


def test_bad_filters_are_refused_before_anything_is_sent(api: CustomerApi) -> None:
    problem(api.export("status=sleeping"), 422, "status")
    problem(api.export("limit=5"), 422, "limit")
    problem(api.export("created_after=yesterday"), 422, "created_after")
    assert api.client.get("/customers/export").status_code == 401


def test_the_export_reads_the_database_a_page_at_a_time_as_the_client_reads(
    api: CustomerApi, query: Query
) -> None:
    tag = unique_tag()
    count = 2 * MAX_PAGE_SIZE + 50
    query(
        "INSERT INTO customers (name, email, tags, created_at)"
        " SELECT 'Bulk ' || n, %s || n || '@example.com', ARRAY[%s],"
        " '2020-01-01T00:00:00Z'::timestamptz + n * interval '1 second'"
        " FROM generate_series(1, %s) AS n",
        (f"bulk-{uuid.uuid4().hex[:8]}-", tag, count),
    )

    response = api.export(f"tag={tag}&sort=created_at", buffered=False)
    chunks = iter(response.response)
    header, first_page = next(chunks), next(chunks)
    # Created once the first page was sent: an export that read everything up front
    # could not hold it; one that reads each page when the client gets there does.
    latecomer = api.create_ok(name="Latecomer", tags=[tag])
    rest = list(chunks)
    response.close()

    assert len(exported_rows((header + first_page).decode())) == MAX_PAGE_SIZE
    # One chunk per page of at most MAX_PAGE_SIZE customers: never the whole list at once.
    assert len(rest) == 2
    rows = exported_rows((header + first_page + b"".join(rest)).decode())
    assert len(rows) == count + 1
    assert rows[-1]["id"] == latecomer["id"]
    assert len({row["id"] for row in rows}) == count + 1
