"""``GET /search/suggest``: names and companies for what the user is typing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from search_service.events import EventIndexer
from tests.search_service.customer_events import CustomerHistory
from tests.support.tokens import TestIssuer

IndexCustomers = Callable[..., list[CustomerHistory]]


@pytest.fixture
def suggest(client: FlaskClient, issuer: TestIssuer) -> Callable[..., list[tuple[str, str]]]:
    def run(q: str, **params: Any) -> list[tuple[str, str]]:
        response = client.get(
            "/search/suggest", query_string={"q": q, **params}, headers=issuer.headers("agent")
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return [(item["text"], item["field"]) for item in response.get_json()["items"]]

    return run


@pytest.fixture
def directory(index_customers: IndexCustomers) -> list[CustomerHistory]:
    return index_customers(
        {"name": "Zoë Müller", "company": "Mustermann GmbH"},
        {"name": "Mark Zoeller", "company": "Zoo Logistics"},
        {"name": "Anna Mueller", "company": "Mustermann GmbH"},
        {"name": "Zorro"},
    )


@pytest.mark.usefixtures("directory")
def test_whole_prefixes_come_first_then_a_later_words_prefix(suggest: Callable[..., Any]) -> None:
    assert suggest("zo") == [
        ("Zoë Müller", "name"),
        ("Zoo Logistics", "company"),
        ("Zorro", "name"),
        ("Mark Zoeller", "name"),
    ]


@pytest.mark.usefixtures("directory")
def test_accents_and_case_are_ignored_and_each_text_comes_once(
    suggest: Callable[..., Any],
) -> None:
    assert suggest("MÜ") == [
        ("Mustermann GmbH", "company"),
        ("Anna Mueller", "name"),
        ("Zoë Müller", "name"),
    ]
    assert suggest("zoe mu") == [("Zoë Müller", "name")]


@pytest.mark.usefixtures("directory")
def test_limit_caps_the_suggestions_and_wildcards_are_plain_text(
    suggest: Callable[..., Any],
) -> None:
    assert len(suggest("z", limit=2)) == 2
    assert suggest("%") == []
    assert suggest("z_o") == []
    assert suggest("   ") == []


def test_deleted_customers_are_not_suggested(
    suggest: Callable[..., Any], index_customers: IndexCustomers, indexer: EventIndexer
) -> None:
    (gone,) = index_customers({"name": "Quentin Gone"})
    indexer.apply([gone.delete()])

    assert suggest("quen") == []


def test_a_later_word_suggests_in_the_order_of_the_text_from_that_word(
    suggest: Callable[..., Any], index_customers: IndexCustomers
) -> None:
    index_customers(
        {"name": "Zed Morales"},
        {"name": "Anna Maria Mueller"},
        {"name": "Carl Mabry", "company": "Bold Maple Works"},
    )

    assert suggest("ma") == [
        ("Carl Mabry", "name"),
        ("Bold Maple Works", "company"),
        ("Anna Maria Mueller", "name"),
    ]
    assert suggest("maria mu") == [("Anna Maria Mueller", "name")]
    assert suggest("mo") == [("Zed Morales", "name")]


def test_a_renamed_customer_is_suggested_by_its_new_words_only(
    suggest: Callable[..., Any], index_customers: IndexCustomers, indexer: EventIndexer
) -> None:
    (renamed,) = index_customers({"name": "Ida Oldword", "company": "Quiet Harbour"})
    indexer.apply([renamed.update(name="Ida Newword", company=None)])

    assert suggest("old") == []
    assert suggest("harb") == []
    assert suggest("neww") == [("Ida Newword", "name")]
