"""CSV import and export through the gateway, with the importer and the relay running.

An import is a job the importer process runs; its customers reach search through
the outbox, the relay and the broker like any other. The export is streamed by
the service and relayed by the gateway as it arrives, never held whole.
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from tests.e2e.conftest import Stack, create_customer, wait_for
from tests.support.upstreams import BrokenUpstream, read_request_head

#: How long an import of a few rows, and its events, may take to show.
IMPORT_SECONDS = 30.0


def unique_word(prefix: str) -> str:
    """A word no other test uses, of letters only (search splits words at digits)."""
    return prefix + uuid.uuid4().hex[:6].translate(str.maketrans("0123456789", "ghijklmnop"))


def upload(stack: Stack, content: str, mapping: dict[str, str], role: str = "agent") -> Any:
    """``POST /api/v1/customers/imports``."""
    return requests.post(
        f"{stack.api}/customers/imports",
        json={"filename": "people.csv", "mapping": mapping, "content": content},
        headers=stack.headers(role),
        timeout=10,
    )


def finished_job(stack: Stack, location: str) -> dict[str, Any]:
    """The job at ``location`` once it has finished."""

    def job() -> dict[str, Any] | None:
        answer = requests.get(f"{stack.gateway.url}{location}", headers=stack.headers(), timeout=10)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if body["status"] in ("succeeded", "failed") else None

    result = wait_for(job, IMPORT_SECONDS)
    assert result, f"the import at {location} did not finish"
    return dict(result)


def test_an_upload_through_the_gateway_is_imported_once_and_reaches_search(stack: Stack) -> None:
    word = unique_word("Importeo")
    content = (
        "Full name,E-mail,Country,Labels\r\n"
        f"{word} One,{word}-1@example.com,GB,{word};vip\r\n"
        f"{word} Two,not-an-email,FR,{word}\r\n"
        f"{word} Three,{word}-3@example.com,de,{word}\r\n"
    )
    mapping = {"Full name": "name", "E-mail": "email", "Country": "country", "Labels": "tags"}

    queued = upload(stack, content, mapping)
    assert queued.status_code == 202, queued.text
    location = queued.headers["Location"]
    job = finished_job(stack, location)
    again = finished_job(stack, upload(stack, content, mapping).headers["Location"])
    failed = requests.get(
        f"{stack.gateway.url}{location}/rows",
        params={"outcome": "failed"},
        headers=stack.headers("viewer"),
        timeout=10,
    )

    assert location == f"/api/v1/customers/imports/{queued.json()['id']}"
    assert (job["status"], job["total"], job["created"], job["failed"]) == ("succeeded", 3, 2, 1)
    assert (again["created"], again["existing"], again["failed"]) == (0, 2, 1)
    [bad] = failed.json()["items"]
    assert (bad["line"], bad["errors"][0]["field"], bad["errors"][0]["column"]) == (
        3,
        "email",
        "E-mail",
    )
    # Created through the outbox like any customer: the relay publishes, search indexes.
    hits = wait_for(
        lambda: requests.get(
            f"{stack.api}/search", params={"q": word}, headers=stack.headers(), timeout=10
        ).json()["items"],
        IMPORT_SECONDS,
    )
    assert sorted(hit["name"] for hit in hits) == [f"{word} One", f"{word} Three"]


def test_a_viewer_may_not_import_an_agent_may(stack: Stack) -> None:
    refused = upload(stack, "name,email\r\nA,a@example.com\r\n", {"name": "name"}, role="viewer")
    checked = upload(stack, "name,email\r\nA,a@example.com\r\n", {"name": "name"}, role="agent")

    assert refused.status_code == 403
    # An agent gets past the gateway to the service, which names what the mapping lacks.
    assert checked.status_code == 422
    assert checked.json()["errors"][0]["field"] == "mapping"


def test_the_export_through_the_gateway_is_a_chunked_csv_download(stack: Stack) -> None:
    tag = f"export-{uuid.uuid4().hex[:8]}"
    made = [create_customer(stack, name=name, tags=[tag]) for name in ("=2+3", "Plain", "@x")]

    response = requests.get(
        f"{stack.api}/customers/export",
        params={"tag": tag, "sort": "name"},
        headers=stack.headers("viewer"),
        timeout=10,
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).date().isoformat()
    assert response.headers["Content-Disposition"] == f"attachment; filename=customers-{today}.csv"
    # Relayed as it streams: no length announced up front.
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.headers
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert [row["name"] for row in rows] == ["'=2+3", "'@x", "Plain"]
    assert {row["id"] for row in rows} == {customer["id"] for customer in made}


def streams_in_two_parts(release: threading.Event) -> Callable[[socket.socket], None]:
    """An upstream that sends the head of a chunked CSV, then the rest once ``release`` is set."""

    def behave(connection: socket.socket) -> None:
        read_request_head(connection)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/csv; charset=utf-8\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"8\r\nid,name\n\r\n"
        )
        release.wait(30)
        connection.sendall(b"6\r\n1,Ada\n\r\n0\r\n\r\n")

    return behave


def test_the_gateway_relays_a_streamed_answer_before_it_has_ended(stack_for_test) -> None:
    release = threading.Event()
    upstream = BrokenUpstream(streams_in_two_parts(release))
    try:
        stack = stack_for_test(
            {"DISCOVERY_STATIC": f"customer_service={upstream.url}"}, gateway_workers=1, only=()
        )
        with requests.get(
            f"{stack.api}/customers/export", headers=stack.headers(), stream=True, timeout=15
        ) as response:
            parts = response.iter_content(chunk_size=None)
            # The service has not finished its answer: only a gateway that streams has
            # anything to give yet (one that buffers would wait, and this read time out).
            first = next(parts)
            release.set()
            rest = b"".join(parts)
    finally:
        release.set()
        upstream.close()

    assert response.status_code == 200
    assert first == b"id,name\n"
    assert rest == b"1,Ada\n"
