"""Applying customer events to the index: newest version wins, notes once, order never matters."""

from __future__ import annotations

import random
from typing import Any

from search_service.events import EventIndexer
from tests.search_service import INDEX_TABLES
from tests.search_service.customer_events import CustomerHistory
from tests.support.databases import Query

DOCUMENTS = (
    "SELECT customer_id, version, deleted, name, email, phone, company, country, city, segment,"
    " status, tags, created_at, updated_at, deleted_at, search_vector::text AS vector"
    " FROM documents"
)
#: The kept facet counts, as their live documents would count them (migration 0004).
FACET_CELLS = "SELECT status, country, segment, tags, count FROM facet_cells"
RECOUNT = (
    "SELECT status, coalesce(country, '') AS country, coalesce(segment, '') AS segment,"
    " facet_tags(tags) AS tags, count(*) AS count FROM documents WHERE NOT deleted"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
)


def index_state(query: Query) -> dict[str, Any]:
    """Everything a search can see: documents with their vectors, notes, the vocabulary."""
    return {
        "documents": query(DOCUMENTS + " ORDER BY customer_id"),
        "notes": query("SELECT note_id, customer_id, body FROM notes ORDER BY note_id"),
        "vocabulary": query("SELECT word FROM vocabulary ORDER BY word"),
        "facet cells": query(FACET_CELLS + " WHERE count > 0 ORDER BY 1, 2, 3, 4"),
    }


def document(query: Query, customer_id: str) -> dict[str, Any]:
    (row,) = query(DOCUMENTS + " WHERE customer_id = %s", (customer_id,))
    return row


def test_each_kind_of_event_leaves_the_customer_as_it_is_after_the_change(
    indexer: EventIndexer, query: Query
) -> None:
    ada = CustomerHistory({"name": "Ada Lovelace", "tags": ["vip"]})
    ada.update(name="Ada King", status="active")
    ada.add_note("Prefers email.")
    ada.delete()

    assert indexer.apply(ada.events[:1]) == 1
    assert (document(query, ada.id)["name"], document(query, ada.id)["version"]) == (
        "Ada Lovelace",
        1,
    )
    assert indexer.apply(ada.events[1:2]) == 1
    assert document(query, ada.id)["name"] == "Ada King"
    assert document(query, ada.id)["status"] == "active"
    assert indexer.apply(ada.events[2:3]) == 1
    assert "'prefers'" in document(query, ada.id)["vector"]
    assert indexer.apply(ada.events[3:4]) == 1
    assert document(query, ada.id)["deleted"] is True
    assert indexer.apply([ada.restore()]) == 1
    assert document(query, ada.id)["deleted"] is False
    assert document(query, ada.id)["version"] == 4


def test_duplicated_and_shuffled_events_build_the_same_index(
    indexer: EventIndexer, query: Query
) -> None:
    histories = [CustomerHistory({"name": f"Customer {n}", "company": "Acme"}) for n in range(6)]
    for n, history in enumerate(histories):
        history.update(city=f"City {n}", tags=[f"tag-{n}"])
        history.add_note(f"First note about customer {n}")
        history.add_note(f"Second note about customer {n}")
        if n % 2:
            history.delete()
        if n == 3:
            history.restore()
        elif n % 3 == 0:
            history.update(segment="enterprise")
    in_order = [event for history in histories for event in history.events]
    indexer.apply(in_order)
    expected = index_state(query)

    query(f"TRUNCATE {INDEX_TABLES}")
    shuffled = in_order * 3
    random.Random(7).shuffle(shuffled)
    # Batches as the consumer makes them, of uneven sizes, each in one transaction.
    for start in range(0, len(shuffled), 5):
        indexer.apply(shuffled[start : start + 5])

    assert index_state(query) == expected
    assert indexer.apply(shuffled) == 0


def test_an_older_event_after_a_delete_does_not_bring_the_customer_back(
    indexer: EventIndexer, query: Query
) -> None:
    ada = CustomerHistory()
    created, updated, deleted = ada.events[0], ada.update(name="Ada King"), ada.delete()

    assert indexer.apply([deleted]) == 1
    assert indexer.apply([updated, created]) == 0

    row = document(query, ada.id)
    assert (row["deleted"], row["version"], row["name"]) == (True, 3, "Ada King")


def test_a_note_is_counted_once_whatever_arrives_first(indexer: EventIndexer, query: Query) -> None:
    ada = CustomerHistory()
    note = ada.add_note("Asked for a callback about the renewal.")

    # The note arrives first: its snapshot creates the document too.
    assert indexer.apply([note]) == 1
    assert indexer.apply([ada.events[0], note, note]) == 0

    assert len(query("SELECT 1 FROM notes WHERE customer_id = %s", (ada.id,))) == 1
    assert document(query, ada.id)["vector"].count("'renewal'") == 1


def test_notes_of_a_deleted_customer_come_back_with_the_restore(
    indexer: EventIndexer, query: Query
) -> None:
    ada = CustomerHistory()
    ada.add_note("Loves typography.")
    ada.delete()
    indexer.apply(ada.events)

    indexer.apply([ada.restore()])

    assert "'typography'" in document(query, ada.id)["vector"]


def test_names_and_companies_feed_the_typo_vocabulary(indexer: EventIndexer, query: Query) -> None:
    indexer.apply(CustomerHistory({"name": "Zoë Müller", "company": "Blue Ocean"}).events)

    words = {row["word"] for row in query("SELECT word FROM vocabulary")}

    # Unaccented and in lower case, as query words are; words under 4 letters are left out.
    assert {"muller", "blue", "ocean"} <= words
    assert "zoe" not in words


def test_facet_cells_stay_equal_to_a_recount_of_the_live_documents(
    indexer: EventIndexer, query: Query
) -> None:
    rng = random.Random(5)
    histories = [
        CustomerHistory({"name": f"Customer {n}", "country": "GB", "tags": ["vip", "beta"]})
        for n in range(30)
    ]
    events = [event for history in histories for event in history.events]
    for _ in range(120):
        history = rng.choice(histories)
        move = rng.random()
        if history.current["deleted_at"] is not None:
            events.append(history.restore())
        elif move < 0.15:
            events.append(history.delete())
        elif move < 0.2:
            events.append(history.add_note("Called about the invoice."))
        else:
            events.append(
                history.update(
                    status=rng.choice(["lead", "active", "churned"]),
                    country=rng.choice(["GB", "FR", None]),
                    segment=rng.choice(["smb", "enterprise", None]),
                    tags=rng.sample(["vip", "beta", "math", "beta"], rng.randint(0, 3)),
                )
            )
    rng.shuffle(events)

    for start in range(0, len(events), 7):
        indexer.apply(events[start : start + 7])
        assert query(FACET_CELLS + " WHERE count > 0 ORDER BY 1, 2, 3, 4") == query(RECOUNT)

    assert query(RECOUNT)  # the customers left are counted, not an empty match
