"""Batch jobs as the API takes them: uploads read into numbered rows, owners, cancelling, results.

The worker that scores them is ``tests/nlp_service/test_job_worker.py``'s; here
jobs are stored and queued (on a queue of this test process's own) and read back.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from nlp_service.jobs import MAX_ROWS, Row, read_csv, read_json, read_texts, read_upload
from shared.errors import ValidationFailed
from tests.support import broker
from tests.support.tokens import TestIssuer

JOBS = "/nlp/jobs"


# --- reading uploads -------------------------------------------------------------------


def test_a_csv_column_becomes_rows_numbered_by_their_line() -> None:
    data = b'id,comment\n1,"Great service, thanks"\n2,"line one\nline two"\n\n3,   \n4,ok\n'

    rows = read_csv(data, "comment")

    assert [row.line for row in rows] == [2, 4, 6, 7]
    assert rows[0] == Row(2, "Great service, thanks")
    assert rows[1] == Row(4, "line one\nline two")
    assert rows[2].error == "must not be blank"
    assert rows[3] == Row(7, "ok")


def test_a_short_csv_line_is_a_row_error_not_a_failed_upload() -> None:
    rows = read_csv(b"id,comment\n1\n2,fine\n", "comment")

    assert rows[0] == Row(2, "", "no 'comment' value on this line")
    assert rows[1] == Row(3, "fine")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (b"id,body\n1,x\n", "column", "no column 'comment' in the CSV (it has: id, body)"),
        (b"", "file", "the CSV is empty"),
        (b"\xff\xfe,comment\n", "file", "not UTF-8 text (byte 0)"),
        (b'comment\n"unclosed\n', "file", "unreadable CSV"),
    ],
)
def test_an_unreadable_csv_is_422_naming_what_is_wrong(data, field, message) -> None:
    with pytest.raises(ValidationFailed) as refused:
        read_csv(data, "comment")

    (error,) = refused.value.extensions["errors"]
    assert error["field"] == field
    assert error["message"].startswith(message)


def test_json_strings_and_objects_become_rows_numbered_from_one() -> None:
    document = ["fine", {"text": "also fine"}, {"other": 1}, 42, "x" * 600]

    rows = read_json(json.dumps(document).encode(), "text")

    assert rows[0] == Row(1, "fine")
    assert rows[1] == Row(2, "also fine")
    assert rows[2].error == "no 'text' field in this object"
    assert rows[3].error == "not a string"
    assert "512" in str(rows[4].error)
    assert read_json(json.dumps(["y" * 600]).encode(), "text", truncate=True)[0] == Row(
        1, "y" * 512
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not a JSON document"),
        (b'{"texts": []}', "the JSON document must be an array"),
        (json.dumps(["a"] * (MAX_ROWS + 1)).encode(), f"more than {MAX_ROWS} rows"),
    ],
)
def test_an_unreadable_json_file_is_422(data, message) -> None:
    with pytest.raises(ValidationFailed) as refused:
        read_json(data, "text")

    assert refused.value.extensions["errors"][0]["message"].startswith(message)


def test_the_upload_kind_comes_from_its_media_type_or_else_its_name() -> None:
    assert read_upload(b"text\nhi\n", filename="x.bin", content_type="text/csv", column="text")
    assert read_upload(b'["hi"]', filename="a.json", content_type="", column="text")
    with pytest.raises(ValidationFailed) as refused:
        read_upload(b"hi", filename="a.pdf", content_type="application/pdf", column="text")
    assert refused.value.extensions["errors"][0]["field"] == "file"
    with pytest.raises(ValidationFailed):
        read_upload(b"text\n", filename="a.csv", content_type="text/csv", column="text")


def test_texts_in_a_body_fail_alone() -> None:
    rows = read_texts(["good", "", None, "\u200b"])

    assert rows[0] == Row(1, "good")
    assert [row.error is not None for row in rows] == [False, True, True, True]


# --- the API ---------------------------------------------------------------------------


def _submit(client: FlaskClient, headers: dict[str, str], **body: Any):
    return client.post(
        JOBS, json={"task": "sentiment", "texts": ["great", "awful"], **body}, headers=headers
    )


def _upload(client: FlaskClient, headers: dict[str, str], data: bytes, name: str, **fields: str):
    form = {"file": (io.BytesIO(data), name), **fields}
    return client.post(JOBS, data=form, headers=headers, content_type="multipart/form-data")


def _queued(queue: str) -> list[str]:
    """Job ids waiting on ``queue`` (read and put back: nobody consumes it here)."""
    channel = broker.channel()
    try:
        ids = []
        while True:
            method, _properties, body = channel.basic_get(queue)
            if method is None:
                break
            ids.append(json.loads(body)[0][0])
        channel.basic_recover(requeue=True)
        return ids
    finally:
        channel.connection.close()


def test_a_job_is_stored_queued_and_followed_at_its_location(
    client: FlaskClient, issuer: TestIssuer, jobs_queue: str
) -> None:
    headers = issuer.headers("viewer", sub=str(uuid.uuid4()))

    response = _submit(client, headers)

    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == f"/nlp/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["progress"] == {"total": 2, "done": 0, "failed": 0}
    assert job["id"] in _queued(jobs_queue)
    followed = client.get(response.headers["Location"], headers=headers)
    assert followed.status_code == 200
    assert followed.get_json() == job
    assert job["id"] in [
        item["id"] for item in client.get(JOBS, headers=headers).get_json()["items"]
    ]


def test_a_job_is_its_owners_and_an_admins_only(client: FlaskClient, issuer: TestIssuer) -> None:
    owner = issuer.headers("agent", sub=str(uuid.uuid4()))
    job = _submit(client, owner).get_json()
    url = f"{JOBS}/{job['id']}"

    stranger = issuer.headers("agent", sub=str(uuid.uuid4()))
    for path in (url, f"{url}/results"):
        assert client.get(path, headers=stranger).status_code == 404
    assert client.delete(url, headers=stranger).status_code == 404
    assert job["id"] not in [
        item["id"] for item in client.get(JOBS, headers=stranger).get_json()["items"]
    ]
    assert client.get(url, headers=issuer.headers("admin")).status_code == 200
    assert client.get(f"{JOBS}/{uuid.uuid4()}", headers=owner).status_code == 404


def test_cancelling_a_job_keeps_it_and_a_second_cancel_is_409(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    headers = issuer.headers("agent", sub=str(uuid.uuid4()))
    job = _submit(client, headers).get_json()
    url = f"{JOBS}/{job['id']}"

    cancelled = client.delete(url, headers=headers)
    again = client.delete(url, headers=headers)

    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert again.status_code == 409
    assert again.content_type == "application/problem+json"
    assert client.get(url, headers=headers).get_json()["status"] == "cancelled"


def test_an_uploaded_csv_becomes_a_job_with_its_rows_and_their_errors(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    headers = issuer.headers("agent", sub=str(uuid.uuid4()))
    data = b"id,review\n1,Loved it\n2,\n3,Never again\n"

    response = _upload(client, headers, data, "reviews.csv", task="sentiment", column="review")

    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["progress"] == {"total": 3, "done": 1, "failed": 1}
    page = client.get(f"{JOBS}/{job['id']}/results", headers=headers).get_json()
    assert [(item["line"], item["text"], item["error"]) for item in page["items"]] == [
        (2, "Loved it", None),
        (3, "", "must not be blank"),
        (4, "Never again", None),
    ]
    assert page["next_cursor"] is None


def test_a_classify_upload_carries_its_labels(client: FlaskClient, issuer: TestIssuer) -> None:
    headers = issuer.headers("agent", sub=str(uuid.uuid4()))
    labels = json.dumps([{"name": "billing"}, {"name": "shipping", "description": "deliveries"}])

    response = _upload(
        client,
        headers,
        b'[{"body": "invoice overdue"}]',
        "t.json",
        task="classify",
        column="body",
        labels=labels,
    )

    assert response.status_code == 202, response.get_json()
    assert response.get_json()["labels"] == ["billing", "shipping"]


@pytest.mark.parametrize(
    ("fields", "data", "name", "field"),
    [
        ({"task": "sentiment"}, b"text\nhi\n", "a.pdf", "file"),
        ({"task": "sentiment", "column": "body"}, b"text\nhi\n", "a.csv", "column"),
        ({"task": "classify"}, b"text\nhi\n", "a.csv", "labels"),
        ({"task": "classify", "labels": "[oops"}, b"text\nhi\n", "a.csv", "labels"),
        ({"task": "sentiment", "truncate": "maybe"}, b"text\nhi\n", "a.csv", "truncate"),
        ({"task": "translate"}, b"text\nhi\n", "a.csv", "task"),
        ({"task": "sentiment"}, b"\xff\xfe", "a.csv", "file"),
    ],
)
def test_a_bad_upload_is_422_naming_the_field(
    client: FlaskClient, issuer: TestIssuer, fields, data, name, field
) -> None:
    response = _upload(client, issuer.headers("agent"), data, name, **fields)

    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    assert field in [error["field"] for error in response.get_json()["errors"]]


def test_an_upload_without_a_file_is_422(client: FlaskClient, issuer: TestIssuer) -> None:
    response = client.post(
        JOBS,
        data={"task": "sentiment"},
        headers=issuer.headers("agent"),
        content_type="multipart/form-data",
    )

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "file"


def test_results_page_through_the_rows_and_download_as_csv(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    headers = issuer.headers("agent", sub=str(uuid.uuid4()))
    texts = [f"message {number}" for number in range(1, 8)]
    job = _submit(client, headers, texts=texts).get_json()
    url = f"{JOBS}/{job['id']}/results"

    lines, cursor = [], None
    while True:
        page = client.get(
            url,
            query_string={"limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=headers,
        )
        assert page.status_code == 200
        lines += [item["line"] for item in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
        if cursor is None:
            break
        assert page.headers["Link"].endswith('rel="next"')
    download = client.get(url, query_string={"format": "csv"}, headers=headers)
    other_job = _submit(client, headers).get_json()
    foreign = client.get(
        f"{JOBS}/{other_job['id']}/results",
        query_string={
            "cursor": client.get(url, query_string={"limit": 1}, headers=headers).get_json()[
                "next_cursor"
            ]
        },
        headers=headers,
    )

    assert lines == list(range(1, 8))
    assert download.mimetype == "text/csv"
    assert download.get_data(as_text=True).splitlines()[:2] == [
        "line,text,label,score,error",
        "1,message 1,,,",
    ]
    assert foreign.status_code == 400
