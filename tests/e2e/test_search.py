"""Search through the gateway: customers created, changed and deleted are found as they are now."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import requests

from tests.e2e.conftest import Stack, create_customer, wait_for

#: How long a change may take to travel outbox -> relay -> broker -> consumer -> index.
PROPAGATION_SECONDS = 10.0


def unique_word(prefix: str) -> str:
    """A word no other test uses, of letters only (a word with digits gets no typo)."""
    return prefix + uuid.uuid4().hex[:6].translate(str.maketrans("0123456789", "ghijklmnop"))


def search(stack: Stack, role: str = "viewer", **params: Any) -> dict[str, Any]:
    response = requests.get(
        f"{stack.api}/search", params=params, headers=stack.headers(role), timeout=10
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def found_names(stack: Stack, q: str) -> set[str]:
    return {hit["name"] for hit in search(stack, q=q)["items"]}


def test_a_customer_created_through_the_gateway_is_found_with_a_typo(stack: Stack) -> None:
    word = unique_word("Quillfeather")
    customer = create_customer(stack, name=f"Zoë {word}", company="Bäckerei Schön")
    misspelt = word.lower().replace("quill", "quil", 1)  # 1 typo in a long word

    hits = wait_for(lambda: search(stack, q=f"zoe {misspelt}")["items"], PROPAGATION_SECONDS)

    assert [hit["id"] for hit in hits] == [customer["id"]]
    assert hits[0]["highlights"]["name"].startswith("<mark>Zoë</mark>")
    suggested = requests.get(
        f"{stack.api}/search/suggest",
        params={"q": f"zoe {word[:6]}"},
        headers=stack.headers("agent"),
        timeout=10,
    )
    assert suggested.status_code == 200
    assert {"text": f"Zoë {word}", "field": "name"} in suggested.json()["items"]


def test_a_reindex_through_the_gateway_repairs_what_the_index_lost(stack: Stack) -> None:
    word = unique_word("Reindexo")
    kept, renamed, deleted = (
        create_customer(stack, name=f"{word} Kept"),
        create_customer(stack, name=f"{word} Before"),
        create_customer(stack, name=f"{word} Deleted"),
    )
    assert wait_for(lambda: len(found_names(stack, word)) == 3, PROPAGATION_SECONDS)
    admin = stack.headers("admin")
    current = requests.get(f"{stack.api}/customers/{renamed['id']}", headers=admin, timeout=10)
    patched = requests.patch(
        f"{stack.api}/customers/{renamed['id']}",
        json={"name": f"{word} After"},
        headers={**admin, "If-Match": current.headers["ETag"]},
        timeout=10,
    )
    gone = requests.delete(f"{stack.api}/customers/{deleted['id']}", headers=admin, timeout=10)
    assert (patched.status_code, gone.status_code) == (200, 204)
    assert wait_for(
        lambda: found_names(stack, word) == {f"{word} Kept", f"{word} After"}, PROPAGATION_SECONDS
    )
    # The index loses a document behind the consumer's back (a restored backup, say).
    with psycopg2.connect(stack.databases["search"]) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM documents WHERE customer_id = %s", (kept["id"],))
    connection.close()
    assert found_names(stack, word) == {f"{word} After"}

    started = requests.post(f"{stack.api}/search/reindex", headers=admin, timeout=10)
    assert started.status_code == 202, started.text
    job_url = f"{stack.gateway.url}{started.headers['Location']}"
    assert started.headers["Location"] == f"/api/v1/search/reindex/{started.json()['id']}"

    def finished() -> dict[str, Any] | None:
        job = requests.get(job_url, headers=admin, timeout=10).json()
        return job if job["status"] != "running" else None

    job = wait_for(finished, timeout=30)
    assert job["status"] == "succeeded", job
    assert job["seen"] >= 2
    assert found_names(stack, word) == {f"{word} Kept", f"{word} After"}


def test_only_admins_may_reindex_and_every_role_may_search(stack: Stack) -> None:
    for role in ("viewer", "agent"):
        refused = requests.post(
            f"{stack.api}/search/reindex", headers=stack.headers(role), timeout=10
        )
        assert refused.status_code == 403
        assert search(stack, role=role, q="anything")["total"] >= 0
    assert requests.get(f"{stack.api}/search", timeout=10).status_code == 401
