"""Batch jobs through the gateway: an upload over the API's body limit, scored by the worker.

The shared platform runs the NLP worker (``services.toml``: nlp ``worker``), so a
job submitted at the gateway is queued on RabbitMQ, scored, and read back with
its statistics and its CSV, by its owner only.
"""

from __future__ import annotations

import csv
import io
import time

import requests

from tests.e2e.conftest import Stack, wait_for

#: Over the API's 1 MiB, under the jobs' 10 MB: few rows, each with a wide column beside.
ROWS = 40
PADDING = 60_000


def _csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "comment", "attachment"])
    for number in range(ROWS):
        comment = (
            "Wonderful support, thank you so much!"
            if number % 2
            else "Awful. The invoice is wrong again and nobody answers."
        )
        writer.writerow([number, comment, "x" * PADDING])
    return buffer.getvalue().encode()


def test_a_large_upload_is_scored_and_read_back_by_its_owner(stack: Stack) -> None:
    upload = _csv()
    assert 2_000_000 < len(upload) < 10 * 1024 * 1024
    agent = stack.headers("agent")

    submitted = requests.post(
        f"{stack.api}/nlp/jobs",
        files={"file": ("reviews.csv", upload, "text/csv")},
        data={"task": "sentiment", "column": "comment"},
        headers=agent,
        timeout=60,
    )

    assert submitted.status_code == 202, submitted.text
    location = submitted.headers["Location"]
    assert location == f"/api/v1/nlp/jobs/{submitted.json()['id']}"
    url = f"{stack.gateway.url}{location}"

    def ready() -> dict | None:
        time.sleep(0.5)  # the NLP routes' own rate limit is low: poll gently
        job = requests.get(url, headers=agent, timeout=10).json()
        return job if job["status"] in ("ready", "error") else None

    job = wait_for(ready, 90)
    assert job is not None, requests.get(url, headers=agent, timeout=10).json()
    assert job["status"] == "ready", job
    assert job["statistics"]["labels"] == [
        {"label": "negative", "count": ROWS // 2, "share": 0.5},
        {"label": "positive", "count": ROWS // 2, "share": 0.5},
    ]
    download = requests.get(f"{url}/results", params={"format": "csv"}, headers=agent, timeout=30)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(download.text)))
    assert [line["line"] for line in lines] == [str(number) for number in range(2, ROWS + 2)]
    assert {line["label"] for line in lines} == {"positive", "negative"}
    # Someone else's job is nobody else's business (the admin sees it).
    assert requests.get(url, headers=stack.headers("viewer"), timeout=10).status_code == 404
    assert requests.get(url, headers=stack.headers("admin"), timeout=10).status_code == 200


def test_an_upload_over_the_jobs_limit_is_413_at_the_gateway(stack: Stack) -> None:
    response = requests.post(
        f"{stack.api}/nlp/jobs",
        files={"file": ("big.csv", b"text\n" + b"x" * (10 * 1024 * 1024), "text/csv")},
        data={"task": "sentiment"},
        headers=stack.headers("agent"),
        timeout=60,
    )

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
